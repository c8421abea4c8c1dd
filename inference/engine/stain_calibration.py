"""A laboratory's stain, measured on a set of its fields, so that nuclei are still found by colour.

The nucleus score (`segmentation._lab_features`) looks for one fixed colour: the nuclei of the BCCD
fields and of the ALL fields (Aria et al.) both sit at about -55 degrees of CIELAB hue, while their
red cells lie on either side of it (pink on BCCD, blue-grey at -77 on the ALL fields). A stain
turned 15 degrees of HSV hue towards magenta moves the nuclei about 7 degrees and the ALL fields'
red cells into the score's range: the nucleated count on the 76 all4 fields counted by eye goes from
a mean absolute error of 1.3 to 9.9 (docs/counting.md, "Robustness").

One field cannot tell such a shift: its nuclei's hue varies from field to field of one laboratory
by as much as the shift (5th-95th percentile -58 to -46 degrees on all4), and turning each field by
its own reading turned unchanged fields too. The median over a laboratory's fields is steady (-55.0
on all4, -53.8 on CBC) and moves with the stain, so the correction is made once per laboratory from
a set of its fields, and below a dead zone it is none at all.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from .atomic_files import atomic_write_bytes
from .calibration_files import bounded_number, laboratory_fields, read_calibration_json
from .errors import EngineError, ImageError
from .imageio import read_image
from .perturbation import Perturbation
from .segmentation_params import SegmentationParams

# The nuclei's colour as `field_nucleus_colour` reads it, the median over the fields the nucleus
# score was set on: all4 val (483 fields: -55.0 degrees, chroma 80.4) and CBC (300: -53.8, 70.3),
# halfway between the two.
REFERENCE_HUE = -54.4
REFERENCE_CHROMA = 75.2
# Laboratories differ this much without any correction: all4 and CBC are 0.8 degrees apart and
# their chroma 7% either side of the reference, and the score was set on both as they are.
HUE_DEAD_ZONE = 3.0
CHROMA_DEAD_ZONE = 0.15
# Fewer fields give no calibration: a field's own reading varies by about 6 degrees.
MIN_FIELDS = 10
# A reading this far from the reference is not a nucleus's colour (a field of red cells alone, a
# stain deposit) and is left out. Every CBC field reads within 7 degrees of it, the 6 without a white
# cell too (their platelets take the same stain); a turn this large is another stain, not a shift.
NUCLEUS_HUE_TOLERANCE = 25.0
STAIN_CALIBRATION_ENV = "MARROWFIND_STAIN_CALIBRATION"
# A chroma gain outside this is no stain of this kind: `calibrate_stain` refuses to make such a
# calibration, and a file holding one is refused.
_GAIN_RANGE = (0.2, 5.0)
# The strongest colours of a field are its nuclei's: pixels within this fraction of its 99.5th
# percentile of chroma (measured on all4 and CBC: the nuclei are at chroma about 60, red cells 12-35).
_TOP_CHROMA_FRACTION = 0.8
_TOP_CHROMA_PERCENTILE = 99.5


class StainCalibrationError(EngineError, ValueError):
    """A stain calibration that cannot be made or read (too few fields, a stain beyond correction, a
    malformed file)."""


@dataclass(frozen=True)
class StainCalibration:
    """How a laboratory's nuclei differ in colour from the reference; (0, 1) is no correction."""

    hue_shift: float = 0.0
    chroma_gain: float = 1.0
    fields: int = 0
    nucleus_hue: float = REFERENCE_HUE
    nucleus_chroma: float = REFERENCE_CHROMA

    def to_dict(self) -> dict[str, Any]:
        return {
            **{
                key: round(value, 3) if isinstance(value, float) else value
                for key, value in asdict(self).items()
            },
            "reference_hue": REFERENCE_HUE,
            "reference_chroma": REFERENCE_CHROMA,
        }

    @property
    def corrects(self) -> bool:
        """Whether it changes anything (outside the dead zones)."""
        return self.hue_shift != 0.0 or self.chroma_gain != 1.0

    def applied_to(self, params: SegmentationParams) -> SegmentationParams:
        return replace(params, stain_hue_shift=self.hue_shift, stain_chroma_gain=self.chroma_gain)

    def save(self, path: Path) -> None:
        """Write the calibration, only if `load` would read it back: a file the loader refuses would
        stop every analysis once `MARROWFIND_STAIN_CALIBRATION` names it. Written through a temporary
        sibling renamed into place, so an installed calibration is never seen half written."""
        path = Path(path)
        data = self.to_dict()
        StainCalibration.from_dict(data, path.name)
        atomic_write_bytes(path, json.dumps(data, indent=2).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> StainCalibration:
        data = read_calibration_json(path, "stain calibration", StainCalibrationError)
        return cls.from_dict(data, Path(path).name)

    @classmethod
    def from_dict(cls, data: Any, name: str) -> StainCalibration:
        """The calibration `data` (as `to_dict` writes it) holds; `name` says where it came from.
        The one set of checks for a calibration, whether read from a file or about to be written."""
        if not isinstance(data, dict):
            raise StainCalibrationError(f"{name} is not a stain calibration (a JSON object).")
        shift = _bounded(data, "hue_shift", (-NUCLEUS_HUE_TOLERANCE, NUCLEUS_HUE_TOLERANCE), name)
        gain = _bounded(data, "chroma_gain", _GAIN_RANGE, name)
        return cls(
            hue_shift=shift,
            chroma_gain=gain,
            fields=int(_bounded(data, "fields", (0, 1e9), name, default=0)),
            nucleus_hue=_bounded(data, "nucleus_hue", (-180, 180), name, default=REFERENCE_HUE + shift),
            nucleus_chroma=_bounded(
                data, "nucleus_chroma", (0, math.inf), name, default=REFERENCE_CHROMA * gain
            ),
        )


def _bounded(
    data: dict[str, Any], key: str, bounds: tuple[float, float], name: str, default: float | None = None
) -> float:
    return bounded_number(data, key, bounds, name, StainCalibrationError, default=default)


def background_lab(
    rgb: np.ndarray, outside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(darkness, a*, b*) float32 (H, W), CIELAB measured from the glass: the brightest tenth of the
    field (slides are mostly empty glass between cells), so that a white-balance cast cancels; the
    field's dark surround (`outside`, see `field_edge`) is no part of it. Darkness is the glass's L*
    less the pixel's."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness = lab[:, :, 0] * (100.0 / 255.0)
    if outside is None:
        background = lightness >= np.percentile(lightness, 90)
    else:
        background = ~outside & (lightness >= np.percentile(lightness[~outside], 90))
    a_star = lab[:, :, 1] - 128.0
    b_star = lab[:, :, 2] - 128.0
    a_star -= float(np.median(a_star[background]))
    b_star -= float(np.median(b_star[background]))
    return float(np.median(lightness[background])) - lightness, a_star, b_star


def field_nucleus_colour(rgb: np.ndarray) -> tuple[float, float]:
    """(hue in CIELAB degrees, chroma) of one field's most strongly stained pixels: its nuclei."""
    smoothed = cv2.GaussianBlur(rgb, (0, 0), 1.0)
    _, a_star, b_star = background_lab(smoothed)
    chroma = np.hypot(a_star, b_star)
    top = float(np.percentile(chroma, _TOP_CHROMA_PERCENTILE))
    strong = chroma >= _TOP_CHROMA_FRACTION * top
    hue = math.degrees(math.atan2(float(b_star[strong].sum()), float(a_star[strong].sum())))
    return hue, top


def calibrate_stain(fields: Iterable[np.ndarray]) -> StainCalibration:
    """The calibration for a laboratory from a set of its RGB fields (at least `MIN_FIELDS`)."""
    readings = np.array([field_nucleus_colour(rgb) for rgb in fields], dtype=np.float64).reshape(-1, 2)
    # Hues as turns from the reference, wrapped to [-180, 180), so their median is not split at +-180.
    turns = (readings[:, 0] - REFERENCE_HUE + 180.0) % 360.0 - 180.0
    nuclear = np.abs(turns) <= NUCLEUS_HUE_TOLERANCE
    if int(nuclear.sum()) < MIN_FIELDS:
        raise StainCalibrationError(
            f"A stain calibration needs at least {MIN_FIELDS} fields with stained nuclei (white cells or "
            f"platelets); {int(nuclear.sum())} of the {len(readings)} fields given have their strongest "
            f"colour within {NUCLEUS_HUE_TOLERANCE:g} degrees of a nucleus's."
        )
    shift = float(np.median(turns[nuclear]))
    chroma = float(np.median(readings[nuclear, 1]))
    gain = chroma / REFERENCE_CHROMA if chroma > 0 else 1.0
    calibration = StainCalibration(
        hue_shift=shift if abs(shift) >= HUE_DEAD_ZONE else 0.0,
        chroma_gain=gain if abs(gain - 1.0) >= CHROMA_DEAD_ZONE else 1.0,
        fields=int(nuclear.sum()),
        nucleus_hue=REFERENCE_HUE + shift,
        nucleus_chroma=chroma,
    )
    return _correctable(calibration)


def _correctable(calibration: StainCalibration) -> StainCalibration:
    """`calibration` if `StainCalibration.load` would accept it from its file; refused here, with the
    reason, rather than written and then refused by every analysis once installed."""
    try:
        StainCalibration.from_dict(calibration.to_dict(), "the measured calibration")
    except StainCalibrationError as exc:
        low, high = _GAIN_RANGE
        raise StainCalibrationError(
            f"This laboratory's stain is outside what a calibration can correct: its nuclei read at "
            f"{calibration.nucleus_hue:.1f} degrees of hue and chroma {calibration.nucleus_chroma:.1f}, "
            f"{calibration.nucleus_chroma / REFERENCE_CHROMA:.2f} times the reference's "
            f"{REFERENCE_CHROMA:g}; a calibration turns the hue by at most {NUCLEUS_HUE_TOLERANCE:g} "
            f"degrees and scales the chroma by {low:g} to {high:g}, beyond which nuclei are too faint (or "
            f"too strong) to be told from red cells by colour ({str(exc).rstrip('.')}). Check the "
            "staining (time, dilution, an exhausted stain) and the camera's white balance, then calibrate "
            "again, or count without a calibration."
        ) from exc
    return calibration


def laboratory_calibration() -> StainCalibration:
    """The calibration in the file `MARROWFIND_STAIN_CALIBRATION` names; none (no correction) unset."""
    named = os.environ.get(STAIN_CALIBRATION_ENV)
    return StainCalibration.load(Path(named)) if named else StainCalibration()


def calibrate_stain_folder(
    folder: str | Path, *, perturb: Perturbation | None = None, progress: bool = True
) -> StainCalibration:
    """`calibrate_stain` on every image under `folder`, each changed by `perturb` as read."""
    paths = laboratory_fields(folder)
    images = (_read_field(path) for path in tqdm(paths, desc="stain", unit="field", disable=not progress))
    return calibrate_stain(perturb.apply(rgb) if perturb is not None else rgb for rgb in images)


def _read_field(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except (ImageError, OSError) as exc:
        raise StainCalibrationError(f"{path.name}: {exc}") from exc


def undo_stain(
    a_star: np.ndarray, b_star: np.ndarray, hue_shift: float, chroma_gain: float
) -> tuple[np.ndarray, np.ndarray]:
    """a*, b* turned back by `hue_shift` degrees and divided by `chroma_gain` (unchanged at (0, 1))."""
    if hue_shift == 0.0 and chroma_gain == 1.0:
        return a_star, b_star
    angle = math.radians(hue_shift)
    cos, sin = math.cos(angle) / chroma_gain, math.sin(angle) / chroma_gain
    return a_star * cos + b_star * sin, b_star * cos - a_star * sin
