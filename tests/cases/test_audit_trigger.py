"""On PostgreSQL the database itself refuses UPDATE and DELETE of audit rows, whoever sends them."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from cases.audit import record_event
from cases.audit.verify import verify_chain
from cases.models import AuditEvent
from cases.models.audit import AuditAction

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
    ),
    pytest.mark.django_db,
]


@pytest.fixture
def event(supervisor: User) -> AuditEvent:
    return record_event(actor=supervisor, action=AuditAction.VIEW, target_type="test.Row")


def _raw(sql: str, params: list[object]) -> None:
    # A savepoint, so the refused statement does not abort the test's transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_raw_update_is_refused(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE cases_auditevent SET actor_label = %s WHERE id = %s", ["mallory@example.org", event.id])
    assert AuditEvent.objects.get(pk=event.pk).actor_label == event.actor_label


def test_raw_delete_is_refused(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM cases_auditevent WHERE id = %s", [event.id])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_paths_that_skip_the_model_are_refused_too(event: AuditEvent) -> None:
    # _raw_delete issues DELETE without the model's checks; the database still says no.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk)._raw_delete(connection.alias)


def test_the_chain_is_intact_after_refused_attempts(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError):
        _raw("UPDATE cases_auditevent SET hash = %s WHERE id = %s", ["0" * 64, event.id])
    assert verify_chain().intact
