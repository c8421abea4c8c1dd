"""`manage.py train_red_cell_centres --data DIR --out DIR [--exclude FILE.csv ...] [--centres FILE.csv ...]
[--steps N] [--seed N] [--radius]`.

Trains the red-cell centre network on a Pascal VOC folder's boxes (e.g. `../shared/data/counting/cbc`);
the fields named in the `--exclude` CSVs (column `image`: the recounts) are left out so they can judge it.
Fields with every red cell marked in a `--centres` CSV (columns image, x, y) learn from those marks.
With `--radius` it trains the radius network instead (`red_cell_radius`: the same U-Net with a head
that learns each boxed red cell's size, for the segmentation's learned-radius mode).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.cli_checks import check_output_folder, non_negative_int, positive_int


class Command(BaseCommand):
    help = "Train the red-cell centre network on VOC red-cell boxes and write its artifact folder."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data", type=Path, required=True, metavar="DIR", help="Images/ and Annotations/"
        )
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="artifact folder to write")
        parser.add_argument(
            "--exclude",
            type=Path,
            action="append",
            default=[],
            metavar="FILE.csv",
            help="CSV whose column `image` names fields to leave out (repeatable; every name must be a "
            "field of --data)",
        )
        parser.add_argument(
            "--centres",
            type=Path,
            action="append",
            default=[],
            metavar="FILE.csv",
            help="CSV of marked red-cell centres (image, x, y) of fields whose every red cell is marked "
            "(repeatable; a field may be marked in one file only)",
        )
        parser.add_argument(
            "--steps", type=positive_int, default=5000, metavar="N", help="training steps of 16 crops"
        )
        parser.add_argument(
            "--seed", type=non_negative_int, default=0, metavar="N", help="random seed (>= 0)"
        )
        parser.add_argument(
            "--radius",
            action="store_true",
            help="train the radius network (centres and each boxed red cell's size) instead",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.counting import find_pairs
        from inference.engine.errors import EngineError
        from inference.engine.red_cell_radius_training import RADIUS_ARCHITECTURE
        from inference.engine.red_cell_training import (
            CENTRE_ARCHITECTURE,
            load_centre_samples,
            train_centre_net,
            write_centre_artifact,
        )

        if options["steps"] < 1:
            raise CommandError("--steps must be at least 1.")
        if options["seed"] < 0:
            raise CommandError("--seed must be at least 0.")
        # An existing artifact is never overwritten: refused before any work.
        from inference.engine.artifact import check_new_artifact_folder

        try:
            check_new_artifact_folder(options["out"])
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        exclusions: dict[Path, set[str]] = {}
        for path in options["exclude"]:
            try:
                with path.open(newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
                    names = {row["image"].strip() for row in csv.DictReader(handle)}
            except (OSError, KeyError, AttributeError, UnicodeDecodeError, csv.Error) as exc:
                raise CommandError(f"{path.name}: not a CSV with the column image ({exc}).") from exc
            exclusions[path] = names - {""}
        excluded: set[str] = set().union(*exclusions.values())
        try:
            # Checked before the fields are prepared (about a minute on CBC) and trained on, not after.
            check_output_folder(options["out"], "--out")
            images = {image.name: image for image, _ in find_pairs(options["data"])}
            for path, names in exclusions.items():
                # A misspelt name would leave a held-out field in the training set without a word.
                unknown = sorted(names - images.keys())
                if unknown:
                    raise CommandError(
                        f"{path.name}: fields to exclude that are not in {options['data'].name}: "
                        f"{', '.join(unknown[:5])}."
                    )
            marked = _merged_marks(options["centres"], images)
            unknown = sorted(marked.keys() - images.keys())
            if unknown:
                raise CommandError(f"Marked fields not in {options['data'].name}: {', '.join(unknown[:5])}.")
            samples = load_centre_samples(options["data"], excluded, marked=marked)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        if not samples:
            raise CommandError(f"{options['data'].name}: no fields left to train on after --exclude.")
        if options["radius"]:
            model = _train_radius(options["data"], samples, options["steps"], options["seed"])
        else:
            model = train_centre_net(samples, options["steps"], options["seed"])
        provenance = {
            "data": {
                "folder": options["data"].name,
                "fields": len(samples),
                "fields_marked": len(marked.keys() - excluded),
                "centres": [path.name for path in options["centres"]],
                "excluded": sorted(excluded),
            },
            "hyperparameters": {"steps": options["steps"], "seed": options["seed"], "batch": 16, "crop": 80},
        }
        architecture = RADIUS_ARCHITECTURE if options["radius"] else CENTRE_ARCHITECTURE
        try:
            folder = write_centre_artifact(model, options["out"], provenance, architecture)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote {folder}: trained on {len(samples)} fields, {options['steps']} steps.")


def _train_radius(data: Path, samples: list[Any], steps: int, seed: int) -> Any:
    """The radius network, trained on the samples and their fields' red-cell box sizes."""
    from inference.engine.counting import find_pairs
    from inference.engine.errors import EngineError
    from inference.engine.red_cell_radius_training import radius_sample, train_radius_net

    try:
        annotations = {image.name: xml for image, xml in find_pairs(data)}
        sized = [radius_sample(sample, annotations[sample.name]) for sample in samples]
    except EngineError as exc:
        raise CommandError(str(exc)) from exc
    return train_radius_net(sized, steps, seed)


def _merged_marks(paths: list[Path], images: dict[str, Path]) -> dict[str, list[tuple[float, float]]]:
    """The marks of every `--centres` file; a field marked in two files is refused (whose marks?), and
    so is a mark outside its image (`images`: file name -> image file)."""
    from inference.engine.red_cell_training import load_marked_centres

    marked: dict[str, list[tuple[float, float]]] = {}
    for path in paths:
        marks = load_marked_centres(path, images)
        twice = sorted(marks.keys() & marked.keys())
        if twice:
            raise CommandError(
                f"{path.name}: fields marked in an earlier --centres file: {', '.join(twice[:5])}."
            )
        marked.update(marks)
    return marked
