"""Who and where an audited action comes from, set once per request, job or command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from cases.models.audit import AuditSource


@dataclass(frozen=True)
class AuditContext:
    source: str = AuditSource.COMMAND
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    actor_label: str = ""


# AuditContext is frozen, so sharing one default instance is safe.
_current: ContextVar[AuditContext] = ContextVar("audit_context", default=AuditContext())  # noqa: B039


def current_context() -> AuditContext:
    return _current.get()


@contextmanager
def audit_context(**changes: str | None) -> Iterator[AuditContext]:
    """Override parts of the context for a block (e.g. source="worker" in a task)."""
    token = _current.set(replace(_current.get(), **changes))  # type: ignore[arg-type]
    try:
        yield _current.get()
    finally:
        _current.reset(token)
