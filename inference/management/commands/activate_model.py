from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model, find_version


class Command(BaseCommand):
    help = "Make a registered model version the one new analyses use."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="External id, weights sha256 prefix, or name:version.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = find_version(options["version"])
        except ModelVersion.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        with audit_context(source=AuditSource.COMMAND, actor_label="manage.py activate_model"):
            try:
                switched = activate_model(version)
            except ModelArtifactError as exc:
                raise CommandError(str(exc)) from exc
        if not switched:
            self.stdout.write(
                f"{version.name} {version.version} is already the active model; nothing changed."
            )
            return
        self.stdout.write(f"Active model: {version}")
