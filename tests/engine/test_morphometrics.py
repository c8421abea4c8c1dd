"""Morphometrics on shapes of known area, perimeter and eccentricity."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops

from inference.engine.morphometrics import GLCM_LEVELS, glcm_texture, measure_nucleated_cell, shape_metrics
from inference.engine.segmentation import segment_cells
from tests.engine.synthetic import BACKGROUND, _finish, draw_nucleated_cell, draw_red_cell


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


def test_glcm_flat_and_stripes() -> None:
    mask = np.ones((20, 20), bool)
    flat_contrast, flat_entropy = glcm_texture(np.full((20, 20), 90, np.uint8), mask)
    assert flat_contrast == 0.0
    assert flat_entropy == 0.0
    # Vertical stripes of 0 and 255: levels 0 and 31 of the fixed bins. Of the 1,482 neighbour pairs
    # (four angles), the 380 vertical ones join equal levels (190 each for 0-0 and 31-31), the 380
    # horizontal and 722 diagonal ones join 0 and 31 (half each way, the matrix being symmetric).
    stripes = np.tile(np.array([0, 255], np.uint8), (20, 10))
    contrast, entropy = glcm_texture(stripes, mask)
    assert contrast == pytest.approx(31**2 * 1102 / 1482)
    p = np.array([190, 190, 551, 551]) / 1482
    assert entropy == pytest.approx(float(-(p * np.log2(p)).sum()))


def test_glcm_levels_are_fixed_so_texture_compares_between_cells() -> None:
    # The levels were once stretched over each nucleus's own grey range: +-1 noise then read as
    # more textured (contrast 329) than coarse +-40 chromatin (181). Fixed bins of 8 grey values
    # put +-1 noise in at most two neighbouring levels (here 119 | 120..121, the worst case).
    rng = np.random.default_rng(0)
    mask = np.ones((30, 30), bool)
    flat = (120 + rng.integers(-1, 2, (30, 30))).astype(np.uint8)
    coarse = np.clip(120 + rng.integers(-40, 41, (30, 30)), 0, 255).astype(np.uint8)
    flat_contrast, flat_entropy = glcm_texture(flat, mask)
    coarse_contrast, coarse_entropy = glcm_texture(coarse, mask)
    assert flat_contrast < 1.0
    assert coarse_contrast > 10.0
    assert flat_entropy < coarse_entropy / 2
    # Noise that stays within one bin reads as no texture at all.
    assert glcm_texture((124 + rng.integers(-1, 2, (30, 30))).astype(np.uint8), mask) == (0.0, 0.0)


@pytest.mark.parametrize("base", [120, 124])
def test_glcm_one_bright_pixel_changes_the_texture_only_slightly(base: int) -> None:
    # Stretched levels moved a smooth nucleus's entropy from 5.2 to 1.9 bits for one glare pixel.
    rng = np.random.default_rng(1)
    mask = np.ones((30, 30), bool)
    for spread in (1, 40):
        grey = np.clip(base + rng.integers(-spread, spread + 1, (30, 30)), 0, 255).astype(np.uint8)
        bright = grey.copy()
        bright[15, 15] = 255
        contrast, entropy = glcm_texture(grey, mask)
        bright_contrast, bright_entropy = glcm_texture(bright, mask)
        assert abs(bright_entropy - entropy) < 0.1
        assert abs(bright_contrast - contrast) < 1.0


def test_glcm_matches_scikit_image_on_the_same_fixed_levels() -> None:
    # An independent computation: scikit-image's co-occurrence matrix of the quantised nucleus (a
    # rectangle, so no pixel outside the mask is involved), its four angles pooled into one matrix
    # as glcm_texture pools them, and graycoprops' contrast and entropy (natural log) of it. Grey
    # values 60..179 do not span 0..255, so levels stretched to the nucleus's own range would differ.
    rng = np.random.default_rng(2)
    nucleus = rng.integers(60, 180, (40, 50)).astype(np.uint8)
    grey = np.zeros((60, 70), np.uint8)
    grey[10:50, 10:60] = nucleus
    mask = grey > 0
    levels = (nucleus.astype(np.int64) * GLCM_LEVELS // 256).astype(np.uint8)
    angles = [0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    matrices = graycomatrix(levels, [1], angles, levels=GLCM_LEVELS, symmetric=True)
    pooled = matrices.sum(axis=3, keepdims=True)
    contrast, entropy = glcm_texture(grey, mask)
    assert contrast == pytest.approx(graycoprops(pooled, "contrast")[0, 0], rel=1e-12)
    assert entropy == pytest.approx(graycoprops(pooled, "entropy")[0, 0] / math.log(2), rel=1e-12)


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
    assert cell.hematoxylin_mean is not None
    assert cell.hematoxylin_mean > 0
    assert cell.cut_by_border is False
    assert cell.to_dict()["bbox"] == [10, 10, 71, 71]


def test_an_empty_nucleus_gives_no_nucleus_values() -> None:
    rgb = np.full((40, 40, 3), 200, np.uint8)
    labels = np.zeros((40, 40), np.int32)
    cv2.circle(labels, (20, 20), 10, 1, thickness=-1)
    cell = measure_nucleated_cell(rgb, labels, np.zeros_like(labels), 1)
    assert cell.nucleus_area == 0
    for key in (
        "nc_ratio",
        "chromatin_contrast",
        "chromatin_entropy",
        "nucleus_mean_rgb",
        "hematoxylin_mean",
    ):
        assert getattr(cell, key) is None
        assert cell.to_dict()[key] is None
    assert cell.eosin_mean is not None
    # A nucleus that fills the cell leaves no cytoplasm to read eosin on.
    assert measure_nucleated_cell(rgb, labels, labels, 1).eosin_mean is None


def test_a_cell_cut_by_the_image_border_is_flagged() -> None:
    # A generated field: red cells, one nucleated cell inside and the same cell centred on the right
    # edge, half outside the picture (measured truncated: about half the area, far from round).
    r = 12
    image = np.full((18 * r, 26 * r, 3), BACKGROUND, np.uint8)
    for centre in [(3 * r, 3 * r), (3 * r, 14 * r), (22 * r, 15 * r), (8 * r, 15 * r)]:
        draw_red_cell(image, centre, r)
    draw_nucleated_cell(image, (12 * r, 8 * r), r)
    draw_nucleated_cell(image, (26 * r - 1, 8 * r), r)
    result = segment_cells(_finish(image, 0, r))
    assert result.n_nucleated == 2
    inside, cut = sorted(result.nucleated_cells, key=lambda cell: cell.centroid[0])
    assert inside.cut_by_border is False
    assert cut.cut_by_border is True
    assert cut.area < 0.6 * inside.area
    assert cut.to_dict()["cut_by_border"] is True
    assert json.loads(json.dumps(result.to_dict()))["cells"][0]["cut_by_border"] is False


def test_eccentricity_is_that_of_the_pixel_moments_with_a_pixel_s_extent() -> None:
    from skimage.measure import regionprops

    mask = np.zeros((60, 80), dtype=np.uint8)
    cv2.ellipse(mask, (40, 30), (25, 9), 30, 0, 360, 1, -1)
    # scikit-image's second moments (over N), plus the 1/12 of a unit pixel that MATLAB adds.
    small, large = sorted(e + 1 / 12 for e in regionprops(mask)[0].inertia_tensor_eigvals)
    assert shape_metrics(mask).eccentricity == pytest.approx(math.sqrt(1 - small / large), abs=1e-9)
