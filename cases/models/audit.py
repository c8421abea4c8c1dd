from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from accounts.models import Institution


class AuditSource(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    WORKER = "worker", "Worker"
    COMMAND = "command", "Command"


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    TRANSITION = "transition", "State transition"
    VIEW = "view", "View"
    UPLOAD = "upload", "Upload"
    LOGIN = "login", "Log in"
    LOGOUT = "logout", "Log out"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    EXPORT = "export", "Export"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit events are append-only; they cannot be updated.")

    def delete(self) -> NoReturn:
        raise PermissionError("Audit events are append-only; they cannot be deleted.")


class AuditEvent(models.Model):
    """One audited action. Append-only and hash-chained: see cases/audit/chain.py."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="The user's e-mail, or the worker job.")
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    action = models.CharField(max_length=20, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=60, db_index=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The case a row concerns, for filtering the trail of one case.
    case_external_id = models.UUIDField(null=True, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=10, choices=AuditSource.choices)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only; they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit events are append-only; they cannot be deleted.")
