"""Two people open the same patient or case in the admin and both save: the later save is refused,
with a message naming who changed the row and when, and the earlier change is kept. Each change form
carries the row's version as it was opened; every edit moves the version; edits without a version
(workers, commands) are not checked. The version is compared on the row re-read under the edit's lock,
so a save that waited for another edit to commit is refused too."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Institution, Role, User
from cases.models import AuditEvent, Case, CaseState, Patient
from cases.models.audit import AuditAction
from cases.services.cases import update_case
from cases.services.patients import update_patient
from cases.transitions import transition
from tests.cases.concurrency import Worker, requires_postgresql, wait_until_blocked
from tests.conftest import client_for
from tests.factories import CaseFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(hospital: Institution) -> User:
    """A second supervisor of the same hospital."""
    user: User = MembershipFactory(
        institution=hospital, role=Role.SUPERVISOR, user__email="second@stmary.example"
    ).user
    return user


def opened(client: Client, url: str) -> str:
    """Open a change page as a browser does; the version its form will send back ("" if none)."""
    page = client.get(url)
    assert page.status_code == 200
    found = re.search(r'name="seen_version" value="(\d+)"', page.content.decode())
    return found.group(1) if found else ""


def case_form(case: Case, seen_version: str, **changes: str) -> dict[str, Any]:
    return {
        "accession_number": case.accession_number,
        "specimen_type": case.specimen_type,
        "clinical_notes": case.clinical_notes,
        "assigned_pathologist": "",
        "seen_version": seen_version,
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
        "slides-TOTAL_FORMS": "0",
        "slides-INITIAL_FORMS": "0",
        **changes,
    }


def patient_form(patient: Patient, seen_version: str, **changes: str) -> dict[str, Any]:
    return {
        "medical_record_number": patient.medical_record_number,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "seen_version": seen_version,
        **changes,
    }


def shown(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def changed_by_message(what: str, latest: AuditEvent) -> str:
    when = date_format(timezone.localtime(latest.created_at), "DATETIME_FORMAT")
    return (
        f"This {what} was changed by {latest.actor} at {when} since you opened it; "
        "reload to see their change."
    )


def updates_of(row: Case | Patient) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.UPDATE, target_id=str(row.pk)).order_by("id"))


def test_of_two_admin_edits_of_one_case_the_later_is_refused_and_the_earlier_kept(
    supervisor: User, colleague: User, patient: Patient
) -> None:
    case = CaseFactory(patient=patient, clinical_notes="Aspirate from the iliac crest.")
    url = reverse("admin:cases_case_change", args=[case.pk])
    first, second = client_for(supervisor), client_for(colleague)
    first_saw, second_saw = opened(first, url), opened(second, url)

    saved = first.post(url, case_form(case, first_saw, clinical_notes="Dry tap; repeat aspirate."))
    refused = second.post(url, case_form(case, second_saw, clinical_notes="Aspirate, iliac crest, left."))

    assert saved.status_code == 302
    assert saved["Location"] == reverse("admin:cases_case_changelist")
    assert (refused.status_code, refused["Location"]) == (302, url)  # back to the case as it is now
    [latest] = updates_of(case)
    assert shown(refused) == [changed_by_message("case", latest)]
    assert latest.actor_label == "super@stmary.example"
    case.refresh_from_db()
    assert case.clinical_notes == "Dry tap; repeat aspirate."
    assert case.row_version == 2


def test_of_two_admin_edits_of_one_patient_the_later_is_refused_even_of_another_field(
    supervisor: User, colleague: User, patient: Patient
) -> None:
    """The later form still holds the earlier value of the field the other person changed: saved, it
    would write that value back."""
    url = reverse("admin:cases_patient_change", args=[patient.pk])
    first, second = client_for(supervisor), client_for(colleague)
    first_saw, second_saw = opened(first, url), opened(second, url)

    assert first.post(url, patient_form(patient, first_saw, family_name="Byron")).status_code == 302
    refused = second.post(url, patient_form(patient, second_saw, sex="female"))

    [latest] = updates_of(patient)
    assert shown(refused) == [changed_by_message("patient", latest)]
    patient.refresh_from_db()
    assert (patient.family_name, patient.sex, patient.row_version) == ("Byron", "unknown", 2)


def test_an_edit_from_a_form_opened_after_the_last_change_is_saved_and_moves_the_version(
    supervisor: User, colleague: User, patient: Patient
) -> None:
    case = CaseFactory(patient=patient)
    url = reverse("admin:cases_case_change", args=[case.pk])
    first, second = client_for(supervisor), client_for(colleague)
    first.post(url, case_form(case, opened(first, url), clinical_notes="one"))

    reloaded = opened(second, url)
    assert reloaded == "2"
    case.refresh_from_db()
    response = second.post(url, case_form(case, reloaded, clinical_notes="two"))

    assert response["Location"] == reverse("admin:cases_case_changelist")  # saved, not refused
    case.refresh_from_db()
    assert (case.clinical_notes, case.row_version) == ("two", 3)
    assert [event.actor for event in updates_of(case)] == [supervisor, colleague]


def test_a_change_form_without_its_version_saves_nothing(supervisor: User, patient: Patient) -> None:
    url = reverse("admin:cases_patient_change", args=[patient.pk])
    form = patient_form(patient, "", family_name="Byron")
    del form["seen_version"]
    response = client_for(supervisor).post(url, form)
    assert response.status_code == 200  # the form again, with its error
    assert Patient.objects.get(pk=patient.pk).family_name == patient.family_name
    assert updates_of(patient) == []


def test_a_move_of_the_state_machine_leaves_the_version_and_open_forms_still_save(
    supervisor: User, patient: Patient
) -> None:
    """A submit changes none of the fields the form shows; a form opened before it saves. (A form opened
    before a sign-out is refused by the case's state instead, see test_concurrent_edits.py.)"""
    case = CaseFactory(patient=patient)
    url = reverse("admin:cases_case_change", args=[case.pk])
    admin = client_for(supervisor)
    saw = opened(admin, url)
    transition(case, CaseState.SUBMITTED, actor=supervisor)

    assert admin.post(url, case_form(case, saw, clinical_notes="after submit")).status_code == 302
    case.refresh_from_db()
    assert (case.state, case.clinical_notes, case.row_version) == (CaseState.SUBMITTED, "after submit", 2)


def test_a_closed_cases_page_shows_no_version(supervisor: User, patient: Patient) -> None:
    """Read-only: nothing will be sent back, and the version is no field of the record."""
    case = CaseFactory(patient=patient)
    Case.objects.filter(pk=case.pk).update(state=CaseState.SIGNED_OUT)
    page = client_for(supervisor).get(reverse("admin:cases_case_change", args=[case.pk]))
    assert page.status_code == 200
    assert "seen_version" not in page.content.decode()
    assert "Seen version" not in page.content.decode()


# --- the services ----------------------------------------------------------------------------------


def test_the_service_refuses_a_stale_version_and_writes_nothing(supervisor: User, patient: Patient) -> None:
    case = CaseFactory(patient=patient, clinical_notes="first")
    update_case(supervisor, case, seen_version=1, clinical_notes="second")

    with pytest.raises(ValidationError) as refused:
        update_case(supervisor, case, seen_version=1, clinical_notes="third")

    assert refused.value.code == "stale"
    case.refresh_from_db()
    assert (case.clinical_notes, case.row_version) == ("second", 2)
    assert len(updates_of(case)) == 1


def test_edits_without_a_version_are_not_checked_and_move_it(supervisor: User, patient: Patient) -> None:
    """Workers and commands edit the row as it is now; their edits still make open forms stale."""
    update_patient(supervisor, patient, given_name="Ada")
    stored = update_patient(supervisor, patient, family_name="Byron")
    assert stored.row_version == 3
    assert update_patient(supervisor, patient, family_name="Byron").row_version == 3  # no change, no write
    with pytest.raises(ValidationError, match=rf"was changed by {re.escape(str(supervisor))} at"):
        update_patient(supervisor, patient, seen_version=2, sex="female")


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_admin_save_that_waited_for_another_edit_is_refused(
    supervisor: User, colleague: User, patient: Patient
) -> None:
    case = CaseFactory(patient=patient, clinical_notes="first reading")
    url = reverse("admin:cases_case_change", args=[case.pk])
    admin = client_for(supervisor)
    saw = opened(admin, url)

    with transaction.atomic():
        # The colleague's edit holds the case row; the supervisor's save comes in meanwhile.
        Case.objects.select_for_update().get(pk=case.pk)
        save = Worker(lambda: admin.post(url, case_form(case, saw, clinical_notes="supervisor's"))).start()
        wait_until_blocked()
        update_case(colleague, Case.objects.get(pk=case.pk), seen_version=1, clinical_notes="colleague's")
    response = save.result()

    case.refresh_from_db()
    assert (case.clinical_notes, case.row_version) == ("colleague's", 2)
    [latest] = updates_of(case)
    assert (response.status_code, response["Location"]) == (302, url)
    assert shown(response) == [changed_by_message("case", latest)]
