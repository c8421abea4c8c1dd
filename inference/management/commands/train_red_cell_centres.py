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
            help="CSV whose column `image` names fields to leave out (repeatable)",
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
        parser.add_argument("--steps", type=int, default=5000, help="training steps of 16 crops")
        parser.add_argument("--seed", type=int, default=0)
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
        excluded: set[str] = set()
        for path in options["exclude"]:
            try:
                with path.open(newline="", encoding="utf-8") as handle:
                    excluded |= {row["image"].strip() for row in csv.DictReader(handle)}
            except (OSError, KeyError, AttributeError, UnicodeDecodeError, csv.Error) as exc:
                raise CommandError(f"{path.name}: not a CSV with the column image ({exc}).") from exc
        try:
            marked = _merged_marks(options["centres"])
            # Checked before the fields are prepared (about a minute on CBC), not after.
            fields = {image.name for image, _ in find_pairs(options["data"])}
            unknown = sorted(marked.keys() - fields)
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
        folder = write_centre_artifact(model, options["out"], provenance, architecture)
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


def _merged_marks(paths: list[Path]) -> dict[str, list[tuple[float, float]]]:
    """The marks of every `--centres` file; a field marked in two files is refused (whose marks?)."""
    from inference.engine.red_cell_training import load_marked_centres

    marked: dict[str, list[tuple[float, float]]] = {}
    for path in paths:
        marks = load_marked_centres(path)
        twice = sorted(marks.keys() & marked.keys())
        if twice:
            raise CommandError(
                f"{path.name}: fields marked in an earlier --centres file: {', '.join(twice[:5])}."
            )
        marked.update(marks)
    return marked
