"""The red-cell radius estimate where nuclei cover much of the field (packed ALL blasts): the discs
that pack the pools of cytoplasm between touching blasts must not be taken for red cells."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference.engine import cell_radius
from inference.engine.cell_radius import estimate_cell_radius
from inference.engine.segmentation import segment_cells
from tests.engine.synthetic import touching_field

RED_RADIUS = 9


def _rings_of_blasts(n_red: int, seed: int, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Cell and nucleus masks: four rings of six touching blast nuclei, each around a pool of its
    cytoplasm (the whole ring is one region of the cell mask), and `n_red` single red cells."""
    r = RED_RADIUS
    rng = np.random.default_rng(seed)
    cells = np.zeros((size, size), np.uint8)
    nuclei = np.zeros((size, size), np.uint8)
    rings = [
        (size // 4, size // 4),
        (3 * size // 4, size // 4),
        (size // 4, 3 * size // 4),
        (3 * size // 4, 3 * size // 4),
    ]
    for cx, cy in rings:
        cv2.circle(cells, (cx, cy), round(3.6 * r), 1, thickness=-1)
        for k in range(6):
            angle = k * math.pi / 3
            centre = (round(cx + 2.3 * r * math.cos(angle)), round(cy + 2.3 * r * math.sin(angle)))
            cv2.circle(nuclei, centre, round(1.25 * r), 1, thickness=-1)
    red: list[np.ndarray] = []
    while len(red) < n_red:
        p = rng.integers(r, size - r, 2)
        clear_of_rings = all(math.hypot(p[0] - cx, p[1] - cy) >= 4.7 * r for cx, cy in rings)
        if clear_of_rings and all(np.hypot(*(p - q)) >= 2.05 * r for q in red):
            red.append(p)
            cv2.circle(cells, (int(p[0]), int(p[1])), r, 1, thickness=-1)
    return (cells | nuclei).astype(bool), nuclei.astype(bool)


@pytest.mark.parametrize(("n_red", "seed"), [(8, 0), (12, 1)])
def test_pools_between_packed_blasts_do_not_inflate_the_radius(
    n_red: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells, nuclei = _rings_of_blasts(n_red, seed)
    assert np.count_nonzero(nuclei) >= 0.5 * np.count_nonzero(cells)
    assert estimate_cell_radius(cells, nuclei) == pytest.approx(RED_RADIUS, rel=0.15)
    # With the nuclei left in, the pools are the largest discs and the estimate was 3.2 times too large.
    monkeypatch.setattr(cell_radius, "_NUCLEUS_SHARE_FOR_CUT", 2.0)
    assert estimate_cell_radius(cells, nuclei) > 2 * RED_RADIUS


def test_a_field_with_few_white_cells_is_measured_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    field = touching_field(radius=12)
    result = segment_cells(field.rgb, measure=False)
    monkeypatch.setattr(cell_radius, "_NUCLEUS_SHARE_FOR_CUT", 2.0)
    assert segment_cells(field.rgb, measure=False).cell_radius_px == result.cell_radius_px
