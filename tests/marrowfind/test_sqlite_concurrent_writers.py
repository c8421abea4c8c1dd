"""The embedded SQLite database, configured by `parse_database_url` as DATABASE_URL configures it, lets
writers that start together wait their turn instead of failing with "database is locked".

Each writer reads a counter, then writes it plus one, in one transaction: the read-then-write that
request handlers and jobs do. Under SQLite's default (deferred) transactions every writer takes a read
lock first; the first to write then waits for the others' read locks to go, and the others, asking to
write while holding theirs, are refused at once (SQLite does not wait where waiting would deadlock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import OperationalError, connections, transaction
from pytest_django import DjangoDbBlocker

from marrowfind.env import parse_database_url

WRITERS = 8
ALIAS = "concurrent_sqlite"


@pytest.fixture
def sqlite_file(
    tmp_path: Path, django_db_blocker: DjangoDbBlocker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A real SQLite file holding a counter at 0, reachable as ALIAS with the settings DATABASE_URL gives."""
    path = tmp_path / "marrowfind.sqlite3"
    configured = connections.configure_settings(
        {"default": parse_database_url(f"sqlite:///{path.as_posix()}")}
    )
    monkeypatch.setitem(connections.settings, ALIAS, configured["default"])
    with django_db_blocker.unblock():
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (value integer NOT NULL)")
            cursor.execute("INSERT INTO counter (value) VALUES (0)")
        try:
            yield path
        finally:
            connections[ALIAS].close()


def _add_one(start: threading.Barrier) -> str | None:
    """One writer: the error it met, or None."""
    start.wait()
    try:
        with transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT value FROM counter")
            (value,) = cursor.fetchone()
            time.sleep(0.1)  # long enough for the others to read too, where their transactions let them
            cursor.execute("UPDATE counter SET value = %s", [value + 1])
    except OperationalError as exc:
        return str(exc)
    finally:
        connections[ALIAS].close()
    return None


def test_concurrent_read_then_write_transactions_all_commit(sqlite_file: Path) -> None:
    start = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        errors = [error for error in pool.map(lambda _: _add_one(start), range(WRITERS)) if error]
    assert errors == []
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT value FROM counter")
        assert cursor.fetchone() == (WRITERS,)  # and no update was lost
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone() == ("wal",)  # readers do not wait for a writer
