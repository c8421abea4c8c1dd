"""Morphometrics on shapes of known area, perimeter and eccentricity."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference.engine.morphometrics import glcm_texture, measure_nucleated_cell, shape_metrics


def _disc(radius: int, size: int = 100) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (size // 2, size // 2), radius, 1, thickness=-1)
    return mask.astype(bool)


def test_disc_area_perimeter_circularity() -> None:
    shape = shape_metrics(_disc(30))
    assert shape.area == pytest.approx(math.pi * 30**2, rel=0.02)
    assert shape.perimeter == pytest.approx(2 * math.pi * 30, rel=0.02)
    assert shape.circularity > 0.9
    assert shape.eccentricity < 0.1


def test_square_area_perimeter_circularity() -> None:
    mask = np.zeros((60, 60), bool)
    mask[10:50, 10:50] = True
    shape = shape_metrics(mask)
    assert shape.area == 1600
    # The Crofton estimate favours round shapes: a square's corners come out about 6% short.
    assert shape.perimeter == pytest.approx(4 * 40, rel=0.07)
    assert math.pi / 4 - 0.01 < shape.circularity < 0.9


@pytest.mark.parametrize(("a", "b"), [(40, 20), (40, 32), (30, 10)])
def test_ellipse_eccentricity(a: int, b: int) -> None:
    mask = np.zeros((120, 120), np.uint8)
    cv2.ellipse(mask, (60, 60), (a, b), 30, 0, 360, 1, thickness=-1)
    shape = shape_metrics(mask.astype(bool))
    assert shape.eccentricity == pytest.approx(math.sqrt(1 - (b / a) ** 2), abs=0.02)


def test_empty_mask() -> None:
    assert shape_metrics(np.zeros((5, 5), bool)).area == 0


def test_glcm_flat_and_checkerboard() -> None:
    mask = np.ones((20, 20), bool)
    flat_contrast, flat_entropy = glcm_texture(np.full((20, 20), 90, np.uint8), mask)
    assert flat_contrast == 0.0
    assert flat_entropy == 0.0
    stripes = np.tile(np.array([0, 255], np.uint8), (20, 10))
    contrast, entropy = glcm_texture(stripes, mask)
    assert contrast > 100
    assert 0.5 < entropy <= 2.0


def test_glcm_ignores_pixels_outside_the_mask() -> None:
    grey = np.full((20, 20), 100, np.uint8)
    grey[:, 15:] = 250
    mask = np.zeros((20, 20), bool)
    mask[:, :12] = True
    assert glcm_texture(grey, mask) == (0.0, 0.0)


def test_measure_cell_nc_ratio_and_stain() -> None:
    rgb = np.full((80, 80, 3), 230, np.uint8)
    cv2.circle(rgb, (40, 40), 30, (200, 180, 215), thickness=-1)
    cv2.circle(rgb, (40, 40), 15, (110, 90, 200), thickness=-1)
    labels = np.zeros((80, 80), np.int32)
    cv2.circle(labels, (40, 40), 30, 1, thickness=-1)
    nuclei = np.zeros((80, 80), np.int32)
    cv2.circle(nuclei, (40, 40), 15, 1, thickness=-1)
    cell = measure_nucleated_cell(rgb, labels, nuclei, 1)
    assert cell.centroid == pytest.approx((40, 40), abs=0.5)
    assert cell.bbox == (10, 10, 71, 71)
    assert cell.nc_ratio == pytest.approx((15 / 30) ** 2, rel=0.05)
    assert cell.nucleus_mean_rgb == pytest.approx((110, 90, 200), abs=1)
    assert cell.hematoxylin_mean > 0
    assert cell.to_dict()["bbox"] == [10, 10, 71, 71]


def test_eccentricity_is_that_of_the_pixel_moments_with_a_pixel_s_extent() -> None:
    from skimage.measure import regionprops

    mask = np.zeros((60, 80), dtype=np.uint8)
    cv2.ellipse(mask, (40, 30), (25, 9), 30, 0, 360, 1, -1)
    # scikit-image's second moments (over N), plus the 1/12 of a unit pixel that MATLAB adds.
    small, large = sorted(e + 1 / 12 for e in regionprops(mask)[0].inertia_tensor_eigvals)
    assert shape_metrics(mask).eccentricity == pytest.approx(math.sqrt(1 - small / large), abs=1e-9)
