from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.permissions import Action
from cases.models import Patient
from cases.services.common import apply_changes, require, save_new
from cases.services.row_versions import refuse_stale_edit

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User


def create_patient(actor: User | AnonymousUser, institution: Institution, **fields: Any) -> Patient:
    require(actor, Action.CREATE_PATIENT, institution)
    patient = Patient(institution=institution, **fields)
    with transaction.atomic():
        save_new(actor, patient, institution=institution)
    return patient


def update_patient(
    actor: User | AnonymousUser, patient: Patient, *, seen_version: int | None = None, **changes: Any
) -> Patient:
    """Edit a patient's fields; return the row as stored.

    The row is re-read under a lock and only the changed fields are written, so two edits made without
    a version (workers, commands) of different fields both stay. `seen_version`, from an edit form, is
    the `row_version` the form was opened at: if the patient was edited since, the edit is refused.
    """
    changes.pop("institution", None)
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        require(actor, Action.CREATE_PATIENT, locked.institution)
        refuse_stale_edit(locked, seen_version)
        apply_changes(actor, locked, changes, institution=locked.institution)
    return locked
