"""Adds and changes made in the admin go through the services: permission-checked and audited with
source "admin", like the same change made on the pages. Clinical rows cannot be deleted there."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Institution, User
from cases.audit.verify import verify_chain
from cases.models import AuditEvent, Case, Patient
from cases.models.audit import AuditAction, AuditSource
from tests.conftest import client_for
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _patient_form(institution: Institution, **changes: Any) -> dict[str, Any]:
    return {
        "institution": institution.pk,
        "medical_record_number": "MRN-ADMIN-1",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1990-12-10",
        "sex": "female",
        **changes,
    }


def test_adding_a_patient_is_audited(supervisor: User, hospital: Institution) -> None:
    response = client_for(supervisor).post(reverse("admin:cases_patient_add"), _patient_form(hospital))
    assert response.status_code == 302

    patient = Patient.objects.get(medical_record_number="MRN-ADMIN-1")
    event = AuditEvent.objects.get(action=AuditAction.CREATE, target_id=str(patient.external_id))
    assert event.actor == supervisor
    assert event.source == AuditSource.ADMIN
    assert event.institution == hospital
    assert event.after["family_name"] == "Lovelace"
    assert verify_chain().intact


def test_changing_a_patient_records_before_and_after(supervisor: User, patient: Patient) -> None:
    url = reverse("admin:cases_patient_change", args=[patient.pk])
    form = _patient_form(
        patient.institution,
        medical_record_number=patient.medical_record_number,
        given_name=patient.given_name,
        family_name="Corrected",
        date_of_birth=patient.date_of_birth.isoformat(),
        sex=patient.sex,
        seen_version=patient.row_version,
    )
    response = client_for(supervisor).post(url, form)
    assert response.status_code == 302

    event = AuditEvent.objects.get(action=AuditAction.UPDATE, target_id=str(patient.external_id))
    assert event.before == {"family_name": patient.family_name}
    assert event.after == {"family_name": "Corrected"}
    assert event.source == AuditSource.ADMIN


def test_adding_a_case_goes_through_the_service(supervisor: User, patient: Patient) -> None:
    response = client_for(supervisor).post(
        reverse("admin:cases_case_add"),
        {"patient": patient.pk, "accession_number": "ACC-ADMIN-1", "specimen_type": "peripheral_blood"},
    )
    assert response.status_code == 302
    case = Case.objects.get(accession_number="ACC-ADMIN-1")
    assert case.created_by == supervisor
    assert case.institution == patient.institution
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, case_external_id=case.external_id, source=AuditSource.ADMIN
    ).exists()


def test_the_case_state_cannot_be_set_in_the_admin(supervisor: User, patient: Patient) -> None:
    case = CaseFactory(patient=patient, created_by=supervisor)
    url = reverse("admin:cases_case_change", args=[case.pk])
    client_for(supervisor).post(
        url,
        {
            "accession_number": case.accession_number,
            "specimen_type": case.specimen_type,
            "clinical_notes": "note",
            "seen_version": case.row_version,
            "state": "signed_out",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "slides-TOTAL_FORMS": "0",
            "slides-INITIAL_FORMS": "0",
        },
    )
    case.refresh_from_db()
    assert case.state == "draft"
    assert case.clinical_notes == "note"


@pytest.mark.parametrize("model", ["patient", "case", "slide", "slideimage", "auditevent"])
def test_clinical_rows_cannot_be_deleted(supervisor: User, slide: Any, model: str) -> None:
    row = {"patient": slide.case.patient, "case": slide.case, "slide": slide}.get(model, slide)
    url = reverse(f"admin:cases_{model}_delete", args=[row.pk])
    assert client_for(supervisor).post(url, {"post": "yes"}).status_code in {302, 403}
    assert type(row).objects.filter(pk=row.pk).exists()


def test_an_admin_add_outside_the_supervisors_institution_is_refused(
    supervisor: User, other_hospital: Institution
) -> None:
    response = client_for(supervisor).post(reverse("admin:cases_patient_add"), _patient_form(other_hospital))
    assert response.status_code == 200  # the form again: the institution is not a valid choice
    assert not Patient.objects.filter(medical_record_number="MRN-ADMIN-1").exists()
