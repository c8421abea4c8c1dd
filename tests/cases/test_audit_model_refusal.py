"""The model and its queryset refuse to change or delete audit rows, on every database."""

from __future__ import annotations

import pytest

from accounts.models import User
from cases.audit import record_event
from cases.models import AuditEvent
from cases.models.audit import AuditAction

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(supervisor: User) -> AuditEvent:
    return record_event(actor=supervisor, action=AuditAction.VIEW, target_type="test.Row")


def test_saving_an_existing_row_is_refused(event: AuditEvent) -> None:
    event.actor_label = "mallory@example.org"
    with pytest.raises(PermissionError, match="append-only"):
        event.save()


def test_deleting_a_row_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError, match="append-only"):
        event.delete()


def test_queryset_update_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="mallory@example.org")


def test_queryset_delete_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.all().delete()


def test_bulk_update_is_refused(event: AuditEvent) -> None:
    event.actor_label = "mallory@example.org"
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.bulk_update([event], ["actor_label"])


def test_nothing_changed(event: AuditEvent) -> None:
    for attempt in (event.delete, lambda: AuditEvent.objects.all().delete()):
        with pytest.raises(PermissionError):
            attempt()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_label, stored.hash) == (event.actor_label, event.hash)
