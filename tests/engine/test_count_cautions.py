"""Cautions on counts: over-exposure and a cell size at the estimate's bound are flagged, an ordinary
field is not, and the texts travel with the codes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inference.engine.count_cautions import (
    CAUTION_OVER_EXPOSED,
    CAUTION_SCALE_AT_BOUND,
    CAUTION_TEXTS,
    OVER_EXPOSED_SHARE,
    caution_tally,
    clipped_share,
)
from inference.engine.perturbation import parse_perturbation
from inference.engine.segmentation import SegmentationParams, segment_cells
from tests.engine.synthetic import BACKGROUND, draw_red_cell, touching_field


def test_only_pixels_white_in_every_channel_are_clipped() -> None:
    rgb = np.full((10, 10, 3), 200, np.uint8)
    rgb[:3] = 255  # 30 white pixels
    rgb[3:5] = (255, 255, 200)  # bright yellow, not clipped in blue
    rgb[5, :4] = 254  # the top of the range after JPEG rounding
    assert clipped_share(rgb) == 0.34


def test_an_ordinary_field_carries_no_caution() -> None:
    result = segment_cells(touching_field().rgb, measure=False)
    assert result.cautions == ()
    data = result.to_dict()
    assert data["cautions"] == data["caution_texts"] == []


def test_an_over_exposed_field_is_counted_with_a_caution() -> None:
    rgb = touching_field().rgb
    brighter = parse_perturbation("exposure=1.2")
    assert brighter is not None
    over = brighter.apply(rgb)
    # The glass (about three quarters of the field) is now white; the cells are not.
    assert clipped_share(rgb) == 0.0 < OVER_EXPOSED_SHARE < clipped_share(over)
    result = segment_cells(over, measure=False)
    assert result.cautions == (CAUTION_OVER_EXPOSED,)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["cautions"] == [CAUTION_OVER_EXPOSED]
    assert data["caution_texts"] == [CAUTION_TEXTS[CAUTION_OVER_EXPOSED]]
    # A little brighter, still under the sensor's range: no caution.
    slightly = parse_perturbation("exposure=1.05")
    assert slightly is not None
    assert segment_cells(slightly.apply(rgb), measure=False).cautions == ()


def test_a_cell_size_at_the_estimates_bound_is_flagged_unless_given() -> None:
    # One cell of radius 70 on a 200-pixel field: larger than a sixth of the side, the estimate's bound.
    image = np.full((200, 200, 3), BACKGROUND, np.uint8)
    draw_red_cell(image, (100, 100), 70)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    result = segment_cells(image, measure=False)
    assert result.cell_radius_px == pytest.approx(200 / 6)
    assert result.cautions == (CAUTION_SCALE_AT_BOUND,)
    # A radius the laboratory gives is measured, not estimated.
    given = segment_cells(image, SegmentationParams(cell_radius_px=70.0), measure=False)
    assert given.cautions == ()


def test_cautions_are_tallied_over_fields() -> None:
    fields = [(), (CAUTION_OVER_EXPOSED,), (CAUTION_OVER_EXPOSED, CAUTION_SCALE_AT_BOUND)]
    assert caution_tally(fields) == {CAUTION_SCALE_AT_BOUND: 1, CAUTION_OVER_EXPOSED: 2}
    assert caution_tally([]) == {}
