"""First-run set-up for the zero-configuration install: demo staff and the shipped model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.demo import ensure_demo_staff
from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.engine import worker_load
from inference.engine.errors import ModelArtifactError
from inference.registry import ensure_default_model


class Command(BaseCommand):
    help = "Create the demo institution and staff (printed), and register the shipped model."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Demo accounts (Demo Haematology Laboratory):"))
        for email, password, role in ensure_demo_staff():
            self.stdout.write(f"  {role:<24} {email:<38} password: {password}")
        try:
            with audit_context(source=AuditSource.COMMAND, actor_label="manage.py bootstrap"):
                # On the first run the folder is loaded as a worker would before it is registered.
                version = ensure_default_model(trial_load=worker_load.load_as_a_worker)
        except ModelArtifactError as exc:
            # The demo accounts above stand; the server may start, and analyses wait for a model.
            self.stdout.write(
                self.style.WARNING(
                    f"No model is active. The configured model folder {settings.DEFAULT_MODEL_DIR} "
                    f"(MARROWFIND_MODEL_DIR, or the shipped one) cannot be used: {exc} Analyses will wait "
                    "until a model is registered and activated (`manage.py register_model PATH --activate`)."
                )
            )
            return
        self.stdout.write(f"Active model: {version}")
