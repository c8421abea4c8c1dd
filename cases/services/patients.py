from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.permissions import Action
from cases.models import Patient
from cases.services.common import apply_changes, require, save_new

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User


def create_patient(actor: User | AnonymousUser, institution: Institution, **fields: Any) -> Patient:
    require(actor, Action.CREATE_PATIENT, institution)
    patient = Patient(institution=institution, **fields)
    with transaction.atomic():
        save_new(actor, patient, institution=institution)
    return patient


def update_patient(actor: User | AnonymousUser, patient: Patient, **changes: Any) -> Patient:
    """Edit a patient's fields; return the row as stored.

    The row is re-read under a lock and only the changed fields are written, so two people editing
    different fields at the same time both keep their change.
    """
    changes.pop("institution", None)
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        require(actor, Action.CREATE_PATIENT, locked.institution)
        apply_changes(actor, locked, changes, institution=locked.institution)
    return locked
