"""An audit row's hash covers its before/after values exactly as the database gives them back.

PostgreSQL's jsonb keeps numbers as `numeric`: -0.0 comes back as 0.0, and a float that JSON writes
in exponent notation (1e+16) comes back as an integer. It refuses NUL and unpaired surrogates in
text. SQLite keeps the JSON text as written. Had the hash been computed over the values as Python
writes them, `verify_audit` would report tampering that never happened, and stop there, hiding any
real tampering after it.
"""

from __future__ import annotations

import copy
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User
from cases.audit import record_event
from cases.audit.chain import compute_hash
from cases.models import AuditEvent
from cases.models.audit import AuditAction
from tests.cases.test_audit_chain import tamper

pytestmark = pytest.mark.django_db

REWRITTEN_BY_JSONB = [
    -0.0,
    1e16,
    2.5e17,
    -1e16,
    1.5e300,
    {"metrics": {"hue_shift_robustness_delta": round(-0.00004, 3), "n": [1e16, {"deep": -0.0}]}},
]
ROUND_TRIPPING = [0.0, 1.0, 0.1, 1e15, 9999999999999998.0, 1e-9, 5e-324, 10**20, "text", True, None]


def _record(supervisor: User, value: Any) -> AuditEvent:
    return record_event(
        actor=supervisor,
        action=AuditAction.UPDATE,
        target_type="test.Row",
        before={"value": value, "list": [value]},
        after={"value": value, "nested": {"list": [value]}},
    )


def _verify_audit() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", "--no-progress", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), err.getvalue()
    return 0, out.getvalue()


def _as_json(value: Any) -> str:
    # Types count: 1e16 and 10000000000000000 are equal in Python but hash differently.
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("value", REWRITTEN_BY_JSONB, ids=repr)
def test_rows_with_numbers_the_database_rewrites_verify(supervisor: User, value: Any) -> None:
    _record(supervisor, value)

    code, output = _verify_audit()

    assert code == 0, output
    assert "intact" in output


@pytest.mark.parametrize("value", REWRITTEN_BY_JSONB, ids=repr)
def test_the_hashed_values_are_the_stored_values(supervisor: User, value: Any) -> None:
    event = _record(supervisor, value)

    stored = AuditEvent.objects.get(pk=event.pk)

    assert _as_json(stored.before) == _as_json(event.before)
    assert _as_json(stored.after) == _as_json(event.after)
    assert compute_hash(stored, stored.previous_hash) == event.hash


def test_tampering_after_such_a_row_is_still_found(supervisor: User) -> None:
    _record(supervisor, -0.0)
    _record(supervisor, 1e16)
    victim = _record(supervisor, "untouched")
    tamper("UPDATE cases_auditevent SET actor_label = %s WHERE id = %s", ["mallory", victim.id])

    code, output = _verify_audit()

    assert code == 1
    assert f"row {victim.id}" in output
    assert str(victim.external_id) in output


@pytest.mark.parametrize("value", ROUND_TRIPPING, ids=repr)
def test_values_that_already_round_trip_hash_as_they_always_did(supervisor: User, value: Any) -> None:
    event = _record(supervisor, value)

    # The hash an existing installation computed: over the plain JSON round trip of the values.
    as_before = copy.copy(event)
    as_before.before = json.loads(json.dumps({"value": value, "list": [value]}))
    as_before.after = json.loads(json.dumps({"value": value, "nested": {"list": [value]}}))
    assert _as_json(event.after) == _as_json(as_before.after)
    assert compute_hash(as_before, event.previous_hash) == event.hash


def test_text_the_database_cannot_hold_is_replaced_the_same_way_everywhere(supervisor: User) -> None:
    event = record_event(
        actor=supervisor,
        action=AuditAction.EXPORT,
        target_type="test.Row",
        after={"filters": {"q": "a\x00b", "lone": "\ud800", "pair": "\ud83d\ude00", "key\x00": 1}},
    )

    stored = AuditEvent.objects.get(pk=event.pk)

    replaced = {"q": "a\ufffdb", "lone": "\ufffd", "pair": "\U0001f600", "key\ufffd": 1}
    assert stored.after == {"filters": replaced}
    assert _verify_audit()[0] == 0


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_numbers_json_cannot_write_are_refused_before_anything_is_stored(
    supervisor: User, number: float
) -> None:
    count = AuditEvent.objects.count()

    with pytest.raises(ValueError, match="cannot be recorded"):
        record_event(actor=supervisor, action=AuditAction.UPDATE, target_type="test.Row", after={"x": number})

    assert AuditEvent.objects.count() == count
