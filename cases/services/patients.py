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
    require(actor, Action.CREATE_PATIENT, patient.institution)
    changes.pop("institution", None)
    with transaction.atomic():
        apply_changes(actor, patient, changes, institution=patient.institution)
    return patient
