"""The pages of allauth the product offers: log in, log out, and the notice the log-in sends a
deactivated account to.

Nothing else of allauth is mounted. Staff do not manage their e-mail address (it is their log-in name
and audit label; a superuser corrects it in the administration), passwords are set by supervisors in
the administration rather than reset by mail (no mail is configured), sign-up is closed, and no page
links to a password change.
"""

from allauth.account import views
from django.urls import path

urlpatterns = [
    path("login/", views.login, name="account_login"),
    path("logout/", views.logout, name="account_logout"),
    path("inactive/", views.account_inactive, name="account_inactive"),
]
