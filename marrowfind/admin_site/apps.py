from django.contrib.admin.apps import AdminConfig


class MarrowFindAdminConfig(AdminConfig):
    """`django.contrib.admin` with the supervisors' site as `admin.site`."""

    default_site = "marrowfind.admin_site.site.MarrowFindAdminSite"
