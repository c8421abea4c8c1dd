"""The dark surround of a field (a black band, frame or round field stop) is no cell: the segmentation
counts the field inside it as it counts the field alone. It was one huge cell that set the red-cell
radius (a 20-pixel band over an all4 field took the radius from 8 to 20 pixels)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine.field_edge import outside_field
from inference.engine.segmentation import SegmentationParams, segment_cells
from tests.engine.synthetic import NUCLEUS, touching_field

PARAMS = SegmentationParams(use_centre_network=False)


def _counts(rgb: np.ndarray) -> tuple[int, int, float]:
    result = segment_cells(rgb, PARAMS, measure=False)
    return result.n_nucleated, result.n_red, result.cell_radius_px


def test_an_ordinary_field_has_no_surround() -> None:
    assert not outside_field(touching_field().rgb).any()


def test_a_black_band_beside_the_cells_changes_no_count() -> None:
    field = touching_field(radius=12)
    banded = field.rgb.copy()
    banded[:, -24:] = 0  # the cells end 36 pixels from the right edge
    mask = outside_field(banded)
    assert mask[:, -24:].all()
    assert not mask[:, :-28].any()
    n_nucleated, n_red, radius = _counts(field.rgb)
    banded_nucleated, banded_red, banded_radius = _counts(banded)
    assert (banded_nucleated, banded_red) == (n_nucleated, n_red) == (field.n_nucleated, field.n_red)
    assert banded_radius == pytest.approx(radius, rel=0.1)


def test_a_round_field_stop_changes_no_count() -> None:
    field = touching_field(radius=12)
    height, width = field.rgb.shape[:2]
    pad = 60
    framed = cv2.copyMakeBorder(field.rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    yy, xx = np.mgrid[: framed.shape[0], : framed.shape[1]]
    # An ellipse through the padding: the whole field is inside it, the corners of the picture are black.
    beyond = ((yy - framed.shape[0] / 2) / (height / 2 + pad)) ** 2 + (
        (xx - framed.shape[1] / 2) / (width / 2 + pad)
    ) ** 2
    framed[beyond > 1.0] = 0
    assert outside_field(framed)[0, 0]
    n_nucleated, n_red, radius = _counts(framed)
    assert (n_nucleated, n_red) == (field.n_nucleated, field.n_red)
    assert radius == pytest.approx(_counts(field.rgb)[2], rel=0.1)


def test_dark_stain_and_a_dark_speck_inside_are_not_surround() -> None:
    rgb = touching_field(radius=12).rgb.copy()
    # Nucleus-coloured, darkened, against the border: stained, so it is a cell.
    rgb[:30, :30] = np.array(NUCLEUS) // 3
    # A black speck away from the border: debris for the segmentation, not the field's edge.
    rgb[100:110, 150:160] = 0
    assert not outside_field(rgb).any()


def test_a_picture_that_is_all_surround_keeps_its_pixels() -> None:
    # Bright specks in black: grown over, the surround would leave no glass to paint it with.
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[::4, ::4] = 230
    assert not outside_field(rgb).any()
    result = segment_cells(rgb, PARAMS, measure=False)
    assert (result.n_nucleated, result.n_red) == (0, 0)
