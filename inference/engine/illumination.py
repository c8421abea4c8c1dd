"""The light a field was taken under, made even and white before the segmentation reads colours
against the glass: uneven lighting (a camera's vignetting, a lamp off centre; `even_lighting`) and
a strongly coloured lamp (`neutral_glass`).

The segmentation measures every colour from one glass colour, the brightest tenth of the field. Where
the light falls off towards the corners, the glass there is as far from that colour as a pale cell,
and became cells: four of the eight all4 training fields lit most unevenly had no nucleated cell or
a red-cell radius of 19-37 pixels (WBC-Benign-014: 0 nucleated cells for 9), and a generated field
with its corners at 65% of its middle's light lost both its white cells (docs/counting.md, "Uneven
lighting").

The glass's lightness is read in blocks (the brightest of each block's pixels), and a smooth surface
(a quadratic in x and y: a vignette is round, a gradient straight) is fitted to the blocks that are
glass: the fit is repeated without the blocks that lie well below it, which are covered by cells.
Where the surface varies by more than `MIN_VARIATION`, each pixel is brightened by the surface's
highest level over its own (in full from `FULL_VARIATION`). Every CBC and all4 val field is lit more
evenly than that and is left exactly as it is: the counter was tuned on the CBC fields, which are
vignetted by up to 1.24 (1.14 at the median), and evening them all moved their counts (the tuning
recount's error went from 6.8% to 13.9%).
"""

from __future__ import annotations

import cv2
import numpy as np

# Fields whose fitted lighting varies less than this (highest over lowest) are left alone: above the
# CBC fields' 1.24 and all but eight all4 training fields (1.31-1.66).
MIN_VARIATION = 1.25
FULL_VARIATION = 1.35
# The light's colour: glass tinted more than this (its strongest channel over its weakest) is made
# grey. The CBC glass is tinted up to 1.08, the all4 glass up to 1.15 (greenish).
MAX_TINT = 1.2
FULL_TINT = 1.3
_BLOCKS = 8  # per side
_FIT_SIDE = 128  # the blocks are read on a copy at most this long
_BLOCK_PERCENTILE = 95
_FIT_ROUNDS = 4
# A block more than this below the fitted surface (in lightness units of 0-255) is taken for cells.
_BELOW_SURFACE = 6.0


def lighting_surface(rgb: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """The glass's fitted lightness (CIELAB L* on OpenCV's 0-255 scale) at every pixel, float32 (H, W)."""
    return _surface(_fit(rgb, outside)[0], *rgb.shape[:2])


def even_lighting(rgb: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """`rgb` with uneven lighting evened (the same array where the lighting is even)."""
    coefficients, small_inside = _fit(rgb, outside)
    coarse = _surface(coefficients, *small_inside.shape)[small_inside]
    if coarse.size == 0:
        return rgb
    highest, lowest = float(coarse.max()), float(coarse.min())
    if lowest <= 0 or highest / lowest <= MIN_VARIATION:
        return rgb
    # Evened in full from `FULL_VARIATION` on, in part between (a field just over the bound is not
    # changed by a jump).
    share = min(1.0, (highest / lowest - MIN_VARIATION) / (FULL_VARIATION - MIN_VARIATION))
    gain = (highest / np.maximum(_surface(coefficients, *rgb.shape[:2]), 1.0)) ** share
    return np.clip(rgb.astype(np.float32) * gain[:, :, None], 0, 255).astype(np.uint8)


def neutral_glass(rgb: np.ndarray) -> np.ndarray:
    """`rgb` with the light's colour taken out where its glass is strongly tinted (a halogen lamp
    without the camera's white balance): each channel scaled so that the glass is grey, in full from
    `FULL_TINT` and in part from `MAX_TINT`; the same array otherwise."""
    small = _small_copy(rgb)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    glass = np.median(small[grey >= np.percentile(grey, 90)], axis=0).astype(np.float32)
    if glass.min() <= 0 or glass.max() / glass.min() <= MAX_TINT:
        return rgb
    share = min(1.0, (float(glass.max() / glass.min()) - MAX_TINT) / (FULL_TINT - MAX_TINT))
    gain = (glass.max() / glass) ** share
    return np.clip(rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _small_copy(rgb: np.ndarray) -> np.ndarray:
    """The field at most `_FIT_SIDE` long (at least `_BLOCKS` a side)."""
    height, width = rgb.shape[:2]
    scale = min(1.0, _FIT_SIDE / max(height, width))
    if scale == 1.0:
        return rgb
    size = (max(_BLOCKS, round(width * scale)), max(_BLOCKS, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _fit(rgb: np.ndarray, outside: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(the surface's six coefficients, the mask of the field inside its dark surround on the copy
    at most `_FIT_SIDE` long that the blocks are read on: the surface's range is judged there)."""
    small = _small_copy(rgb)
    inside = np.ones(small.shape[:2], dtype=bool)
    if outside is not None:
        size = (small.shape[1], small.shape[0])
        inside = cv2.resize(outside.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) == 0
    lightness = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
    x, y, z = _block_levels(lightness, None if outside is None else inside)
    if z.size < 6:  # too little glass to fit a surface: taken as evenly lit
        return np.array([float(z.max()) if z.size else 255.0, 0, 0, 0, 0, 0]), inside
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    glass = np.ones(z.size, dtype=bool)
    for _ in range(_FIT_ROUNDS):
        coefficients = np.linalg.lstsq(terms[glass], z[glass], rcond=None)[0]
        kept = z >= terms @ coefficients - _BELOW_SURFACE
        if kept.sum() < 6 or (kept == glass).all():
            break
        glass = kept
    return coefficients, inside


def _block_levels(
    lightness: np.ndarray, inside: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, glass level) of each of `_BLOCKS` x `_BLOCKS` blocks, x and y from -0.5 to 0.5; blocks
    with under four pixels `inside` are left out."""
    rows, cols = lightness.shape
    if inside is None:
        # One call for every block (the common case: no dark surround).
        height, width = rows // _BLOCKS, cols // _BLOCKS
        blocks = lightness[: height * _BLOCKS, : width * _BLOCKS].reshape(_BLOCKS, height, _BLOCKS, width)
        levels = np.percentile(
            blocks.transpose(0, 2, 1, 3).reshape(_BLOCKS * _BLOCKS, -1), _BLOCK_PERCENTILE, axis=1
        )
        steps = np.arange(_BLOCKS) + 0.5
        ys, xs = np.meshgrid(steps * height / rows - 0.5, steps * width / cols - 0.5, indexing="ij")
        return xs.ravel(), ys.ravel(), levels
    xs, ys, found = [], [], []
    for row in range(_BLOCKS):
        for col in range(_BLOCKS):
            top, bottom = row * rows // _BLOCKS, (row + 1) * rows // _BLOCKS
            left, right = col * cols // _BLOCKS, (col + 1) * cols // _BLOCKS
            block = lightness[top:bottom, left:right][inside[top:bottom, left:right]]
            if block.size >= 4:
                xs.append((left + right) / 2 / cols - 0.5)
                ys.append((top + bottom) / 2 / rows - 0.5)
                found.append(float(np.percentile(block, _BLOCK_PERCENTILE)))
    return np.array(xs), np.array(ys), np.array(found)


def _surface(coefficients: np.ndarray, height: int, width: int) -> np.ndarray:
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = (gx + 0.5) / width - 0.5, (gy + 0.5) / height - 0.5
    c = coefficients.astype(np.float32)
    return c[0] + c[1] * gx + c[2] * gy + c[3] * gx * gx + c[4] * gx * gy + c[5] * gy * gy
