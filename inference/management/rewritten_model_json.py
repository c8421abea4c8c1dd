"""For the commands that rewrite a model.json in place: its registered version, if any, records it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.engine.errors import ModelArtifactError
from inference.registry import Registration, record_rewritten_model_json


def record_in_registry(folder: str | Path, command: str, what: str) -> Registration | None:
    """Register `folder` again when its weights are registered from it (audited as `manage.py
    COMMAND`); `what` names what was written, for the error that says the record was not updated."""
    with audit_context(source=AuditSource.COMMAND, actor_label=f"manage.py {command}"):
        try:
            return record_rewritten_model_json(folder)
        except ModelArtifactError as exc:
            raise CommandError(
                f"{what} was written to {folder}, but its registered version was not updated: {exc}"
            ) from exc


def updated_message(registration: Registration | None) -> str | None:
    """What to tell the user when a registered version took the new model.json."""
    if registration is None or not registration.updated:
        return None
    return (
        f"Its registered version {registration.version} now records the new model.json "
        "(the values it replaced are in the audit trail)."
    )
