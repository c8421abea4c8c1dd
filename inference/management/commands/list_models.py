from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inference.models import ModelVersion


class Command(BaseCommand):
    help = "List registered model versions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        rows: list[dict[str, Any]] = [
            {
                "external_id": str(v.external_id),
                "name": v.name,
                "version": v.version,
                "backbone": v.backbone,
                "weights_sha256": v.weights_sha256,
                "model_json_sha256": v.model_json_sha256 or None,  # None: registered before it was recorded
                "active": v.is_active,
                "path": v.path,
            }
            for v in ModelVersion.objects.all()
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            mark = "*" if row["active"] else " "
            self.stdout.write(
                f"{mark} {row['name']} {row['version']}  {row['weights_sha256'][:12]}  {row['external_id']}"
            )
        if not rows:
            self.stdout.write("No models registered.")
