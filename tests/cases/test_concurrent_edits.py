"""An edit that waits for a concurrent change works on the row as that change left it: a case signed out
meanwhile is refused (not silently reopened by writing the stale state back), and two edits of
different fields both stay."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.urls import reverse

from accounts.models import User
from cases.models import AuditEvent, Case, CaseState, Patient
from cases.models.audit import AuditAction
from cases.services.patients import update_patient
from cases.transitions import transition
from tests.cases.concurrency import Worker, requires_postgresql, wait_until_blocked
from tests.conftest import client_for
from tests.factories import CaseFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


def _admin_case_form(case: Case, **changes: str) -> dict[str, Any]:
    return {
        "accession_number": case.accession_number,
        "specimen_type": case.specimen_type,
        "clinical_notes": case.clinical_notes,
        "assigned_pathologist": "",
        "seen_version": str(case.row_version),  # as the change page was opened
        # the read-only inlines still send their management forms
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
        "slides-TOTAL_FORMS": "0",
        "slides-INITIAL_FORMS": "0",
        **changes,
    }


def test_an_admin_edit_that_waited_for_a_sign_out_is_refused_and_undoes_nothing(
    supervisor: User, pathologist: User, patient: Patient
) -> None:
    case = CaseFactory(patient=patient, clinical_notes="old notes")
    Case.objects.filter(pk=case.pk).update(state=CaseState.IN_REVIEW)
    admin = client_for(supervisor)
    url = reverse("admin:cases_case_change", args=[case.pk])

    with transaction.atomic():
        # The pathologist's sign-out holds the case row; the admin has read it as "in review".
        Case.objects.select_for_update().get(pk=case.pk)
        edit = Worker(lambda: admin.post(url, _admin_case_form(case, clinical_notes="typo fixed"))).start()
        wait_until_blocked()
        transition(case, CaseState.SIGNED_OUT, actor=pathologist)
    response = edit.result()

    case.refresh_from_db()
    assert case.state == CaseState.SIGNED_OUT
    assert case.clinical_notes == "old notes"
    assert response.status_code == 302
    assert response["Location"] == url
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["A case that is signed out cannot be edited."]
    assert not AuditEvent.objects.filter(action=AuditAction.UPDATE, case_external_id=case.pk).exists()


def test_edits_of_different_fields_made_at_the_same_time_both_stay(
    supervisor: User, patient: Patient
) -> None:
    read_before = Patient.objects.get(pk=patient.pk)
    first_given_name = patient.given_name

    with transaction.atomic():
        # Another supervisor's edit holds the patient row while it commits.
        Patient.objects.select_for_update().get(pk=patient.pk)
        edit = Worker(lambda: update_patient(supervisor, read_before, family_name="Corrected")).start()
        wait_until_blocked()
        update_patient(supervisor, Patient.objects.get(pk=patient.pk), given_name="Ada")
    edit.result()

    patient.refresh_from_db()
    assert (patient.given_name, patient.family_name) == ("Ada", "Corrected")
    updates = AuditEvent.objects.filter(action=AuditAction.UPDATE, target_id=str(patient.pk)).order_by("id")
    assert [(event.before, event.after) for event in updates] == [
        ({"given_name": first_given_name}, {"given_name": "Ada"}),
        ({"family_name": read_before.family_name}, {"family_name": "Corrected"}),
    ]
