"""Two requests at once (a double submit of a registration, two supervisors activating different
versions) end in an answer, never in an IntegrityError.

The other request is played on the same connection, at the moment a real one would commit: after this
request has read the rows and before it writes. That is deterministic and works on SQLite as on
PostgreSQL; the rows the other request wrote are rolled back with this request's failed write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from cases.models import AuditEvent
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model, register_model
from tests.inference.model_artifacts import make_artifact

pytestmark = pytest.mark.django_db


@contextmanager
def other_request(run: Callable[[], Any], *, after: str, before: tuple[str, ...]) -> Iterator[None]:
    """Runs `run` once: after a statement containing `after` ("" for the first one), just before the
    next statement that starts with one of `before`."""
    state = {"armed": False, "done": False}

    def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if not state["done"]:
            if state["armed"] and sql.lstrip().upper().startswith(before):
                state["done"] = True  # the other request's own statements pass through
                run()
            elif after in sql:
                state["armed"] = True
        return execute(sql, *args)

    with connection.execute_wrapper(wrapper):
        yield
    assert state["done"], "the other request never ran"


def test_a_double_submitted_registration_returns_the_row_the_other_one_made(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    # The other submit commits after this one found no row for the weights and before it inserts one.
    with other_request(
        lambda: register_model(folder), after='"weights_sha256" = %s', before=("INSERT", "SAVEPOINT")
    ):
        version, created = register_model(folder)
    assert not created
    assert list(ModelVersion.objects.all()) == [version]
    assert AuditEvent.objects.filter(action="create", target_id=str(version.external_id)).count() == 1


def test_two_activations_at_once_end_in_a_clear_refusal(tmp_path: Path) -> None:
    register_model(make_artifact(tmp_path / "1", b"one", version="1"), activate=True)
    two, _ = register_model(make_artifact(tmp_path / "2", b"two", version="2"))
    three, _ = register_model(make_artifact(tmp_path / "3", b"three", version="3"))
    events = AuditEvent.objects.count()
    # The other activation switches 1 -> 2 after this one read that 1 is active, before it writes.
    with (
        other_request(lambda: activate_model(two), after="", before=("UPDATE",)),
        pytest.raises(ModelArtifactError, match=r"another activation ran at the same time\. Try again"),
    ):
        activate_model(three)
    three.refresh_from_db()
    assert not three.is_active
    assert AuditEvent.objects.count() == events  # the other one's event was rolled back with it here
    assert ModelVersion.objects.filter(is_active=True).count() == 1
