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
from .calibration_files import bounded_number, laboratory_fields, read_calibration_json
from .errors import EngineError, ImageError
from .imageio import read_image
from .perturbation import Perturbation
from .segmentation import field_radius
from .segmentation_params import SegmentationParams

SCALE_CALIBRATION_ENV = "MARROWFIND_SCALE_CALIBRATION"
# A field's estimate is kept within this factor of the laboratory's radius. The estimate itself
# scatters on whole fields: against the CBC boxes' half-size its log ratio has a standard deviation of
# 0.11-0.13, and 98% of the CBC fields' estimates lie within 0.78-1.28 of their median (all4 val: 90%
# within 0.79-1.32). At 1.35, 3 of the 300 CBC fields move (BloodImage_00224 among them, 24.6 pixels
# against a median of 42.5, a known miss), the red cells' own spread between patients is kept, and the
# crops' errors of two and three times are cut to it.
RANGE_FACTOR = 1.35
# Fewer fields give no calibration: single estimates on few-cell fields can be off two- or three-fold.
MIN_FIELDS = 10
# Fields at two magnifications (or two cameras) read as two clusters. A set whose middle half of radii
# spans more than this is refused (the CBC set reads 1.11, all4 val 1.21).
MAX_QUARTILE_RATIO = 1.5
# A quarter of the fields at another magnification passes that test. It leaves them outside the range
# the median gives, as fields of few cells misread are (CBC 1% of its fields, all4 val 6%, the 360-pixel
# squares cut from CBC 18%): beyond this share the calibration is made but `crowded_out` says so.
MAX_OUTSIDE_SHARE = 0.1
# A red-cell radius outside this (pixels) is no calibration of a smear picture: under 3 pixels no cell
# can be outlined (and a field of them takes seconds of work per cell), and over 500 a field holds
# part of one cell.
RADIUS_LIMITS = (3.0, 500.0)
_KEYS = {"radius_px", "fields", "fields_outside", "lower_quartile_px", "upper_quartile_px"}
_DERIVED_KEYS = {"range_factor", "bounds_px"}


class ScaleCalibrationError(EngineError, ValueError):
    """A scale calibration that cannot be made or read (too few fields, fields at mixed magnifications, a
    malformed file)."""


