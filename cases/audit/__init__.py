"""The audit trail: an append-only, hash-chained table written by the services."""

from .service import record_event, snapshot

__all__ = ["record_event", "snapshot"]
