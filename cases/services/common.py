from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from accounts.permissions import can
from cases.audit import record_event, snapshot
from cases.audit.service import changed_values
from cases.models.audit import AuditAction
from cases.models.versioned import Versioned

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User
    from marrowfind.models import BaseModel

# What a person is told when a row would repeat another's unique key: the same words whether the clash
# is seen before the write or the database refuses the write because a twin was committed meanwhile.
DUPLICATE_MRN = "A patient with this record number is already registered."
DUPLICATE_ACCESSION = "This accession number is already used in this institution."
_UNIQUE_KEYS = {
    "unique_mrn_per_institution": ("medical_record_number", DUPLICATE_MRN),
    "unique_accession_per_institution": ("accession_number", DUPLICATE_ACCESSION),
}


def require(actor: User | AnonymousUser, action: str, institution: Institution) -> None:
    if not can(actor, action, institution):
        raise PermissionDenied("Your role does not allow this in this institution.")


def _refuse_duplicate_key(instance: BaseModel) -> None:
    """Raise the field's message if another stored row holds one of the instance's unique keys."""
    for constraint in instance._meta.constraints:
        if constraint.name not in _UNIQUE_KEYS:
            continue
        try:
            constraint.validate(type(instance), instance)
        except ValidationError:
            field, message = _UNIQUE_KEYS[constraint.name]
            raise ValidationError({field: message}, code="unique") from None


def _validate(instance: BaseModel) -> None:
    # The unique keys first, so that a duplicate gets the message people know from the forms rather
    # than the model's generic one.
    _refuse_duplicate_key(instance)
    instance.full_clean()


def _write(instance: BaseModel, **save_options: Any) -> None:
    """Save in a savepoint: if the database refuses, the caller's transaction is still usable."""
    try:
        with transaction.atomic():
            instance.save(**save_options)
    except IntegrityError:
        # A twin committed between the check and this write: refused like any other duplicate.
        _refuse_duplicate_key(instance)
        raise


def save_new(
    actor: User | AnonymousUser, instance: BaseModel, *, institution: Institution, case: Any = None
) -> None:
    """Validate, insert and audit a new row (caller holds the transaction)."""
    _validate(instance)
    _write(instance, force_insert=True)
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
    instance: BaseModel,
    changes: dict[str, Any],
    *,
    institution: Institution,
    case: Any = None,
) -> None:
    """Set fields, validate, save and audit only what changed (caller holds the transaction).

    `instance` is the row as re-read under a lock in that transaction; only the changed fields are
    written, so a column someone else changed meanwhile (a case's state) is never written back. A
    versioned row's version moves with every write, so the forms opened before it are refused.
    """
    editable = {f.name for f in instance._meta.concrete_fields if f.editable}
    unknown = set(changes) - editable
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    before = snapshot(instance, list(changes))
    for name, value in changes.items():
        setattr(instance, name, value)
    _validate(instance)
    old, new = changed_values(before, snapshot(instance, list(changes)))
    if not new:
        return
    written = [*new, "updated_at"]
    if isinstance(instance, Versioned):
        instance.row_version += 1
        written.append("row_version")
    _write(instance, update_fields=written)
    record_event(
        actor=actor,
        action=AuditAction.UPDATE,
        target=instance,
        institution=institution,
        case_external_id=getattr(case, "external_id", None),
        before=old,
        after=new,
    )
