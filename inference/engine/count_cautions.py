"""Why a field's counts may be wrong although they were given: the picture or the scale the cells were
found at is outside what the counter was checked on. A caution does not stop the analysis; it is shown
beside the counts (`SegmentationResult.cautions`, with texts in `CAUTION_TEXTS`), so that a pathologist
reads them as a rough figure or has the field taken again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .cell_radius import radius_bounds

CAUTION_OVER_EXPOSED = "over_exposed"
CAUTION_SCALE_AT_BOUND = "cell_size_at_bound"
CAUTION_SCALE_OUTSIDE_CALIBRATION = "cell_size_outside_calibration"
# Added by the pipeline where the classifier's acquisition check refers the field (`acquisition.py`).
CAUTION_ACQUISITION = "blurred_or_noisy"

CAUTION_TEXTS = {
    CAUTION_OVER_EXPOSED: "Part of the field is over-exposed (white where the camera's range ended): pale "
    "cells and cell edges are lost there, so the counts may be wrong. Take the picture again with less "
    "light or a shorter exposure.",
    CAUTION_SCALE_AT_BOUND: "The red cells' size could not be measured on this field (the estimate reached "
    "the limit for a field of this size), so the cells may have been looked for at the wrong size. Check "
    "the magnification, or calibrate the laboratory's scale on a set of its fields (calibrate_scale).",
    CAUTION_SCALE_OUTSIDE_CALIBRATION: "The red cells' size measured on this field was outside the range "
    "of the laboratory's scale calibration, so the cells were looked for at the nearest size in the range. "
    "A field of few or packed cells can mislead the measure; a picture at another magnification needs its "
    "own calibration.",
    CAUTION_ACQUISITION: "The field is blurred, noisy or enlarged from a lower resolution: small and pale "
    "cells are missed, so the counts may be short. Check the focus and the camera, and take it again.",
}

# A pixel is clipped where all three channels are at the top of the range: white, whatever the stain.
_CLIPPED_LEVEL = 254
# More than this share of the field clipped is over-exposed. No field of the data sets exceeds 0.144
# (CBC none; all4 val 0.124, train 0.144, where the glass already touches white). With every channel
# 1.1 times brighter 67 of the 76 all4 fields counted by eye are over it, and their counts are off by
# more (docs/counting.md, "Cautions on the counts").
OVER_EXPOSED_SHARE = 0.2
# An estimate within this fraction of a bound has met it (the bounds clamp the estimate).
_AT_BOUND = 0.01
# A radius this far from the field's own estimate was moved into the calibrated range: any move does,
# since a count can jump with a change of the radius of under 1% (docs/counting.md).
_CLAMPED = 1e-6


def clipped_share(rgb: np.ndarray) -> float:
    """The share of an RGB uint8 field's pixels that are clipped at white."""
    return float(np.count_nonzero(rgb.min(axis=2) >= _CLIPPED_LEVEL)) / float(rgb.shape[0] * rgb.shape[1])


def count_cautions(
    rgb: np.ndarray, radius: float, radius_given: bool, calibrated_from: float | None = None
) -> tuple[str, ...]:
    """The cautions for the counts of an RGB uint8 field segmented at red-cell `radius` pixels; a
    radius the caller gave (`radius_given`) is taken as measured. `calibrated_from`: the field's own
    radius (estimated or learned), where a scale calibration's range was applied to it (`radius` is then
    that radius kept within the range)."""
    cautions = []
    if clipped_share(rgb) > OVER_EXPOSED_SHARE:
        cautions.append(CAUTION_OVER_EXPOSED)
    if radius_given:
        return tuple(cautions)
    if calibrated_from is not None:
        # The laboratory's range, not the field's size, bounds the radius: only leaving it is cautioned.
        if abs(calibrated_from - radius) > _CLAMPED * radius:
            cautions.append(CAUTION_SCALE_OUTSIDE_CALIBRATION)
        return tuple(cautions)
    low, high = radius_bounds(max(rgb.shape[:2]))
    if radius <= low * (1 + _AT_BOUND) or radius >= high * (1 - _AT_BOUND):
        cautions.append(CAUTION_SCALE_AT_BOUND)
    return tuple(cautions)


def caution_tally(cautions: Iterable[tuple[str, ...]]) -> dict[str, int]:
    """How many fields carry each caution, from each field's cautions."""
    return dict(sorted(Counter(caution for field in cautions for caution in field).items()))
