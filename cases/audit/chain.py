"""Hashing of audit rows: each row's hash covers its content and the previous row's hash.

Changing, removing or inserting a row breaks every later link, which `verify_audit` detects.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cases.models.audit import AuditEvent

GENESIS_HASH = "0" * 64


def canonical_content(event: AuditEvent) -> str:
    content = {
        "external_id": str(event.external_id),
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "institution_id": event.institution_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "case_external_id": str(event.case_external_id) if event.case_external_id else None,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "source": event.source,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def compute_hash(event: AuditEvent, previous_hash: str) -> str:
    return hashlib.sha256(f"{previous_hash}|{canonical_content(event)}".encode()).hexdigest()
