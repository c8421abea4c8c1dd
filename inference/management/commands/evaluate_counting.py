"""`manage.py evaluate_counting --data DIR [--counts FILE.csv] [--out FILE.json] [--limit N]
[--force] [--recount FILE.csv] [--per-image] [--perturb hue=15,scale=0.5] [--stain auto|FILE.json|none]
[--scale auto|FILE.json|none] [--watershed-only] [--learned-radius]`.

Thin wrapper of `inference.engine.counting.evaluate_counting` on a Pascal VOC folder
(`Images/`, `Annotations/`; objects WBC, RBC, Platelets), e.g. `../shared/data/counting/cbc`; with
`--counts`, of `inference.engine.eye_counts.evaluate_eye_counts` on any image folder and a CSV of
counts made by eye, e.g. `../shared/data/all4/val` and `docs/data/all4-val-recount.csv`.

As `evaluate_classifier --out`: an existing --out is replaced only with --force (it had been written
over, whatever it was), the report is written whole or not at all, and it is strict JSON (a number
that is not finite is null).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.cli_checks import check_output_file, positive_int, write_output_file

if TYPE_CHECKING:
    from inference.engine.perturbation import Perturbation
    from inference.engine.scale_calibration import ScaleCalibration
    from inference.engine.segmentation_params import SegmentationParams
    from inference.engine.stain_calibration import StainCalibration


class Command(BaseCommand):
    help = (
        "Segment every image of a Pascal VOC folder and compare the counts of nucleated (WBC) and red "
        "(RBC) cells with the boxes: MAE, MAPE and exact-count fraction per kind, as JSON. With --counts, "
        "compare the fields a CSV lists with the counts someone made by eye instead."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data",
            type=Path,
            required=True,
            metavar="DIR",
            help="folder with Images/ and Annotations/ (with --counts: the folder the CSV's paths are in)",
        )
        parser.add_argument(
            "--counts",
            type=Path,
            default=None,
            metavar="FILE.csv",
            help="fields counted by eye (columns image, nucleated and/or red_cells, optional batch) to "
            "compare with, instead of the boxes",
        )
        parser.add_argument(
            "--limit", type=positive_int, default=None, metavar="N", help="evaluate only the first N images"
        )
        parser.add_argument(
            "--out", type=Path, default=None, metavar="FILE.json", help="write the full JSON report here"
        )
        parser.add_argument("--force", action="store_true", help="replace an existing --out file")
        parser.add_argument(
            "--recount",
            type=Path,
            default=None,
            metavar="FILE.csv",
            help="red cells counted by eye (columns image, red_cells): adds the error against them",
        )
        parser.add_argument("--per-image", action="store_true", help="print per-image rows too")
        parser.add_argument(
            "--watershed-only",
            action="store_true",
            help="count red cells without the centre network's second opinion (for comparison)",
        )
        parser.add_argument(
            "--learned-radius",
            action="store_true",
            help="size the red cells with the radius network (MARROWFIND_RADIUS_MODEL_DIR or the shipped "
            "one) instead of the radius estimate (docs/counting.md)",
        )
        parser.add_argument(
            "--perturb",
            default=None,
            help="change each image as read: hue=DEGREES, saturation=, brightness=, exposure=, "
            "haematoxylin=, eosin=, scale= (factors; the boxes follow the scale), blur=PIXELS, noise=LEVELS, "
            "jpeg=QUALITY, "
            "tile=K (the field mirrored into K x K copies; the reference counts are multiplied by K x K), "
            "e.g. hue=15,scale=0.5",
        )
        parser.add_argument(
            "--stain",
            default=None,
            metavar="auto|FILE.json|none",
            help="count under a stain calibration: a file written by calibrate_stain; auto to calibrate on "
            "every image under --data first (as perturbed); none for no correction (default: the file "
            "MARROWFIND_STAIN_CALIBRATION names, else none); docs/counting.md",
        )
        parser.add_argument(
            "--scale",
            default=None,
            metavar="auto|FILE.json|none",
            help="count under a scale calibration: a file written by calibrate_scale; auto to calibrate on "
            "every image under --data first (as perturbed, under the stain calibration); none for none "
            "(default: the file MARROWFIND_SCALE_CALIBRATION names, else none); docs/counting.md",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.counting import evaluate_counting, load_recount
        from inference.engine.errors import EngineError
        from inference.engine.evaluation import report_json
        from inference.engine.eye_counts import evaluate_eye_counts, load_eye_counts
        from inference.engine.perturbation import parse_perturbation
        from inference.engine.segmentation import SegmentationParams

        if options["counts"] is not None and options["recount"] is not None:
            raise CommandError("--recount adds to the boxes of a VOC folder; with --counts there are none.")
        params = SegmentationParams(
            use_centre_network=not options["watershed_only"], learned_radius=options["learned_radius"]
        )
        try:
            if options["out"] is not None:
                check_output_file(options["out"], "--out", overwrite=options["force"])
            perturb = parse_perturbation(options["perturb"])
            calibration = self._calibration(options["stain"], options["data"], perturb)
            params = calibration.applied_to(params)
            scale = self._scale(options["scale"], options["data"], perturb, params)
            params = scale.applied_to(params)
            if options["counts"] is not None:
                counts = load_eye_counts(options["counts"])
                report = evaluate_eye_counts(
                    options["data"], counts, params, limit=options["limit"], perturb=perturb
                )
            else:
                recount = load_recount(options["recount"]) if options["recount"] is not None else None
                report = evaluate_counting(
                    options["data"], params, limit=options["limit"], recount=recount, perturb=perturb
                )
            report["summary"]["stain_calibration"] = calibration.to_dict()
            report["summary"]["scale_calibration"] = scale.to_dict()
            if options["out"] is not None:
                write_output_file(options["out"], report_json(report), "--out")
        except (EngineError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        shown = report if options["per_image"] else report["summary"]
        self.stdout.write(report_json(shown))

    @staticmethod
    def _calibration(stain: str | None, data: Path, perturb: Perturbation | None) -> StainCalibration:
        from inference.engine.stain_calibration import (
            StainCalibration,
            calibrate_stain_folder,
            laboratory_calibration,
        )

        if stain is None:
            return laboratory_calibration()
        if stain == "none":
            return StainCalibration()
        if stain == "auto":
            return calibrate_stain_folder(data, perturb=perturb)
        return StainCalibration.load(Path(stain))

    @staticmethod
    def _scale(
        scale: str | None, data: Path, perturb: Perturbation | None, params: SegmentationParams
    ) -> ScaleCalibration:
        from inference.engine.scale_calibration import (
            ScaleCalibration,
            calibrate_scale_folder,
            laboratory_scale,
        )

        if scale is None:
            return laboratory_scale()
        if scale == "none":
            return ScaleCalibration()
        if scale == "auto":
            return calibrate_scale_folder(data, params, perturb=perturb)
        return ScaleCalibration.load(Path(scale))
