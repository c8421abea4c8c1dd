"""In the admin a supervisor sees only the rows of the institutions they supervise: patients, cases,
slide images and audit rows of another institution are absent and cannot be opened."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Institution, User
from cases.audit import record_event
from cases.models import Patient
from cases.models.audit import AuditAction
from tests.conftest import client_for
from tests.factories import CaseFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(
    hospital: Institution, other_hospital: Institution, supervisor: User, outsider: User
) -> dict[str, Any]:
    ours = PatientFactory(institution=hospital, family_name="Ourside", medical_record_number="MRN-OURS")
    theirs = PatientFactory(
        institution=other_hospital, family_name="Theirside", medical_record_number="MRN-THEIRS"
    )
    our_case = CaseFactory(patient=ours, accession_number="ACC-OURS")
    their_case = CaseFactory(patient=theirs, accession_number="ACC-THEIRS")
    record_event(actor=supervisor, action=AuditAction.VIEW, target=ours, institution=hospital)
    record_event(actor=outsider, action=AuditAction.VIEW, target=theirs, institution=other_hospital)
    return {"ours": ours, "theirs": theirs, "our_case": our_case, "their_case": their_case}


def test_patients_of_other_institutions_are_absent(supervisor: User, rows: dict[str, Any]) -> None:
    content = client_for(supervisor).get(reverse("admin:cases_patient_changelist")).content.decode()
    assert "MRN-OURS" in content
    assert "MRN-THEIRS" not in content
    assert "Northside Clinic" not in content  # not even as a filter choice


def test_cases_of_other_institutions_are_absent(supervisor: User, rows: dict[str, Any]) -> None:
    content = client_for(supervisor).get(reverse("admin:cases_case_changelist")).content.decode()
    assert "ACC-OURS" in content
    assert "ACC-THEIRS" not in content


def test_audit_rows_of_other_institutions_are_absent(
    supervisor: User, outsider: User, rows: dict[str, Any]
) -> None:
    content = client_for(supervisor).get(reverse("admin:cases_auditevent_changelist")).content.decode()
    assert supervisor.email in content
    assert outsider.email not in content


def test_a_row_of_another_institution_cannot_be_opened(supervisor: User, rows: dict[str, Any]) -> None:
    client = client_for(supervisor)
    for name, row in (("cases_patient", rows["theirs"]), ("cases_case", rows["their_case"])):
        response = client.get(reverse(f"admin:{name}_change", args=[row.pk]))
        assert response.status_code == 302  # "does not exist" and back to the index
        assert response["Location"] == reverse("admin:index")


def test_the_outsider_sees_only_their_own(outsider: User, rows: dict[str, Any]) -> None:
    content = client_for(outsider).get(reverse("admin:cases_patient_changelist")).content.decode()
    assert "MRN-THEIRS" in content
    assert "MRN-OURS" not in content


def test_a_superuser_sees_every_institution(rows: dict[str, Any]) -> None:
    root = UserFactory(is_superuser=True, is_staff=True)
    content = client_for(root).get(reverse("admin:cases_patient_changelist")).content.decode()
    assert "MRN-OURS" in content
    assert "MRN-THEIRS" in content
    assert Patient.objects.count() == 2
