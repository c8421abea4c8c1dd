"""First-run set-up for the zero-configuration install: demo staff and the shipped model."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.demo import ensure_demo_staff
from cases.audit.context import audit_context
from cases.models.audit import AuditSource
from inference.registry import ensure_default_model


class Command(BaseCommand):
    help = "Create the demo institution and staff (printed), and register the shipped model."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Demo accounts (Demo Haematology Laboratory):"))
        for email, password, role in ensure_demo_staff():
            self.stdout.write(f"  {role:<24} {email:<38} password: {password}")
        with audit_context(source=AuditSource.COMMAND, actor_label="manage.py bootstrap"):
            version = ensure_default_model()
        if version is None:
            self.stdout.write(
                self.style.WARNING("No model is registered and none is shipped: analyses will wait.")
            )
        else:
            self.stdout.write(f"Active model: {version}")
