"""What a laboratory's stain and scale calibrations share: the folder of its fields, reading their JSON
files, and the bounded numbers in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .datasets import IMAGE_SUFFIXES
from .errors import DatasetError, EngineError


def laboratory_fields(folder: str | Path) -> list[Path]:
    """The image files anywhere under `folder` (class sub-folders included), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder.")
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
    )


def read_calibration_json(path: str | Path, what: str, error: type[EngineError]) -> Any:
    """The JSON a calibration file holds; `error` (saying "Cannot read the `what` ...") otherwise."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    # ValueError: bad JSON or encoding, or an integer too long to convert; RecursionError: deep nesting.
    except (OSError, ValueError, RecursionError) as exc:
        raise error(f"Cannot read the {what} {Path(path).name}: {exc}") from exc


def bounded_number(
    data: dict[str, Any],
    key: str,
    bounds: tuple[float, float],
    name: str,
    error: type[EngineError],
    *,
    default: float | None = None,
    kind: str = "a number",
) -> float:
    """`data[key]` as a float within `bounds`; `default` when absent (required when None)."""
    value = data.get(key, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise error(f"{name}: {key} must be {kind} in [{low:g}, {high:g}]; got {value!r}.")
    return float(value)
