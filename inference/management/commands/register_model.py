from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.engine import worker_load
from inference.engine.errors import ModelArtifactError
from inference.registry import register_artifact


class Command(BaseCommand):
    help = (
        "Verify a model artifact folder (model.json, weights sha256, and a trial load as a worker loads "
        "it) and register it as a ModelVersion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The artifact folder (holds model.json).")
        parser.add_argument("--activate", action="store_true", help="Make it the model new analyses use.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(source=AuditSource.COMMAND, actor_label="manage.py register_model"):
            try:
                # Loaded first (TensorFlow, in this command's process only): the registry checks the
                # sha256, which weights that do not fit their architecture pass.
                registration = register_artifact(
                    options["path"], activate=options["activate"], trial_load=worker_load.load_as_a_worker
                )
            except ModelArtifactError as exc:
                raise CommandError(str(exc)) from exc
        version, created = registration.version, registration.created
        result = {
            "external_id": str(version.external_id),
            "name": version.name,
            "version": version.version,
            "weights_sha256": version.weights_sha256,
            "created": created,
            "active": version.is_active,
            "path": version.path,
            "moved_from": registration.moved_from,
            "model_json_changes": list(registration.updated),
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        verb = "Registered" if created else "Already registered:"
        self.stdout.write(f"{verb} {version} [{version.external_id}]")
        if registration.moved_from is not None:
            self.stdout.write(
                f"Its folder {registration.moved_from!r} no longer holds these weights: "
                f"the stored path is now {version.path!r}."
            )
        if registration.updated:
            self.stdout.write(
                f"Its model.json had changed since it was registered ({', '.join(registration.updated)}): "
                "the record now matches it, and the values it replaced are in the audit trail."
            )