@dataclass(frozen=True)
class ScaleCalibration:
    """A laboratory's red-cell radius in pixels (the median estimate over its fields; None: none), how
    many fields it was measured on and how many of their own estimates fell outside its range. A
    laboratory that knows its radius may write a file of `radius_px` alone."""

    radius_px: float | None = None
    fields: int = 0
    lower_quartile_px: float | None = None
    upper_quartile_px: float | None = None
    fields_outside: int = 0

    def __post_init__(self) -> None:
        low, high = RADIUS_LIMITS
        for key in ("radius_px", "lower_quartile_px", "upper_quartile_px"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                raise ScaleCalibrationError(
                    f"{key} must be a number of pixels in [{low:g}, {high:g}]; got {value!r}."
                )
        if self.radius_px is None and (
            self.lower_quartile_px is not None or self.upper_quartile_px is not None
        ):
            raise ScaleCalibrationError("Quartiles without radius_px are no calibration.")
        ordered = [
            v for v in (self.lower_quartile_px, self.radius_px, self.upper_quartile_px) if v is not None
        ]
        if ordered != sorted(ordered):
            raise ScaleCalibrationError(
                f"The quartiles must bracket the radius: lower {self.lower_quartile_px}, radius "
                f"{self.radius_px}, upper {self.upper_quartile_px}."
            )
        if not 0 <= self.fields_outside <= self.fields:
            raise ScaleCalibrationError(
                f"fields_outside ({self.fields_outside}) must be from 0 to fields ({self.fields})."
            )

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The radii (pixels) a field's estimate is kept within; None without a calibration."""
        if self.radius_px is None:
            return None
        return self.radius_px / RANGE_FACTOR, self.radius_px * RANGE_FACTOR

    def applied_to(self, params: SegmentationParams) -> SegmentationParams:
        return replace(params, radius_range=self.bounds)

    @property
    def crowded_out(self) -> str | None:
        """A warning where more than `MAX_OUTSIDE_SHARE` of the calibration's own fields lie outside its
        range, else None."""
        if self.fields_outside <= MAX_OUTSIDE_SHARE * self.fields:
            return None
        share = 100 * self.fields_outside / self.fields
        return (
            f"{self.fields_outside} of the {self.fields} fields ({share:.0f}%) read a radius more than "
            f"{RANGE_FACTOR:g} times from the median: fields of few cells, which the calibration is for, or "
            "pictures at another magnification or from another camera among them. Check that the fields are "
            "all of one camera and objective; calibrate each magnification on its own fields."
        )

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON holds it (`from_dict` reads it back exactly), with the factor and the
        bounds it gives, for the reader: they are derived from the radius, and a file whose own differ is
        refused rather than read as if they counted."""
        return {**asdict(self), "range_factor": RANGE_FACTOR, "bounds_px": _rounded(self.bounds)}

    def save(self, path: Path) -> None:
        """Write the calibration, only if `load` would read it back, through a temporary sibling renamed
        into place (an installed calibration is never seen half written)."""
        data = self.to_dict()
        ScaleCalibration.from_dict(data, Path(path).name)
        atomic_write_bytes(Path(path), json.dumps(data, indent=2).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> ScaleCalibration:
        return cls.from_dict(
            read_calibration_json(path, "scale calibration", ScaleCalibrationError), Path(path).name
        )

    @classmethod
    def from_dict(cls, data: Any, name: str) -> ScaleCalibration:
        """The calibration `data` (as `to_dict` writes it) holds; `name` says where it came from."""
        if not isinstance(data, dict):
            raise ScaleCalibrationError(f"{name} is not a scale calibration (a JSON object).")
        unknown = sorted(set(data) - _KEYS - _DERIVED_KEYS)
        if unknown:
            raise ScaleCalibrationError(
                f"{name}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})."
            )
        if data.get("radius_px") is None:
            raise ScaleCalibrationError(f"{name}: radius_px is required (the red-cell radius in pixels).")
        radii = {
            key: None
            if data.get(key) is None
            else bounded_number(
                data, key, RADIUS_LIMITS, name, ScaleCalibrationError, kind="a number of pixels"
            )
            for key in ("radius_px", "lower_quartile_px", "upper_quartile_px")
        }
        counts = [_whole(data, key, name) for key in ("fields", "fields_outside")]
        try:
            calibration = cls(
                radii["radius_px"],
                counts[0],
                radii["lower_quartile_px"],
                radii["upper_quartile_px"],
                counts[1],
            )
        except ScaleCalibrationError as exc:
            raise ScaleCalibrationError(f"{name}: {exc}") from exc
        for key, derived in (("range_factor", RANGE_FACTOR), ("bounds_px", _rounded(calibration.bounds))):
            if key in data and data[key] != derived:
                raise ScaleCalibrationError(
                    f"{name}: {key} is {data[key]!r}, but a radius of {calibration.radius_px:g} pixels gives "
                    f"{derived!r}; it is derived, not set (change radius_px, or leave {key} out)."
                )
        return calibration


def _rounded(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [round(bound, 3) for bound in bounds]


def _whole(data: dict[str, Any], key: str, name: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScaleCalibrationError(f"{name}: {key} must be a whole number of at least 0; got {value!r}.")
    return value


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
    outside = int(np.count_nonzero((values < median / RANGE_FACTOR) | (values > median * RANGE_FACTOR)))
    try:
        return ScaleCalibration(median, int(values.size), lower, upper, outside)
    except ScaleCalibrationError as exc:
        raise ScaleCalibrationError(f"The fields' median red-cell radius is no calibration: {exc}") from exc


def calibrate_scale_folder(
    folder: str | Path,
    params: SegmentationParams | None = None,
    *,
    perturb: Perturbation | None = None,
    progress: bool = True,
) -> ScaleCalibration:
    """`calibrate_scale` on the radius estimated on every image under `folder` (each changed by
    `perturb` as read) under `params` (its stain correction; its own radius settings are ignored). Every
    image must be readable and large enough to segment: a file that is not is named."""
    params = replace(params or SegmentationParams(), cell_radius_px=None, radius_range=None)
    radii = []
    for path in tqdm(laboratory_fields(folder), desc="scale", unit="field", disable=not progress):
        try:
            rgb = read_image(path)
            radii.append(field_radius(perturb.apply(rgb) if perturb is not None else rgb, params))
        except (ImageError, OSError) as exc:
            raise ScaleCalibrationError(f"{path.name}: {exc}") from exc
    return calibrate_scale(radii)


def laboratory_scale() -> ScaleCalibration:
    """The calibration in the file `MARROWFIND_SCALE_CALIBRATION` names; none unset."""
    named = os.environ.get(SCALE_CALIBRATION_ENV)
    return ScaleCalibration.load(Path(named)) if named else ScaleCalibration()
