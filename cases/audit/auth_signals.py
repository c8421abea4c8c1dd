"""The access log: log-ins, log-outs and failed log-ins are audit rows like any other.

Connected once from CasesConfig.ready(). Django sends these signals for every way of logging in
(allauth pages, the admin, `Client.login`), so nothing here depends on a particular view.
A failed log-in records the e-mail address that was tried, never the password.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from cases.audit.context import audit_context
from cases.audit.service import record_event
from cases.models.audit import AuditAction

_TARGET = "accounts.User"
_LABEL_MAX = 200  # AuditEvent.actor_label


def _attempted_identity(credentials: dict[str, Any]) -> str:
    """The identifier the person typed: allauth passes `email`, Django's own forms `username`."""
    for key in ("email", get_user_model().USERNAME_FIELD, "username", "login"):
        value = credentials.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:_LABEL_MAX]
    return ""


def on_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if user is None:
        return
    record_event(actor=user, action=AuditAction.LOGIN, target_type=_TARGET)


def on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    # Django sends this with user=None when nobody was logged in; there is nothing to record.
    if user is None or not user.is_authenticated:
        return
    record_event(actor=user, action=AuditAction.LOGOUT, target_type=_TARGET)


def on_login_failed(sender: Any, credentials: dict[str, Any] | None = None, **kwargs: Any) -> None:
    attempted = _attempted_identity(credentials or {})
    # Nobody is authenticated: the claimed identity is the label (so a supervisor can find attempts
    # on their staff's accounts); the password is never read.
    with audit_context(actor_label=attempted or "anonymous"):
        record_event(
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            target_type=_TARGET,
            after={"attempted_email": attempted},
        )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="marrowfind_audit_login")
    user_logged_out.connect(on_logged_out, dispatch_uid="marrowfind_audit_logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="marrowfind_audit_login_failed")
