"""Optimistic concurrency for the rows people edit in forms (patients, cases).

An edit form carries the `row_version` it was opened at. The service compares it with the row it has
re-read under its lock and refuses the save, writing nothing, when someone changed the row since: two
people had opened the same form, and the later save silently undid the earlier. A caller that passes
no version (a worker, a command, later the API where the client sent none) edits the row as it is now.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import AuditEvent
from cases.models.audit import AuditAction
from cases.models.versioned import Versioned


def refuse_stale_edit(locked: Versioned, seen_version: int | None) -> None:
    """Refuse the edit when `seen_version` (the version the editor saw) is not the stored one."""
    if seen_version is not None and seen_version != locked.row_version:
        raise ValidationError(_changed_since_message(locked), code="stale")


def _changed_since_message(locked: Versioned) -> str:
    # Every write that moves the version is an audited update of the row: the latest names who and when.
    what = locked._meta.verbose_name
    latest = (
        AuditEvent.objects.filter(
            action=AuditAction.UPDATE,
            target_type=locked._meta.label,
            target_id=str(locked.pk),
        )
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if latest is None:
        return f"This {what} was changed since you opened it; reload to see the change."
    who = latest.actor or latest.actor_label  # a person by name; a worker job by its label
    when = date_format(timezone.localtime(latest.created_at), "DATETIME_FORMAT")
    return f"This {what} was changed by {who} at {when} since you opened it; reload to see their change."
