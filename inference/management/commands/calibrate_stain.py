"""`manage.py calibrate_stain --data DIR --out FILE.json [--force] [--counts FILE.csv] [--perturb SPEC]
[--json]`.

Measures a laboratory's stain on a set of its fields (every image under DIR, at least 10 with white
cells or platelets) and writes the calibration that the segmentation reads its nuclei under when
`MARROWFIND_STAIN_CALIBRATION` names the file (`inference.engine.stain_calibration`, docs/counting.md).
A correction can count worse where a stain's chemistry, not the whole colour, changed; with
`--counts` (fields of DIR counted by eye) it is written only if it counts none of the kinds worse.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.cli_checks import check_output_file
from inference.management.calibration_options import add_calibration_arguments

if TYPE_CHECKING:
    from inference.engine.stain_calibration import StainCalibration


class Command(BaseCommand):
    # It writes the file a check of MARROWFIND_STAIN_CALIBRATION would refuse: a broken installed file must
    # not stop the command that replaces it (the checks' own hint names this command).
    requires_system_checks: list[str] = []
    help = (
        "Measure a laboratory's stain (its nuclei's hue and chroma) on a folder of its smear fields and "
        "write the stain calibration for MARROWFIND_STAIN_CALIBRATION; with --counts, only if it counts "
        "the fields counted by eye no worse."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_calibration_arguments(
            parser,
            "change each image as read (hue=DEGREES, saturation=, brightness=, haematoxylin=, eosin=), to "
            "try a stain shift",
        )
        parser.add_argument(
            "--counts",
            type=Path,
            default=None,
            metavar="FILE.csv",
            help="fields of DIR counted by eye (as evaluate_counting --counts): count them without and "
            "with the correction, and write it only if no kind counts worse",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.errors import EngineError
        from inference.engine.eye_counts import check_stain_calibration, load_eye_counts
        from inference.engine.perturbation import parse_perturbation
        from inference.engine.stain_calibration import calibrate_stain_folder

        quiet = options["json"]
        check = None
        try:
            check_output_file(options["out"], "--out", overwrite=options["force"])
            perturb = parse_perturbation(options["perturb"])
            calibration = calibrate_stain_folder(options["data"], perturb=perturb, progress=not quiet)
            if options["counts"] is not None and calibration.corrects:
                counts = load_eye_counts(options["counts"])
                check = check_stain_calibration(
                    options["data"], counts, calibration, perturb=perturb, progress=not quiet
                )
        except (EngineError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if check is not None and check["worse"]:
            raise CommandError(
                f"Not written: {_describe(calibration)} counts the fields counted by eye worse "
                f"({_comparison(check)}); count without a calibration."
            )
        try:
            calibration.save(options["out"])
        # EngineError: a calibration the loader would refuse is not written (`StainCalibration.save`).
        except (OSError, EngineError) as exc:
            raise CommandError(f"Cannot write {options['out']}: {exc}") from exc
        if quiet:
            self.stdout.write(json.dumps({"calibration": calibration.to_dict(), "check": check}, indent=2))
            return
        self.stdout.write(
            f"{calibration.fields} fields: nuclei at {calibration.nucleus_hue:.1f} degrees of hue, chroma "
            f"{calibration.nucleus_chroma:.1f}; {_describe(calibration)}."
        )
        if check is not None:
            self.stdout.write(f"On the fields counted by eye: {_comparison(check)}.")
        self.stdout.write(f"Written to {options['out']}; set MARROWFIND_STAIN_CALIBRATION to use it.")


def _describe(calibration: StainCalibration) -> str:
    if not calibration.corrects:
        return "within the reference's range, no correction"
    return f"the correction (hue {calibration.hue_shift:+.1f} degrees, chroma x{calibration.chroma_gain:.2f})"


def _comparison(check: dict[str, Any]) -> str:
    parts = []
    for kind, metric, label, unit in (
        ("nucleated", "mae", "nucleated MAE", ""),
        ("red", "mape_percent", "red MAPE", "%"),
    ):
        if kind in check["without"]:
            before, after = check["without"][kind][metric], check["with"][kind][metric]
            parts.append(f"{label} {before:.2f}{unit} without, {after:.2f}{unit} with")
    return "; ".join(parts)
