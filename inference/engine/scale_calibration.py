"""A laboratory's red-cell size in pixels, measured on a set of its fields, so that one field with few
cells cannot be counted at a size far from its camera's.

Every length of the segmentation is a multiple of the red-cell radius, estimated on each field from the
discs that pack its cell mask (`cell_radius`). On a field of many cells the estimate is steady, but on a
field of a few large cells (a camera with a smaller sensor, a field centred on one white cell) it can be
two or three times off: cut from the CBC fields, 360x360 crops got an estimate more than 28% from their
whole field's on 61 of 300 (docs/counting.md, "A laboratory's scale calibration"). A camera on one
objective gives its red cells one size within the spread of the cells themselves, and the median of
the estimates over a set of its fields is steady where single fields are not (the crops' median is 0.96-
1.01 of the whole fields'). So the size is measured once per camera and objective, and a field's own
estimate is then kept within `RANGE_FACTOR` of it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .atomic_files import atomic_write_bytes
from .errors import EngineError, ImageError
from .imageio import read_image
from .perturbation import Perturbation
from .segmentation import field_radius
from .segmentation_params import SegmentationParams
from .stain_calibration import laboratory_fields

SCALE_CALIBRATION_ENV = "MARROWFIND_SCALE_CALIBRATION"
# A field's estimate is kept within this factor of the laboratory's radius. The estimate itself
# scatters on whole fields: against the CBC boxes' half-size its log ratio has a standard deviation of
# 0.11-0.13, and 98% of the CBC fields' estimates lie within 0.78-1.28 of their median (all4 val: 90%
# within 0.79-1.32). 1.35 keeps every CBC field but one (BloodImage_00224, 24.6 pixels against a
# median of 42.5, a known miss) and the red cells' own spread between patients, and the crops' errors of
# two and three times are cut to it.
RANGE_FACTOR = 1.35
# Fewer fields give no calibration: single estimates on few-cell fields can be off two- or three-fold.
MIN_FIELDS = 10
# Fields at two magnifications (or two cameras) read as two clusters: an interquartile ratio beyond
# this is refused (the CBC set reads 1.13, all4 val 1.21).
MAX_QUARTILE_RATIO = 1.5
# A radius outside this (pixels) is no calibration of a microscope picture.
_RADIUS_LIMITS = (1.0, 10_000.0)


class ScaleCalibrationError(EngineError, ValueError):
    """A scale calibration that cannot be made or read (too few fields, fields at mixed magnifications, a
    malformed file)."""


@dataclass(frozen=True)
class ScaleCalibration:
    """A laboratory's red-cell radius in pixels (the median estimate over its fields); None: none."""

    radius_px: float | None = None
    fields: int = 0
    lower_quartile_px: float | None = None
    upper_quartile_px: float | None = None

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The radii (pixels) a field's estimate is kept within; None without a calibration."""
        if self.radius_px is None:
            return None
        return self.radius_px / RANGE_FACTOR, self.radius_px * RANGE_FACTOR

    def applied_to(self, params: SegmentationParams) -> SegmentationParams:
        return replace(params, radius_range=self.bounds)

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON holds it (`from_dict` reads it back exactly), with the factor and the
        bounds it gives, for the reader (they are derived again on loading)."""
        bounds = self.bounds
        return {
            **asdict(self),
            "range_factor": RANGE_FACTOR,
            "bounds_px": None if bounds is None else [round(bound, 3) for bound in bounds],
        }

    def save(self, path: Path) -> None:
        """Write the calibration, only if `load` would read it back, through a temporary sibling renamed
        into place (an installed calibration is never seen half written)."""
        data = self.to_dict()
        ScaleCalibration.from_dict(data, Path(path).name)
        atomic_write_bytes(Path(path), json.dumps(data, indent=2).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> ScaleCalibration:
        name = Path(path).name
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        # ValueError: bad JSON or encoding, or an integer too long to convert; RecursionError: deep nesting.
        except (OSError, ValueError, RecursionError) as exc:
            raise ScaleCalibrationError(f"Cannot read the scale calibration {name}: {exc}") from exc
        return cls.from_dict(data, name)

    @classmethod
    def from_dict(cls, data: Any, name: str) -> ScaleCalibration:
        """The calibration `data` (as `to_dict` writes it) holds; `name` says where it came from."""
        if not isinstance(data, dict):
            raise ScaleCalibrationError(f"{name} is not a scale calibration (a JSON object).")
        radius = _number(data, "radius_px", name)
        if radius is None:
            raise ScaleCalibrationError(f"{name}: radius_px is required (the red-cell radius in pixels).")
        quartiles = [_number(data, key, name) for key in ("lower_quartile_px", "upper_quartile_px")]
        fields = data.get("fields", 0)
        if isinstance(fields, bool) or not isinstance(fields, int) or fields < 0:
            raise ScaleCalibrationError(
                f"{name}: fields must be a whole number of at least 0; got {fields!r}."
            )
        return cls(radius, fields, quartiles[0], quartiles[1])


def _number(data: dict[str, Any], key: str, name: str) -> float | None:
    """`data[key]` as a radius in pixels within `_RADIUS_LIMITS`; None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    low, high = _RADIUS_LIMITS
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ScaleCalibrationError(
            f"{name}: {key} must be a number of pixels in [{low:g}, {high:g}]; got {value!r}."
        )
    return float(value)


