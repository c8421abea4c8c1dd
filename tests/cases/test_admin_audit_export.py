"""The audit trail exports as CSV with the change list's filters applied, and the export is itself
an audit row."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from accounts.models import Institution, User
from cases.audit import record_event
from cases.audit.context import audit_context
from cases.audit.verify import verify_chain
from cases.models import AuditEvent
from cases.models.audit import AuditAction, AuditSource
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _rows(response: StreamingHttpResponse) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def trail(
    supervisor: User, technician: User, outsider: User, hospital: Institution, other_hospital: Institution
) -> None:
    record_event(
        actor=technician, action=AuditAction.CREATE, target_type="cases.Patient", institution=hospital
    )
    record_event(actor=technician, action=AuditAction.VIEW, target_type="cases.Patient", institution=hospital)
    record_event(
        actor=outsider, action=AuditAction.CREATE, target_type="cases.Patient", institution=other_hospital
    )
    with audit_context(actor_label='=HYPERLINK("http://evil.example")'):
        record_event(actor=None, action=AuditAction.LOGIN_FAILED, target_type="accounts.User")


def test_the_export_has_the_filtered_rows(supervisor: User, technician: User, trail: None) -> None:
    url = reverse("admin:cases_auditevent_export") + "?action__exact=create"
    response = client_for(supervisor).get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    assert [row["action"] for row in rows] == ["create"]  # the outsider's create is not theirs to see
    assert rows[0]["actor_label"] == technician.email
    stored = AuditEvent.objects.get(external_id=rows[0]["external_id"])
    assert rows[0]["hash"] == stored.hash
    assert rows[0]["previous_hash"] == stored.previous_hash


def test_the_export_is_audited(supervisor: User, trail: None) -> None:
    url = reverse("admin:cases_auditevent_export") + "?action__exact=create"
    client_for(supervisor).get(url)

    export = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert export.actor == supervisor
    assert export.source == AuditSource.ADMIN
    assert export.after["filters"] == {"action__exact": "create"}
    assert export.after["rows"] == 1
    assert verify_chain().intact


def test_the_export_action_on_selected_rows(supervisor: User, trail: None) -> None:
    chosen = AuditEvent.objects.filter(action=AuditAction.VIEW).values_list("external_id", flat=True)
    response = client_for(supervisor).post(
        reverse("admin:cases_auditevent_changelist"),
        # Rows are selected by external id; a stray integer id selects nothing.
        {"action": "export_selected_csv", "_selected_action": [*map(str, chosen), "1"]},
    )
    assert [row["action"] for row in _rows(response)] == ["view"]
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, after__selected=True).exists()


def test_a_formula_is_not_executed_by_a_spreadsheet(trail: None) -> None:
    root = User.objects.create_superuser("root@example.org", "x-very-long-password-1")
    url = reverse("admin:cases_auditevent_export") + "?action__exact=login_failed"
    rows = _rows(client_for(root).get(url))
    assert rows[0]["actor_label"].startswith("'=")
