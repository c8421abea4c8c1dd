from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from accounts.permissions import can
from cases.audit import record_event, snapshot
from cases.audit.service import changed_values
from cases.models.audit import AuditAction

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User


def require(actor: User | AnonymousUser, action: str, institution: Institution) -> None:
    if not can(actor, action, institution):
        raise PermissionDenied("Your role does not allow this in this institution.")


def save_new(
    actor: User | AnonymousUser, instance: models.Model, *, institution: Institution, case: Any = None
) -> None:
    """Validate, insert and audit a new row (caller holds the transaction)."""
    instance.full_clean()
    instance.save(force_insert=True)
    record_event(
        actor=actor,
        action=AuditAction.CREATE,
        target=instance,
        institution=institution,
        case_external_id=getattr(case, "external_id", None),
        after=snapshot(instance),
    )


def apply_changes(
    actor: User | AnonymousUser,
    instance: models.Model,
    changes: dict[str, Any],
    *,
    institution: Institution,
    case: Any = None,
) -> None:
    """Set fields, validate, save and audit only what changed (caller holds the transaction)."""
    editable = {f.name for f in instance._meta.concrete_fields if f.editable}
    unknown = set(changes) - editable
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    before = snapshot(instance, list(changes))
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.full_clean()
    old, new = changed_values(before, snapshot(instance, list(changes)))
    if not new:
        return
    instance.save()
    record_event(
        actor=actor,
        action=AuditAction.UPDATE,
        target=instance,
        institution=institution,
        case_external_id=getattr(case, "external_id", None),
        before=old,
        after=new,
    )
