"""Mask and image operations the segmentation is built from: Otsu's threshold, discs, hole filling,
local maxima, and the shape measures of a region (solidity, elongation)."""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.filters import threshold_otsu


def otsu(values: np.ndarray, default: float) -> float:
    if values.size < 2 or float(values.max()) - float(values.min()) < 1e-6:
        return default
    return float(threshold_otsu(values))


def on_border(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Per label id (0 to `n_labels` - 1): does the region touch the image border."""
    touching = np.zeros(n_labels, dtype=bool)
    touching[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    return touching


def resized_mask(mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """A boolean mask at (width, height) `size`: set where about half or more of its pixels there were
    (the uint8 mean is rounded; None stays None). A band thinner than half a pixel of the copy is
    lost on it."""
    if mask is None:
        return None
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0


def distance_to_glass(mask: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """Distance transform of `mask` (float32), in which the field's dark surround `outside` lies beyond
    the picture as the image border does: the distance runs on into it, so a cell cut by a black frame
    keeps the depth of a cell cut by the border. The values on `outside` are the ones it would have as
    cell; callers that look for peaks leave them out."""
    if outside is not None:
        mask = mask | outside
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)


def open_within(mask: np.ndarray, kernel: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """Morphological opening (boolean) that does not erode a cell at the field's dark surround
    `outside`, as OpenCV does not at the image border."""
    if outside is None:
        return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    eroded = cv2.erode((mask | outside).astype(np.uint8), kernel).astype(bool) & ~outside
    return cv2.dilate(eroded.astype(np.uint8), kernel).astype(bool) & mask


def close_within(mask: np.ndarray, kernel: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """Morphological closing (boolean) that leaves the field's dark surround `outside` empty and does
    not shrink a cell there, as OpenCV does not at the image border."""
    if outside is None:
        return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    dilated = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return cv2.erode((dilated | outside).astype(np.uint8), kernel).astype(bool) & ~outside


def disk(radius: float) -> np.ndarray:
    size = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * size + 1, 2 * size + 1))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes filled: background not reachable from the image border (flood fill; scipy's is slower)."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask.astype(np.uint8)
    flood_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(padded, flood_mask, (0, 0), 2)
    return padded[1:-1, 1:-1] != 2


def local_maxima(
    image: np.ndarray, radius: float, threshold: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """(row, col) of the maxima of `image` within a disc of `radius`, one per plateau, above `threshold`."""
    peaks = (image >= cv2.dilate(image, disk(radius))) & (image >= threshold)
    if mask is not None:
        peaks &= mask
    n, comp, _, centroids = cv2.connectedComponentsWithStats(peaks.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros((0, 2), dtype=np.int64)
    # One point per plateau: the plateau pixel nearest its centroid.
    ys, xs = np.nonzero(comp)
    ids = comp[ys, xs]
    gaps = (xs - centroids[ids, 0]) ** 2 + (ys - centroids[ids, 1]) ** 2
    order = np.lexsort((gaps, ids))
    first = np.ones(order.size, dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    chosen = order[first]
    return np.stack([ys[chosen], xs[chosen]], axis=1).astype(np.int64)


def fill_small_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    holes = fill_holes(mask) & ~mask
    if not holes.any():
        return mask
    n, hole_labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    small = np.zeros(n, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] <= max_area
    return mask | small[hole_labels]


def remove_small(mask: np.ndarray, min_area: float) -> np.ndarray:
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[comp]


def solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area of the largest outline in `mask`, both as polygons.

    Both areas are taken on the same outline: the pixel count over the hull of the pixel centres
    reads about 5% too high on a cell of radius 10 pixels (over 1 on some convex cells), so at the
    working scale it hid concave clumps.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    return float(cv2.contourArea(outline)) / max(1.0, float(cv2.contourArea(cv2.convexHull(outline))))


def elongation(mask: np.ndarray) -> float:
    """Ratio of the principal axes of `mask` (from its second moments): 1 for a disc, 2 for a 2:1 ellipse."""
    moments = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    mean = (moments["mu20"] + moments["mu02"]) / 2.0
    spread = math.hypot((moments["mu20"] - moments["mu02"]) / 2.0, moments["mu11"])
    return math.sqrt((mean + spread) / max(mean - spread, 1e-9))
