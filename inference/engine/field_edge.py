"""The dark surround of a microscope picture: the black outside a round field stop, a camera's
vignette, a black band or frame. It is no specimen, but its colour is as far from the glass as a cell's
can be, so the segmentation took it for one huge cell: its packing discs set the red-cell radius,
and every size after it (a 20-pixel black band over an all4 field raised the radius from 8 to 20
pixels, and the red cells found fell from 80 to 5). The segmentation now sees glass there, and treats
its edge as the image border (docs/counting.md, "The dark surround of a field").

Only near-black, grey pixels (under a fifth of the glass's lightness; chroma under 12 from the glass's
tint, or under 6 from neutral, as black is under any lamp) in regions that touch the image border
start it: of the 2,712 data-set fields, only the black scale bars burned into a corner of 403 all4
fields are that dark and grey (and are left out too), nuclei are strongly coloured, and a dark speck
inside the field is left to the segmentation. From there it
takes in the dim grey rim next to it (the blurred edge of the stop), a few pixels deep.
"""

from __future__ import annotations

import cv2
import numpy as np

from .mask_ops import on_border

_DARK_LIGHTNESS = 0.2  # of the glass's lightness
_RIM_LIGHTNESS = 0.7
_MAX_GREY_CHROMA = 12.0
# Black as such: the black bars burned into all4 fields reach chroma 5.4 (JPEG noise), the darkest
# navy nucleus at a border 10-13 (WBC-Benign-180 in train).
_MAX_BLACK_CHROMA = 6.0
_NEUTRAL_AB = np.array([128.0, 128.0], np.float32)  # a* and b* of grey in OpenCV's 8-bit Lab
# How far the dim rim is followed, as a fraction of the longer side (an edge blurred over a few
# pixels at 224x224 and a few tens at 4000 pixels).
_RIM_DEPTH = 0.015


def outside_field(rgb: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask of the field's dark surround (all False on an ordinary field)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lightness = lab[:, :, 0]
    # The glass: the brightest tenth of the field, read off the histogram (sorting costs more).
    cumulative = np.cumsum(cv2.calcHist([lightness], [0], None, [256], [0, 256]).ravel())
    brightest_tenth = int(np.searchsorted(cumulative, 0.9 * cumulative[-1]))
    glass_lightness = float(np.searchsorted(cumulative, 0.95 * cumulative[-1]))
    dark = lightness < _DARK_LIGHTNESS * glass_lightness
    if not dark.any():  # every ordinary field: the colour is not needed
        return dark
    glass = lightness >= brightest_tenth
    ab = lab[:, :, 1:].astype(np.float32)
    glass_ab = np.median(ab[glass], axis=0)
    # Grey as the glass is grey (a tinted lamp tints its dim rim), or grey in itself: black stays black
    # under any lamp, so a black frame on strongly tinted glass is far from the glass's tint.
    grey = _near(ab, glass_ab, _MAX_GREY_CHROMA) | _near(ab, _NEUTRAL_AB, _MAX_BLACK_CHROMA)
    dark = _touching_border(dark & grey)
    rim = grey & (lightness < _RIM_LIGHTNESS * glass_lightness)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(max(2, round(_RIM_DEPTH * max(rgb.shape[:2])))):
        grown = cv2.dilate(dark.astype(np.uint8), kernel).astype(bool) & (rim | dark)
        if (grown == dark).all():
            break
        dark = grown
    if not dark.any():
        return dark
    # The anti-aliased pixel of the edge itself.
    dark = cv2.dilate(dark.astype(np.uint8), kernel).astype(bool)
    # A picture that is all surround (a few bright specks in black) has no field to keep.
    return np.zeros_like(dark) if dark.all() else dark


def _near(ab: np.ndarray, colour: np.ndarray, chroma: float) -> np.ndarray:
    return np.hypot(ab[:, :, 0] - colour[0], ab[:, :, 1] - colour[1]) < chroma


def _touching_border(mask: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    touching = on_border(labels, n)
    touching[0] = False
    return touching[labels]


def glass_colour(rgb: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """The glass's RGB colour: the median of the brightest tenth of the field within it."""
    inside = rgb[~outside]
    brightness = inside.astype(np.int32).sum(axis=1)
    return np.median(inside[brightness >= np.percentile(brightness, 90)], axis=0).astype(rgb.dtype)


def extend_field(rgb: np.ndarray, outside: np.ndarray, depth: int = 4) -> np.ndarray:
    """`rgb` with its dark surround painted the glass's colour, except its first `depth` pixels next to
    the field, which carry the field's edge on (ring by ring, each pixel the mean of its neighbours
    already filled). Blurred, the field's edge then looks as it does at the image border (OpenCV
    reflects the picture there): painted glass paled the cells cut by a black frame, and the radius
    of a framed field read 2-3% small (docs/counting.md, "A thin black frame")."""
    filled = ~outside
    extended = rgb.copy()
    extended[outside] = glass_colour(rgb, outside)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(depth):
        ring = cv2.dilate(filled.astype(np.uint8), kernel).astype(bool) & ~filled
        if not ring.any():
            break
        weights = filled.astype(np.float32)
        sums = cv2.boxFilter(extended.astype(np.float32) * weights[:, :, None], -1, (3, 3), normalize=False)
        counts = cv2.boxFilter(weights, -1, (3, 3), normalize=False)
        extended[ring] = np.round(sums[ring] / counts[ring][:, None]).astype(rgb.dtype)
        filled |= ring
    return extended
