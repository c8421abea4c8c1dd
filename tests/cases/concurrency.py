"""Real concurrency on PostgreSQL, with a deterministic interleaving.

The test's own connection takes a lock (a row lock, or an uncommitted row a unique index guards); a
`Worker` thread runs the code under test on its own connection until PostgreSQL makes it wait for that
lock (`wait_until_blocked`); the test then does the competing change and commits, which lets the
worker go on. Nothing of the database is mocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

requires_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and lock waits are PostgreSQL's"
)

TIMEOUT_S = 10.0


class Worker:
    """Runs `work` in a thread on its own database connection, closed when it is done."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._work = work
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:
            self._error = exc
        finally:
            connections.close_all()

    def start(self) -> Worker:
        self._thread.start()
        return self

    def result(self) -> Any:
        """What `work` returned; what it raised is raised here."""
        self._thread.join(TIMEOUT_S)
        assert not self._thread.is_alive(), "the worker is still running"
        if self._error is not None:
            raise self._error
        return self._result


def wait_until_blocked() -> None:
    """Return once another session waits for a lock that this test's connection holds."""
    deadline = time.monotonic() + TIMEOUT_S
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks"
                " WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the worker never waited for the test's lock")
