"""`manage.py verify_audit`: prove the audit trail has not been changed since it was written.

Exit status 0 when the chain is intact, 1 at the first broken link (printed with the row's id,
external id, time and what is wrong). Meant for a nightly job; keep the printed last hash somewhere
else and pass it back as --anchor to detect rows cut off the end.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.audit.verify import DEFAULT_CHUNK_SIZE, verify_chain
from cases.models.audit import AuditEvent


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail; exits non-zero at the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK_SIZE,
            help="Rows read per query (default %(default)s).",
        )
        parser.add_argument(
            "--anchor", default=None, help="A hash printed by an earlier run that must still be in the chain."
        )
        parser.add_argument("--no-progress", action="store_true", help="Never show a progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        as_json: bool = options["json"]
        # A progress bar only for a person watching a terminal, never in logs or JSON output.
        show_progress = not as_json and not options["no_progress"] and self.stdout.isatty()
        bar = tqdm(total=AuditEvent.objects.count(), unit="rows", file=sys.stderr) if show_progress else None
        try:
            report = verify_chain(
                chunk_size=options["chunk_size"],
                anchor=options["anchor"],
                on_row=bar.update if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.close()

        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif report.broken is None:
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {report.checked} rows checked.")
                + (f"\nLast row {report.last_id}, hash {report.last_hash}" if report.last_id else "")
            )
        else:
            broken = report.broken
            where = (
                f"row {broken.id} ({broken.external_id}, written {broken.created_at.isoformat()})"
                if broken.id is not None and broken.created_at is not None
                else "end of chain"
            )
            self.stderr.write(
                self.style.ERROR(f"Audit chain BROKEN at {where}: {broken.problem}.")
                + f"\n{report.checked} rows before it verified."
            )
        if not report.intact:
            sys.exit(1)
