from __future__ import annotations

from django.http import HttpRequest

from marrowfind.admin_site.site import may_use_admin


def navigation(request: HttpRequest) -> dict[str, bool]:
    """What the top bar offers: the administration only to those the admin site admits."""
    return {"may_use_admin": may_use_admin(request.user)}
