"""Checking the audit chain: every hash recomputed, every link to the row before compared.

A changed row no longer matches its own hash; a removed or inserted row breaks the link of the row
after it. The walk reads the table in id order and in chunks (keyset pagination), so memory stays
flat however long the trail grows.

What a chain alone cannot show: rows cut off the end, or rows appended by someone who recomputes
the hashes. `anchor` covers the first: a hash noted earlier (printed by `verify_audit`) must still
be in the chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from cases.audit.chain import GENESIS_HASH, compute_hash
from cases.models.audit import AuditEvent

DEFAULT_CHUNK_SIZE = 2000


@dataclass(frozen=True)
class ChainBreak:
    """The first row at which the chain does not hold."""

    id: int | None
    external_id: str
    created_at: dt.datetime | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["created_at"] = self.created_at.isoformat() if self.created_at else None
        return values


@dataclass(frozen=True)
class ChainReport:
    checked: int
    last_id: int | None
    last_hash: str
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "checked": self.checked,
            "last_id": self.last_id,
            "last_hash": self.last_hash,
            "broken": self.broken.as_dict() if self.broken else None,
        }


def iter_events(chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[AuditEvent]:
    """All rows in id order, fetched `chunk_size` at a time."""
    last_id = 0
    while True:
        chunk = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:chunk_size])
        if not chunk:
            return
        yield from chunk
        last_id = chunk[-1].id


def _problem(event: AuditEvent, expected_previous: str, previous_id: int | None) -> str | None:
    if event.previous_hash != expected_previous:
        where = f"row {previous_id}" if previous_id is not None else "the genesis value"
        return (
            f"previous_hash {event.previous_hash[:12]}… does not match the hash of {where} "
            f"({expected_previous[:12]}…): a row before it was removed, inserted or rewritten"
        )
    recomputed = compute_hash(event, event.previous_hash)
    if recomputed != event.hash:
        return (
            f"stored hash {event.hash[:12]}… does not match its content (recomputed {recomputed[:12]}…): "
            "the row was changed after it was written"
        )
    return None


def verify_chain(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    anchor: str | None = None,
    on_row: Callable[[], None] | None = None,
) -> ChainReport:
    """Walk the whole chain; stop at the first broken link. `on_row` is called once per row (progress)."""
    expected_previous = GENESIS_HASH
    previous_id: int | None = None
    checked = 0
    anchor_seen = anchor is None
    for event in iter_events(chunk_size):
        problem = _problem(event, expected_previous, previous_id)
        if problem is not None:
            broken = ChainBreak(event.id, str(event.external_id), event.created_at, problem)
            return ChainReport(checked, previous_id, expected_previous, broken)
        checked += 1
        anchor_seen = anchor_seen or event.hash == anchor
        expected_previous, previous_id = event.hash, event.id
        if on_row is not None:
            on_row()
    if not anchor_seen:
        broken = ChainBreak(
            None,
            "",
            None,
            f"the anchor hash {anchor} is not in the chain: rows were removed from its end or it was rebuilt",
        )
        return ChainReport(checked, previous_id, expected_previous, broken)
    return ChainReport(checked, previous_id, expected_previous, None)
