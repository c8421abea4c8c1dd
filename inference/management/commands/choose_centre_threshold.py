"""`manage.py choose_centre_threshold MODEL_DIR --data DIR --recount FILE.csv [--thresholds T,T,...]
[--write] [--json]`.

A red-cell centre network's peak heights depend on its training run (two runs of one recipe wanted
0.175 and 0.275, docs/counting.md), so each network needs its own threshold. This scores the fused
red-cell count at each threshold against fields counted by eye and, with `--write`, stores the best
one as the artifact's `peak_threshold`, which the segmentation then uses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

# 0.05 to 0.5 in steps of 0.025: the shipped networks' best thresholds lie between 0.175 and 0.275.
DEFAULT_THRESHOLDS = tuple(round(0.05 + 0.025 * step, 3) for step in range(19))


def _thresholds(text: str) -> list[float]:
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not values or not all(0 < value < 1 for value in values):
        raise argparse.ArgumentTypeError("thresholds must lie between 0 and 1")
    return values


class Command(BaseCommand):
    help = (
        "Choose a red-cell centre network's peak threshold: the fused count's RBC error against a "
        "recount at each threshold, the best stored in model.json with --write."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", type=Path, metavar="MODEL_DIR", help="the network's artifact folder")
        parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="folder with Images/")
        parser.add_argument(
            "--recount",
            type=Path,
            required=True,
            metavar="FILE.csv",
            help="red cells counted by eye (columns image, red_cells); keep held-out fields out of it",
        )
        parser.add_argument(
            "--thresholds",
            type=_thresholds,
            default=list(DEFAULT_THRESHOLDS),
            metavar="T,T,...",
            help="peak heights to try (default 0.05 to 0.5 in steps of 0.025)",
        )
        parser.add_argument("--write", action="store_true", help="store the best threshold in model.json")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.counting import load_recount
        from inference.engine.errors import EngineError
        from inference.engine.red_cell_centres import CentreModel
        from inference.engine.red_cell_training import record_peak_threshold, threshold_errors

        try:
            model = CentreModel(options["model"])
            recount = load_recount(options["recount"])
            errors = threshold_errors(model, options["data"], recount, options["thresholds"])
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        # The lowest error; on a tie the lower threshold, which hears the network on more cells.
        best = min(errors, key=lambda threshold: (errors[threshold], threshold))
        choice = {
            "recount": options["recount"].name,
            "fields": sum(1 for count in recount.values() if count > 0),
            "mape_percent": {f"{threshold:g}": error for threshold, error in errors.items()},
            "chosen": best,
            "previous": model.peak_threshold,
            "date": dt.date.today().isoformat(),
        }
        if options["write"]:
            record_peak_threshold(options["model"], best, choice)
        if options["json"]:
            self.stdout.write(json.dumps(choice, indent=2))
            return
        for threshold, error in errors.items():
            mark = "  <- best" if threshold == best else ""
            self.stdout.write(f"{threshold:<6g} {error:6.2f}%{mark}")
        written = "written to model.json" if options["write"] else "not written (add --write)"
        self.stdout.write(
            f"Peak threshold {best:g} ({errors[best]:.2f}% over {choice['fields']} fields), {written}."
        )
