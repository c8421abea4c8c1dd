"""What `choose_centre_threshold` and `choose_radius_factor` share: a network's folder, the fields
counted by eye that score each candidate value, and the report and record of the choice."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import OutputWrapper


def number_list(text: str, low: float, high: float, *, inclusive: bool) -> list[float]:
    """Sorted distinct numbers of a comma-separated list, each within (low, high) or [low, high]."""
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    inside: Callable[[float], bool] = (
        (lambda value: low <= value <= high) if inclusive else (lambda value: low < value < high)
    )
    if not values or not all(map(inside, values)):
        bounds = f"from {low:g} to {high:g}" if inclusive else f"between {low:g} and {high:g}"
        raise argparse.ArgumentTypeError(f"values must lie {bounds}")
    return values


def add_choice_arguments(parser: argparse.ArgumentParser, network: str) -> None:
    """MODEL_DIR, --data, --recount, --write and --json."""
    parser.add_argument("model", type=Path, metavar="MODEL_DIR", help=f"the {network}'s artifact folder")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="folder with Images/")
    parser.add_argument(
        "--recount",
        type=Path,
        required=True,
        metavar="FILE.csv",
        help="red cells counted by eye (columns image, red_cells); keep held-out fields out of it",
    )
    parser.add_argument("--write", action="store_true", help="store the best value in model.json")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def choice_record(
    recount_path: Path,
    recount: dict[str, int],
    errors: dict[float, float],
    best: float,
    previous: float | None,
) -> dict[str, Any]:
    """How a value was chosen, as stored under `KEY_choice` in model.json."""
    return {
        "recount": recount_path.name,
        "fields": sum(1 for count in recount.values() if count > 0),
        "mape_percent": {f"{value:g}": error for value, error in errors.items()},
        "chosen": best,
        "previous": previous,
        "date": dt.date.today().isoformat(),
    }


def report_choice(
    stdout: OutputWrapper,
    choice: dict[str, Any],
    errors: dict[float, float],
    options: dict[str, Any],
    name: str,
) -> None:
    """The error at each value and the choice (`name`, e.g. "Peak threshold"), or the record as JSON."""
    if options["json"]:
        stdout.write(json.dumps(choice, indent=2))
        return
    best = choice["chosen"]
    for value, error in errors.items():
        mark = "  <- best" if value == best else ""
        stdout.write(f"{value:<6g} {error:6.2f}%{mark}")
    written = "written to model.json" if options["write"] else "not written (add --write)"
    stdout.write(f"{name} {best:g} ({errors[best]:.2f}% over {choice['fields']} fields), {written}.")
