"""A record number or accession number registered by someone else at the same moment: the form's and
the service's checks cannot see the other's uncommitted row, the database's unique constraint refuses
the second insert, and the person gets the same form error as for an old duplicate, not a server error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import Institution, User
from cases.forms import CaseForm, PatientForm
from cases.models import Case, Patient
from cases.services.cases import update_case
from cases.services.common import DUPLICATE_ACCESSION
from tests.cases.concurrency import Worker, requires_postgresql, wait_until_blocked
from tests.conftest import client_for
from tests.factories import CaseFactory, PatientFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]

MRN = "MRN-2024-001"
ACCESSION = "BM-24-0001"


def _register_patient(user: User, institution: Institution) -> Callable[[Client], Any]:
    institution_value = PatientForm(user=user).fields["institution"].prepare_value(institution)
    form = {
        "institution": institution_value,
        "medical_record_number": MRN,
        "given_name": "Niamh",
        "family_name": "Okonkwo",
        "date_of_birth": "2012-03-04",
        "sex": "female",
    }
    return lambda client: client.post(reverse("cases:patient_create"), form)


def _create_case(user: User, patient: Patient) -> Callable[[Client], Any]:
    form = {
        "patient": CaseForm(user=user).fields["patient"].prepare_value(patient),
        "accession_number": ACCESSION,
        "specimen_type": "bone_marrow_aspirate",
    }
    return lambda client: client.post(reverse("cases:case_create"), form)


def _racing(user: User, post: Callable[[Client], Any], insert_twin: Callable[[], Any]) -> Any:
    """`post` runs while the twin is inserted but not yet committed; it commits once `post` waits."""
    client = client_for(user)
    with transaction.atomic():
        insert_twin()
        racer = Worker(lambda: post(client)).start()
        wait_until_blocked()
    return racer.result()


def test_a_record_number_registered_meanwhile_is_a_form_error(
    technician: User, hospital: Institution
) -> None:
    response = _racing(
        technician,
        _register_patient(technician, hospital),
        lambda: PatientFactory(institution=hospital, medical_record_number=MRN),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["medical_record_number"] == [
        "A patient with this record number is already registered."
    ]
    assert Patient.objects.filter(medical_record_number=MRN).count() == 1


def test_an_accession_number_used_meanwhile_is_a_form_error(technician: User, patient: Patient) -> None:
    response = _racing(
        technician,
        _create_case(technician, patient),
        lambda: CaseFactory(patient=patient, accession_number=ACCESSION),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["accession_number"] == [
        "This accession number is already used in this institution."
    ]
    assert Case.objects.filter(accession_number=ACCESSION).count() == 1


def test_the_admin_shows_the_refusal_of_a_record_number_registered_meanwhile(
    supervisor: User, hospital: Institution
) -> None:
    form = {
        "institution": hospital.pk,
        "medical_record_number": MRN,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1990-12-10",
        "sex": "female",
    }
    add_url = reverse("admin:cases_patient_add")
    response = _racing(
        supervisor,
        lambda client: client.post(add_url, form),
        lambda: PatientFactory(institution=hospital, medical_record_number=MRN),
    )
    assert response.status_code == 302
    assert response["Location"] == add_url
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["medical record number: A patient with this record number is already registered."]
    assert Patient.objects.filter(medical_record_number=MRN).count() == 1


def test_an_edit_to_an_accession_number_used_meanwhile_is_refused_on_the_field(
    supervisor: User, patient: Patient
) -> None:
    case: Case = CaseFactory(patient=patient)
    with transaction.atomic():
        CaseFactory(patient=patient, accession_number=ACCESSION)
        edit = Worker(lambda: update_case(supervisor, case, accession_number=ACCESSION)).start()
        wait_until_blocked()
    with pytest.raises(ValidationError) as refused:
        edit.result()
    assert refused.value.message_dict == {"accession_number": [DUPLICATE_ACCESSION]}
    case.refresh_from_db()
    assert case.accession_number != ACCESSION