def calibrate_scale(radii: Iterable[float]) -> ScaleCalibration:
    """The calibration from the radii estimated on a laboratory's fields (at least `MIN_FIELDS`)."""
    values = np.array([radius for radius in radii if math.isfinite(radius) and radius > 0], dtype=np.float64)
    if values.size < MIN_FIELDS:
        raise ScaleCalibrationError(
            f"A scale calibration needs at least {MIN_FIELDS} fields; {values.size} were given. Give it "
            "fields taken with the camera and objective it is for."
        )
    lower, median, upper = (float(value) for value in np.percentile(values, [25, 50, 75]))
    if upper > MAX_QUARTILE_RATIO * lower:
        raise ScaleCalibrationError(
            f"The fields' red cells are of very different sizes (the middle half of their radii runs from "
            f"{lower:.1f} to {upper:.1f} pixels, more than {MAX_QUARTILE_RATIO:g} times): pictures at more "
            "than one magnification or from more than one camera. Calibrate each camera and objective on "
            "its own fields."
        )
    return ScaleCalibration(median, int(values.size), lower, upper)


def calibrate_scale_folder(
    folder: str | Path,
    params: SegmentationParams | None = None,
    *,
    perturb: Perturbation | None = None,
    progress: bool = True,
) -> ScaleCalibration:
    """`calibrate_scale` on the radius estimated on every image under `folder` (each changed by
    `perturb` as read) under `params` (its stain correction; its own radius settings are ignored)."""
    params = replace(params or SegmentationParams(), cell_radius_px=None, radius_range=None)
    if not Path(folder).is_dir():
        raise ScaleCalibrationError(f"{folder} is not a folder.")
    paths = laboratory_fields(folder)
    radii = []
    for path in tqdm(paths, desc="scale", unit="field", disable=not progress):
        try:
            rgb = read_image(path)
        except (ImageError, OSError) as exc:
            raise ScaleCalibrationError(f"{path.name}: {exc}") from exc
        radii.append(field_radius(perturb.apply(rgb) if perturb is not None else rgb, params))
    return calibrate_scale(radii)


def laboratory_scale() -> ScaleCalibration:
    """The calibration in the file `MARROWFIND_SCALE_CALIBRATION` names; none unset."""
    named = os.environ.get(SCALE_CALIBRATION_ENV)
    return ScaleCalibration.load(Path(named)) if named else ScaleCalibration()
