"""Fields larger than the data sets' at the same magnification (a larger camera sensor, a stitched
field): the counts must grow with the field, not the cells with it. A field tiled by mirroring holds
exact copies of its cells, so its counts are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine import segmentation
from inference.engine.cell_radius import estimate_cell_radius, radius_bounds
from inference.engine.errors import ImageTooLargeError
from inference.engine.segmentation import SegmentationParams, segment_cells
from tests.engine.synthetic import dense_pale_field, touching_field


def _tiled(image: np.ndarray, times: int) -> np.ndarray:
    """`image` mirrored into `times` x `times` copies, so cells cut by a seam are made whole."""
    height, width = image.shape[:2]
    pad = [(0, (times - 1) * height), (0, (times - 1) * width)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric")


def test_the_radius_floor_is_a_fortieth_of_a_small_field_and_six_pixels_beyond() -> None:
    assert radius_bounds(224) == pytest.approx((5.6, 224 / 6))
    assert radius_bounds(2000) == pytest.approx((6.0, 2000 / 6))


@pytest.mark.parametrize("times", [2, 4])
def test_a_field_tiled_over_counts_its_cells_that_many_times(times: int) -> None:
    # 576 x 832 pixels at four times over: a red cell is 1/104 of the side. With the floor at 1/40 of
    # the side the radius was read 2.6 times too large, and 0 of 32 nucleated and 40 of 160 red cells
    # were found.
    field = touching_field(radius=8)
    result = segment_cells(_tiled(field.rgb, times), measure=False)
    assert result.cell_radius_px == pytest.approx(field.red_radius, rel=0.15)
    assert result.n_nucleated == times * times * field.n_nucleated
    assert result.n_red == times * times * field.n_red


def test_the_estimate_of_packed_discs_does_not_change_when_they_are_tiled() -> None:
    # Discs of radius 6, 2 pixels apart, 1/33 of a 200-pixel field; tiled 6x6 (1200 pixels) they are
    # 1.3 pixels on the usual 256-pixel grid, where they merged into discs several times too large.
    mask = np.zeros((200, 200), np.uint8)
    for row, y in enumerate(range(8, 195, 14)):
        for x in range(8 + 7 * (row % 2), 195, 14):
            cv2.circle(mask, (x, y), 6, 1, thickness=-1)
    nucleus = np.zeros_like(mask, dtype=bool)
    single = estimate_cell_radius(mask.astype(bool), nucleus)
    tiled = estimate_cell_radius(_tiled(mask, 6).astype(bool), _tiled(nucleus, 6))
    assert single == pytest.approx(6, rel=0.2)
    assert tiled == pytest.approx(single, rel=0.1)


def test_a_clump_of_hundreds_of_red_cells_is_cut_into_all_of_them() -> None:
    # Packed pale red cells tiled 3x3 touch across the whole field: the centre network's re-cut of a
    # clump once fitted 200 pixels whatever the clump held, so it found at most 200 parts, and the
    # field gave 732 red cells where its copies give nine times 121.
    field = dense_pale_field(radius=8, seed=0)
    params = SegmentationParams(cell_radius_px=10.8)
    single = segment_cells(field.rgb, params, measure=False).n_red
    tiled = segment_cells(_tiled(field.rgb, 3), params, measure=False).n_red
    assert tiled == pytest.approx(9 * single, rel=0.05)


def test_a_field_too_large_to_analyse_is_refused_with_how_to_crop_it(monkeypatch: pytest.MonkeyPatch) -> None:
    field = touching_field(radius=8)
    small = segment_cells(field.rgb, measure=False)
    work = (
        field.rgb.shape[0]
        * field.rgb.shape[1]
        * min(1.0, segmentation.WORK_RADIUS_PX / small.cell_radius_px) ** 2
    )
    # The limit just under this field at the working scale: the field is refused, as it is tiled...
    monkeypatch.setattr(segmentation, "MAX_WORK_PIXELS", int(work) - 1)
    with pytest.raises(
        ImageTooLargeError, match=r"million one analysis holds\. Crop it into fields of at most"
    ):
        segment_cells(field.rgb, measure=False)
    # ...and just over it, it is analysed as before.
    monkeypatch.setattr(segmentation, "MAX_WORK_PIXELS", int(work) + 1)
    assert segment_cells(field.rgb, measure=False).n_red == small.n_red
    # Larger cells are analysed on a smaller copy: the field enlarged 3 times has 9 times the pixels,
    # and fits a limit of a quarter of them.
    large = cv2.resize(field.rgb, None, fx=3.0, fy=3.0, interpolation=cv2.INTER_LINEAR)
    monkeypatch.setattr(segmentation, "MAX_WORK_PIXELS", large.shape[0] * large.shape[1] // 4)
    assert segment_cells(large, measure=False).n_nucleated == small.n_nucleated
