"""Remove smear image files that no SlideImage row refers to.

An upload stores its file just before the row's transaction commits, and removes it if the
transaction fails; only a process killed between the two can leave a file behind. Files younger
than --min-age are left alone, since an upload may be committing right now.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cases.models import SlideImage

UPLOAD_ROOT = "slides"


def orphan_files(min_age_seconds: float) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    referenced = {root / name for name in SlideImage.objects.values_list("file", flat=True)}
    cutoff = time.time() - min_age_seconds
    return sorted(
        path
        for path in (root / UPLOAD_ROOT).rglob("*")
        if path.is_file() and path not in referenced and path.stat().st_mtime < cutoff
    )


class Command(BaseCommand):
    help = "List (or with --delete, remove) uploaded image files that no slide image refers to."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="remove them (default: only list)")
        parser.add_argument("--min-age", type=float, default=3600, help="seconds; younger files are kept")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        orphans = orphan_files(options["min_age"])
        if options["delete"]:
            for path in orphans:
                path.unlink(missing_ok=True)
        names = [path.relative_to(settings.MEDIA_ROOT).as_posix() for path in orphans]
        if options["json"]:
            self.stdout.write(json.dumps({"orphans": names, "deleted": bool(options["delete"])}))
            return
        verb = "Removed" if options["delete"] else "Found"
        self.stdout.write(f"{verb} {len(names)} orphan file(s).")
        for name in names:
            self.stdout.write(f"  {name}")
