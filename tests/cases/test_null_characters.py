"""A null character cannot be compared with PostgreSQL text. In a search or a filter it is refused
with a message, on the pages and in the admin, instead of reaching the database as a server error; the
audit export answers bad parameters as the change list does, and writes no export row for them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import User
from cases.models import AuditEvent, Case
from cases.models.audit import AuditAction
from tests.conftest import client_for
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

REFUSED = "Null characters are not allowed."


def _messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def case(patient: Any) -> Case:
    created: Case = CaseFactory(patient=patient)
    return created


@pytest.mark.parametrize(
    "url", ["/cases/?q=%00", "/cases/?q=ab%00c&state=draft", "/cases/patients/?q=ab%00c"]
)
def test_a_page_search_with_a_null_character_is_refused_with_a_message(
    technician: User, case: Case, url: str
) -> None:
    response = client_for(technician).get(url)
    assert response.status_code == 200
    assert _messages(response) == [REFUSED]
    assert response.context["q"] == ""


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("admin:cases_auditevent_changelist", "q=%00"),
        ("admin:cases_auditevent_changelist", "action__exact=%00"),
        ("admin:cases_auditevent_changelist", "%00=1"),
        ("admin:cases_patient_changelist", "sex__exact=%00"),
        ("admin:cases_case_changelist", "state__exact=%00"),
        ("admin:cases_slide_changelist", "stain__exact=%00"),
        ("admin:cases_slideimage_changelist", "q=ab%00c"),
    ],
)
def test_an_admin_list_with_a_null_character_answers_as_for_any_bad_parameter(
    supervisor: User, path: str, query: str
) -> None:
    url = reverse(path)
    response = client_for(supervisor).get(f"{url}?{query}")
    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"
    assert _messages(response) == [REFUSED]


@pytest.mark.parametrize(
    "query", ["q=%00", "actor_label=%00", "institution__id__exact=1", "created_at__year=abc"]
)
def test_the_audit_export_answers_bad_parameters_as_the_change_list_does(
    supervisor: User, query: str
) -> None:
    admin = client_for(supervisor)
    changelist = reverse("admin:cases_auditevent_changelist")
    listed = admin.get(f"{changelist}?{query}")
    exported = admin.get(f"{reverse('admin:cases_auditevent_export')}?{query}")
    assert (listed.status_code, listed["Location"]) == (302, f"{changelist}?e=1")
    assert (exported.status_code, exported["Location"]) == (302, f"{changelist}?e=1")
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_the_audit_export_with_good_parameters_still_exports(supervisor: User) -> None:
    response = client_for(supervisor).get(
        f"{reverse('admin:cases_auditevent_export')}?q=tech&action__exact=create"
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == 1


def test_anonymous_visitors_are_still_sent_to_log_in(db: None) -> None:
    response = Client().get(f"{reverse('admin:cases_auditevent_export')}?q=%00")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
