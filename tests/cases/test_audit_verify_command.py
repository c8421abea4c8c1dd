"""`manage.py verify_audit` prints a count and "intact", or the first broken link and exits non-zero;
`--json` gives the same as one object."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import User
from cases.audit import record_event
from cases.models import AuditEvent
from cases.models.audit import AuditAction

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table
TRIGGER = "cases_auditevent_append_only"


def _tamper_label(event_id: int) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
        cursor.execute("UPDATE cases_auditevent SET actor_label = %s WHERE id = %s", ["mallory", event_id])
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")


@pytest.fixture
def events(supervisor: User) -> list[AuditEvent]:
    return [
        record_event(actor=supervisor, action=AuditAction.VIEW, target_type="test.Row", after={"n": n})
        for n in range(3)
    ]


def _run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_an_intact_chain_exits_zero_with_a_count(events: list[AuditEvent]) -> None:
    code, out, _ = _run("--chunk-size", "2")
    assert code == 0
    assert f"intact: {AuditEvent.objects.count()} rows checked" in out


def test_a_broken_chain_exits_non_zero_naming_the_row(events: list[AuditEvent]) -> None:
    target = events[1]
    _tamper_label(target.id)

    code, _, err = _run()

    assert code == 1
    assert "BROKEN" in err
    assert f"row {target.id}" in err
    assert str(target.external_id) in err
    assert target.created_at.isoformat() in err


def test_json_output(events: list[AuditEvent]) -> None:
    code, out, _ = _run("--json")
    assert code == 0
    result = json.loads(out)
    assert result["intact"] is True
    assert result["checked"] == AuditEvent.objects.count()
    assert result["last_hash"] == events[-1].hash

    _tamper_label(events[0].id)
    code, out, _ = _run("--json")
    result = json.loads(out)
    assert code == 1
    assert result["intact"] is False
    assert result["broken"]["id"] == events[0].id
    assert result["broken"]["external_id"] == str(events[0].external_id)
