"""Views of a field at the scale the classifier learned, and one call pooled from theirs.

The classifier learned 224-pixel all4 fields, whose red cells have a radius of about 8.4 pixels (the
median estimate over the 1,929 training fields; 7.0-10.6 for nine in ten). A larger image at the same
magnification (a larger camera sensor, a stitched field) squeezed into 224 pixels shows the model
cells two or more times too small: the all4 val fields tiled 2x2 were called right 21% of the time,
mostly "Benign", and three in four of those calls were not flagged (docs/engine.md, "Larger fields").
So a field that would be more than `MAX_WHOLE` model inputs across at the training scale is cut into
views of one input each at that scale, and the views' calls are pooled (`pooled_assessment`).

A field of at most one input is classified whole whatever its radius estimate: on 224 pixels the
estimate cannot go below 5.6 (`cell_radius.radius_bounds`), so it cannot tell smaller cells. A field
a little larger is not: a 2x2 mosaic of val fields shrunk to 336 pixels (cells 4.3 pixels at the
model's input) was classified whole while up to 336 pixels were, and 10 of 32 were called wrong
without a flag, nearly all "Benign"; in views, none (docs/engine.md, "Larger fields").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .preprocess import MODEL_INPUT_SIZE, prepare_for_model
from .trust import Assessment

TRAINING_RADIUS_PX = 8.4
MAX_WHOLE = 1.5
REASON_VIEWS_DISAGREE = "views_disagree"


@dataclass(frozen=True)
class View:
    """A rectangle of the field, in its pixels."""

    top: int
    left: int
    height: int
    width: int

    @property
    def area(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)

    def of(self, rgb: np.ndarray) -> np.ndarray:
        return rgb[self.area]


def field_views(
    shape: tuple[int, ...], radius_px: float, input_size: int = MODEL_INPUT_SIZE
) -> list[View] | None:
    """The views to classify a field of `shape` whose red cells have `radius_px`; None when it is
    classified whole: its longer side is at most one input in pixels (`whole_at_any_radius`) or at
    most `MAX_WHOLE` inputs at the training scale. Otherwise squares of one input at the training
    scale, evenly spaced to cover the field, overlapping where they must; they may be smaller than an
    input, and are then enlarged to it.
    """
    height, width = int(shape[0]), int(shape[1])
    factor = TRAINING_RADIUS_PX / radius_px
    if whole_at_any_radius(shape, input_size) or max(height, width) * factor <= MAX_WHOLE * input_size:
        return None
    side = round(input_size / factor)
    return [
        View(top, left, min(side, height), min(side, width))
        for top in _starts(height, side)
        for left in _starts(width, side)
    ]


def whole_at_any_radius(shape: tuple[int, ...], input_size: int = MODEL_INPUT_SIZE) -> bool:
    """Whether a field of `shape` is classified whole whatever its red-cell radius (`field_views`): it
    is no larger than the model's input."""
    return max(int(shape[0]), int(shape[1])) <= input_size


def view_inputs(rgb: np.ndarray, views: list[View] | None, size: int = MODEL_INPUT_SIZE) -> np.ndarray:
    """The model's inputs (k, size, size, 3) uint8: the whole field when `views` is None, else one
    per view."""
    parts = [rgb] if views is None else [view.of(rgb) for view in views]
    return np.stack([prepare_for_model(part, size) for part in parts])


def _starts(length: int, side: int) -> list[int]:
    if length <= side:
        return [0]
    n = math.ceil(length / side)
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def pooled_assessment(assessments: list[Assessment]) -> Assessment:
    """One call for a field from its views': the mean of their calibrated probabilities, the largest
    out-of-distribution, stain and acquisition scores, and flagged when any view is or when they
    disagree on the class (one smear holds one diagnosis; a pathologist should see a field whose parts
    differ)."""
    probs = np.mean([a.probabilities for a in assessments], axis=0)
    index = int(probs.argmax())
    reasons = sorted({reason for a in assessments for reason in a.reasons})
    if len({a.predicted_index for a in assessments}) > 1:
        reasons.append(REASON_VIEWS_DISAGREE)
    return Assessment(
        probabilities=tuple(float(p) for p in probs),
        predicted_index=index,
        confidence=float(probs[index]),
        ood_score=_largest(a.ood_score for a in assessments),
        flagged=bool(reasons),
        reasons=tuple(reasons),
        stain_score=_largest(a.stain_score for a in assessments),
        acquisition_score=_largest(a.acquisition_score for a in assessments),
    )


def _largest(scores: Iterable[float]) -> float:
    known = [s for s in scores if not math.isnan(s)]
    return max(known) if known else math.nan
