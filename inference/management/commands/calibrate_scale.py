"""`manage.py calibrate_scale --data DIR --out FILE.json [--force] [--perturb SPEC] [--json]`.

Measures a laboratory's red-cell radius in pixels on a set of its fields (every image under DIR, at
least 10, taken with one camera and objective) and writes the scale calibration that the segmentation
keeps each field's own estimate within when `MARROWFIND_SCALE_CALIBRATION` names the file
(`inference.engine.scale_calibration`, docs/counting.md). The radii are estimated under the
laboratory's stain calibration, where `MARROWFIND_STAIN_CALIBRATION` names one.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.cli_checks import check_output_file
from inference.management.calibration_options import add_calibration_arguments


class Command(BaseCommand):
    # It writes the file a check of MARROWFIND_SCALE_CALIBRATION would refuse: a broken installed file must
    # not stop the command that replaces it (the checks' own hint names this command).
    requires_system_checks: list[str] = []
    help = (
        "Measure a laboratory's red-cell radius in pixels on a folder of its smear fields (one camera and "
        "objective) and write the scale calibration for MARROWFIND_SCALE_CALIBRATION."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_calibration_arguments(parser, "change each image as read (e.g. scale=0.5), to try another camera")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.errors import EngineError
        from inference.engine.perturbation import parse_perturbation
        from inference.engine.scale_calibration import calibrate_scale_folder
        from inference.engine.segmentation_params import SegmentationParams
        from inference.engine.stain_calibration import laboratory_calibration

        quiet = options["json"]
        try:
            check_output_file(options["out"], "--out", overwrite=options["force"])
            perturb = parse_perturbation(options["perturb"])
            params = laboratory_calibration().applied_to(SegmentationParams())
            calibration = calibrate_scale_folder(options["data"], params, perturb=perturb, progress=not quiet)
        except (EngineError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            calibration.save(options["out"])
        except (OSError, EngineError) as exc:
            raise CommandError(f"Cannot write {options['out']}: {exc}") from exc
        if quiet:
            self.stdout.write(
                json.dumps({**calibration.to_dict(), "warning": calibration.crowded_out}, indent=2)
            )
            return
        data = calibration.to_dict()
        low, high = data["bounds_px"]
        self.stdout.write(
            f"{calibration.fields} fields: red-cell radius {data['radius_px']:.1f} pixels (middle half "
            f"{data['lower_quartile_px']:.1f}-{data['upper_quartile_px']:.1f}); each field's estimate will "
            f"be kept within {low:.1f}-{high:.1f} ({calibration.fields_outside} of these fields' own lie "
            "outside it)."
        )
        self.stdout.write(f"Written to {options['out']}; set MARROWFIND_SCALE_CALIBRATION to use it.")
        if calibration.crowded_out is not None:
            self.stderr.write(f"Warning: {calibration.crowded_out}")
