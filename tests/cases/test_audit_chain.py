"""The audit trail is a hash chain: each row links to the one before, `verify_chain` recomputes every
hash and every link, and a changed, removed or inserted row is reported at the first broken link.

Tampering goes around the application (raw SQL, as an attacker with database access would); on
PostgreSQL the append-only trigger is switched off for that one statement.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from accounts.models import Institution, User
from cases.audit import record_event
from cases.audit.chain import GENESIS_HASH, compute_hash
from cases.audit.context import audit_context
from cases.audit.verify import verify_chain
from cases.models import AuditEvent
from cases.models.audit import AuditAction

TABLE = AuditEvent._meta.db_table
TRIGGER = "cases_auditevent_append_only"


@contextmanager
def trigger_disabled() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    # Django's foreign keys are deferred; ALTER TABLE refuses while their checks are pending.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tamper(sql: str, params: list[object]) -> None:
    with trigger_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def events(supervisor: User, hospital: Institution) -> list[AuditEvent]:
    before = AuditEvent.objects.count()
    rows = [
        record_event(
            actor=supervisor,
            action=AuditAction.UPDATE,
            target_type="test.Row",
            institution=hospital,
            before={"n": n},
            after={"n": n + 1, "note": "ünïcode", "score": 0.1 * n},
        )
        for n in range(5)
    ]
    assert AuditEvent.objects.count() == before + 5
    return rows


@pytest.mark.django_db
def test_rows_link_to_the_row_before(events: list[AuditEvent]) -> None:
    stored = list(AuditEvent.objects.order_by("id"))
    assert stored[0].previous_hash == GENESIS_HASH
    for earlier, later in itertools.pairwise(stored):
        assert later.previous_hash == earlier.hash
    for row in stored:
        assert row.hash == compute_hash(row, row.previous_hash)


@pytest.mark.django_db
def test_an_untouched_chain_verifies(events: list[AuditEvent]) -> None:
    report = verify_chain(chunk_size=2)  # several chunks
    assert report.intact
    assert report.checked == AuditEvent.objects.count()
    assert report.last_hash == events[-1].hash


@pytest.mark.django_db
def test_an_empty_chain_verifies() -> None:
    report = verify_chain()
    assert report.intact
    assert report.checked == 0


@pytest.mark.django_db
def test_a_changed_row_is_detected(events: list[AuditEvent]) -> None:
    target = events[2]
    tamper(
        "UPDATE cases_auditevent SET actor_label = %s WHERE id = %s", ["someone.else@example.org", target.id]
    )

    report = verify_chain(chunk_size=2)

    assert report.broken is not None
    assert report.broken.id == target.id
    assert report.broken.external_id == str(target.external_id)
    assert "changed" in report.broken.problem


@pytest.mark.django_db
def test_a_changed_json_value_is_detected(events: list[AuditEvent]) -> None:
    target = events[1]
    tamper("UPDATE cases_auditevent SET after = %s WHERE id = %s", ['{"n": 99}', target.id])

    report = verify_chain()

    assert report.broken is not None
    assert report.broken.id == target.id


@pytest.mark.django_db
def test_a_removed_row_is_detected_at_the_next_row(events: list[AuditEvent]) -> None:
    tamper("DELETE FROM cases_auditevent WHERE id = %s", [events[2].id])

    report = verify_chain()

    assert report.broken is not None
    assert report.broken.id == events[3].id
    assert "removed, inserted or rewritten" in report.broken.problem


def _row_linked_to(first: AuditEvent, *, id_gap: int, actor_label: str) -> AuditEvent:
    """A well-formed row chained to `first`, `id_gap` ids after it (not saved)."""
    row = AuditEvent(
        id=first.id + id_gap,
        created_at=first.created_at,
        actor_label=actor_label,
        action=AuditAction.VIEW,
        target_type="test.Row",
        source="web",
        previous_hash=first.hash,
    )
    row.hash = compute_hash(row, row.previous_hash)
    return row


@pytest.mark.django_db
def test_an_inserted_row_is_detected(supervisor: User, hospital: Institution) -> None:
    first = record_event(actor=supervisor, action=AuditAction.VIEW, target_type="test.Row")
    # A later genuine row, with a gap in the ids before it (as rolled-back inserts leave on PostgreSQL).
    later = _row_linked_to(first, id_gap=10, actor_label="genuine")
    # The forgery fills the gap and is well formed on its own: it links to `first`, its hash is right.
    forged = _row_linked_to(first, id_gap=5, actor_label="forger")
    AuditEvent.objects.bulk_create([later, forged])  # bulk_create is a plain INSERT, as raw SQL would be

    report = verify_chain()

    assert report.broken is not None
    assert report.broken.id == later.id  # its link now points past the forged row


@pytest.mark.django_db
def test_rows_cut_off_the_end_are_detected_with_an_anchor(events: list[AuditEvent]) -> None:
    anchor = events[-1].hash
    assert verify_chain(anchor=anchor).intact
    tamper("DELETE FROM cases_auditevent WHERE id >= %s", [events[3].id])

    report = verify_chain(anchor=anchor)

    assert report.broken is not None
    assert "anchor" in report.broken.problem


@pytest.mark.django_db
def test_an_ipv6_client_address_does_not_look_like_tampering(supervisor: User) -> None:
    # Stored compressed by the database; the hash must cover what is stored.
    with audit_context(ip_address="2001:0db8:0000:0000:0000:0000:0000:0001"):
        event = record_event(actor=supervisor, action=AuditAction.VIEW, target_type="test.Row")
    assert AuditEvent.objects.get(pk=event.pk).ip_address == "2001:db8::1"
    assert verify_chain().intact
