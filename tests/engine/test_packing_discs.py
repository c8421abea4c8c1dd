"""The packing discs are found with a k-d tree (a field of 40 million pixels of small cells has
millions of distance peaks; comparing every pair took six minutes): they must be the discs that
comparing every pair gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine.cell_radius import _disc_radii, _inside_discs
from inference.engine.mask_ops import local_maxima


def _every_pair(mask: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """`_disc_radii` as it was written first: every peak against every other."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    peaks = local_maxima(dist, 1, 2.0)
    peaks = peaks[~exclude[tuple(peaks.T)]]
    values = dist[tuple(peaks.T)]
    points = peaks.astype(np.float32)
    gaps = np.hypot(points[:, None, 0] - points[None, :, 0], points[:, None, 1] - points[None, :, 1])
    deeper = values[None, :] > values[:, None]
    inside = np.any(deeper & (gaps < 0.9 * values[None, :]), axis=1)
    return values[~inside].astype(np.float64)


def _discs(seed: int, size: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping discs of radius 3-25 (clumps, specks) and a few nucleus blobs to leave out."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(120):
        x, y = rng.integers(0, size, 2)
        cv2.circle(mask, (int(x), int(y)), int(rng.integers(3, 25)), 1, thickness=-1)
    exclude = np.zeros((size, size), np.uint8)
    for _ in range(5):
        x, y = rng.integers(0, size, 2)
        cv2.circle(exclude, (int(x), int(y)), 12, 1, thickness=-1)
    return mask.astype(bool), exclude.astype(bool)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tree_keeps_the_discs_that_every_pair_keeps(seed: int) -> None:
    mask, exclude = _discs(seed)
    expected = _every_pair(mask, exclude)
    assert len(expected) > 50
    np.testing.assert_array_equal(np.sort(_disc_radii(mask, exclude)), np.sort(expected))


def test_points_inside_grown_discs() -> None:
    points = np.array([[0, 0], [0, 10], [0, 13], [20, 20]])
    reach = np.array([1.0, 1.0, 3.5, 1.0], dtype=np.float32)
    centres = np.array([[0, 0]])
    radii = np.array([10.0], dtype=np.float32)
    # 0 and 10 pixels away are within 10 + 1; 13 is within 10 + 3.5; (20, 20) is 28 away.
    assert _inside_discs(points, reach, centres, radii).tolist() == [True, True, True, False]
