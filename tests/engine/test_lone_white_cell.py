"""A field of one white cell and no red cell (or one) has no phantom red cells.

The radius estimate cut the nucleus out of the mask (the rule for packed blasts, whose nuclei cover a
quarter of the mask; a lone white cell's nucleus covers more) and measured the ring of cytoplasm that
was left: a CBC-sized field of one white cell read a radius of 9 pixels and 25 red cells.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference.engine.cell_radius import estimate_cell_radius
from inference.engine.segmentation import segment_cells
from tests.engine.synthetic import BACKGROUND, draw_nucleated_cell, draw_red_cell


def _field(
    width: int, height: int, radius: int, seed: int, red_cells: int = 0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Glass, one white cell (nucleus 1.05 `radius`, cytoplasm 1.6) in the middle and `red_cells` red
    cells of `radius` in the corners, blurred and noisy as the generated fields are."""
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    centre = (width // 2, height // 2)
    draw_nucleated_cell(image, centre, radius)
    corners = [(width // 6, height // 4), (5 * width // 6, 3 * height // 4)]
    for corner in corners[:red_cells]:
        draw_red_cell(image, corner, radius)
    rng = np.random.default_rng(seed)
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.6, radius / 16))
    noisy = blurred.astype(np.float32) + rng.normal(0.0, 3.0, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), centre


@pytest.mark.parametrize(
    ("width", "height", "radius"),
    [(640, 480, 40), (640, 480, 30), (320, 240, 16), (160, 160, 8)],
)
def test_a_lone_white_cell_has_no_red_cells(width: int, height: int, radius: int) -> None:
    # 25-34, 10-13 and 4-7 red cells before, at a radius of 4-9 pixels.
    for seed in range(2):
        rgb, _ = _field(width, height, radius, seed)
        result = segment_cells(rgb, measure=False)
        assert (result.n_nucleated, result.n_red) == (1, 0), (seed, result.cell_radius_px)


@pytest.mark.parametrize("red_cells", [1, 2])
def test_a_white_cell_beside_a_red_cell_sizes_it_by_the_red_cell(red_cells: int) -> None:
    # With one red cell the cytoplasm's ring still outweighed it: radius 9 pixels for 40, 33 red cells.
    rgb, _ = _field(480, 480, 40, 0, red_cells=red_cells)
    result = segment_cells(rgb, measure=False)
    assert (result.n_nucleated, result.n_red) == (1, red_cells)
    assert result.cell_radius_px == pytest.approx(40, rel=0.15)


def test_the_ring_of_cytoplasm_is_not_measured_as_red_cells() -> None:
    """On the masks alone: with no red cell, the estimate is the nucleus's (a nucleus is about 1.5
    red-cell radii), not the ring's discs."""
    size, radius = 480, 40
    yy, xx = np.mgrid[:size, :size]
    gap = np.hypot(yy - size / 2, xx - size / 2)
    cell = gap <= 1.6 * radius
    nucleus = gap <= 1.05 * radius
    nucleus_radius = math.sqrt(np.count_nonzero(nucleus) / math.pi)
    assert estimate_cell_radius(cell, nucleus) == pytest.approx(nucleus_radius / 1.5, rel=0.05)
