from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Role
from accounts.permissions import Action, active_memberships
from cases.models import Case, CaseState, Patient
from cases.services.common import apply_changes, require, save_new
from cases.services.row_versions import refuse_stale_edit

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User

# After sign-out the record is closed; changes go through an amendment, not an edit.
EDITABLE_STATES = {CaseState.DRAFT, CaseState.SUBMITTED, CaseState.AWAITING_REVIEW, CaseState.IN_REVIEW}


def _check_pathologist(pathologist: User | None, institution: Institution) -> None:
    if pathologist is None:
        return
    is_member = active_memberships(pathologist).filter(
        institution=institution, role__in=[Role.PATHOLOGIST, Role.SUPERVISOR]
    )
    if not is_member.exists():
        raise ValidationError(
            {"assigned_pathologist": "The assigned pathologist must be a pathologist of this institution."}
        )


def create_case(actor: User | AnonymousUser, patient: Patient, **fields: Any) -> Case:
    require(actor, Action.CREATE_CASE, patient.institution)
    case = Case(
        institution=patient.institution,
        patient=patient,
        created_by=actor if actor.is_authenticated else None,
        **fields,
    )
    _check_pathologist(case.assigned_pathologist, case.institution)
    with transaction.atomic():
        save_new(actor, case, institution=case.institution, case=case)
    return case


def update_case(
    actor: User | AnonymousUser, case: Case, *, seen_version: int | None = None, **changes: Any
) -> Case:
    """Edit a case's fields; return the row as stored.

    The case is re-read under a row lock, so an edit that waited for a concurrent move (a sign-out)
    sees the new state and is refused, and only the changed fields are written: the state the caller
    read is never written back. `seen_version`, from an edit form, is the `row_version` the form was
    opened at: if the case was edited since, the edit is refused (row_versions.py).
    """
    changes.pop("institution", None)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        require(actor, Action.CREATE_CASE, locked.institution)
        if locked.state not in EDITABLE_STATES:
            raise ValidationError(f"A case that is {locked.get_state_display().lower()} cannot be edited.")
        refuse_stale_edit(locked, seen_version)
        if "patient" in changes and changes["patient"].institution_id != locked.institution_id:
            raise ValidationError({"patient": "The patient belongs to another institution."})
        if "assigned_pathologist" in changes:
            _check_pathologist(changes["assigned_pathologist"], locked.institution)
        apply_changes(actor, locked, changes, institution=locked.institution, case=locked)
    return locked
