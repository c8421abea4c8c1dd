from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model


def find_version(reference: str) -> ModelVersion:
    """A version by external id, by weights sha256 (or a unique prefix of 8+), or by `name:version`."""
    try:
        return ModelVersion.objects.get(external_id=uuid.UUID(reference))
    except (ValueError, ModelVersion.DoesNotExist):
        pass
    if ":" in reference:
        name, version = reference.split(":", 1)
        found = ModelVersion.objects.filter(name=name, version=version)
    elif len(reference) >= 8:
        found = ModelVersion.objects.filter(weights_sha256__startswith=reference.lower())
    else:
        found = ModelVersion.objects.none()
    if found.count() != 1:
        raise CommandError(f"No single registered model matches {reference!r}; see `manage.py list_models`.")
    return found.get()


class Command(BaseCommand):
    help = "Make a registered model version the one new analyses use."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="External id, weights sha256 prefix, or name:version.")

    def handle(self, *args: Any, **options: Any) -> None:
        version = find_version(options["version"])
        with audit_context(source=AuditSource.COMMAND, actor_label="manage.py activate_model"):
            try:
                activate_model(version)
            except ModelArtifactError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"Active model: {version}")
