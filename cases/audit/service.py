"""Writing audit rows. Every service that creates, changes, moves or shows clinical data calls this."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from cases.audit.chain import GENESIS_HASH, compute_hash
from cases.audit.context import current_context
from cases.audit.stored_json import stored_json
from cases.models.audit import AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Institution, User

# Any constant works: it only has to be the same in every process that appends to the chain.
_CHAIN_LOCK_KEY = 727_100_001


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """Field values of a row, keyed by name (foreign keys by their external id where they have one)."""
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.primary_key or field.name in {"created_at", "updated_at"}:
            continue
        if isinstance(field, models.ForeignKey):
            related = getattr(instance, field.name)
            values[field.name] = str(getattr(related, "external_id", related.pk)) if related else None
        elif isinstance(field, models.FileField):
            values[field.name] = getattr(instance, field.name).name
        else:
            values[field.name] = getattr(instance, field.attname)
    return stored_json(values)


def changed_values(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose values differ, as (before, after)."""
    keys = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def _stored_ip(value: str | None) -> str | None:
    """The client address as the database gives it back (IPv6 compressed), or None if malformed.

    The hash is computed before the insert; hashing the raw header value would make an
    uncompressed IPv6 address look like tampering to `verify_audit`.
    """
    if not value:
        return None
    try:
        ipaddress.ip_address(value)
        return clean_ipv6_address(value) if ":" in value else value
    except (ValueError, ValidationError):
        return None


def _lock_chain() -> None:
    # Appends are serialised so that two writers never link to the same previous row.
    # SQLite serialises writers itself; on PostgreSQL a transaction-level advisory lock does it.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def record_event(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    institution: Institution | None = None,
    case_external_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one row to the chain, in the caller's transaction (it commits or rolls back with it)."""
    context = current_context()
    user = actor if actor is not None and actor.is_authenticated else None
    if target is not None:
        target_type = target_type or target._meta.label
    # Hashed and stored in the form the database gives back, so `verify_audit` recomputes the same hash.
    stored_before, stored_after = stored_json(before or {}), stored_json(after or {})
    with transaction.atomic():
        _lock_chain()
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            actor=user,
            actor_label=((user.email if user else "") or context.actor_label or "anonymous")[:200],
            institution=institution,
            action=action,
            target_type=target_type,
            target_id=str(getattr(target, "external_id", "") or "") if target is not None else "",
            case_external_id=case_external_id,
            before=stored_before,
            after=stored_after,
            request_id=context.request_id,
            ip_address=_stored_ip(context.ip_address),
            user_agent=context.user_agent[:300],
            source=context.source,
            previous_hash=previous or GENESIS_HASH,
        )
        event.hash = compute_hash(event, event.previous_hash)
        event.save(force_insert=True)
    return event
