"""`manage.py calibrate_stain --data DIR --out FILE.json [--perturb SPEC] [--json]`.

Measures a laboratory's stain on a set of its fields (every image under DIR, at least 10 with white
cells or platelets) and writes the calibration that the segmentation reads its nuclei under when
`MARROWFIND_STAIN_CALIBRATION` names the file (`inference.engine.stain_calibration`, docs/counting.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Measure a laboratory's stain (its nuclei's hue and chroma) on a folder of its smear fields and "
        "write the stain calibration for MARROWFIND_STAIN_CALIBRATION."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data",
            type=Path,
            required=True,
            metavar="DIR",
            help="folder of the laboratory's fields (any depth)",
        )
        parser.add_argument(
            "--out", type=Path, required=True, metavar="FILE.json", help="calibration to write"
        )
        parser.add_argument(
            "--perturb",
            default=None,
            help="change each image as read (hue=DEGREES, saturation=, brightness=, haematoxylin=, "
            "eosin=), to try a stain shift",
        )
        parser.add_argument("--json", action="store_true", help="print only the calibration, as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.errors import EngineError
        from inference.engine.perturbation import parse_perturbation
        from inference.engine.stain_calibration import calibrate_stain_folder

        try:
            calibration = calibrate_stain_folder(
                options["data"], perturb=parse_perturbation(options["perturb"]), progress=not options["json"]
            )
            calibration.save(options["out"])
        except (EngineError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(calibration.to_dict(), indent=2))
            return
        shift, gain = calibration.hue_shift, calibration.chroma_gain
        self.stdout.write(
            f"{calibration.fields} fields: nuclei at {calibration.nucleus_hue:.1f} degrees of hue, chroma "
            f"{calibration.nucleus_chroma:.1f}; "
            + (
                f"correction: hue {shift:+.1f} degrees, chroma x{gain:.2f}."
                if shift != 0.0 or gain != 1.0
                else "within the reference's range, no correction."
            )
        )
        self.stdout.write(f"Written to {options['out']}; set MARROWFIND_STAIN_CALIBRATION to use it.")
