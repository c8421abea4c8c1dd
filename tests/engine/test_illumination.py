"""Uneven lighting (a vignette, a lamp off centre) is evened before the segmentation reads colours
against the glass: with its corners at 65% of its middle's light, a generated field lost both its
white cells and six of its ten red cells."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine.illumination import MIN_VARIATION, even_lighting, lighting_surface, neutral_glass
from inference.engine.segmentation import SegmentationParams, segment_cells
from tests.engine.synthetic import BACKGROUND, dense_pale_field, touching_field

PARAMS = SegmentationParams(use_centre_network=False)


def _shaded(rgb: np.ndarray, depth: float) -> np.ndarray:
    """`rgb` lit `depth` less at its corners than at its middle, falling off with the square of the radius."""
    height, width = rgb.shape[:2]
    yy, xx = np.mgrid[:height, :width]
    radius = np.hypot((yy - height / 2) / (height / 2), (xx - width / 2) / (width / 2)) / np.sqrt(2)
    return np.clip(rgb * (1.0 - depth * radius**2)[:, :, None], 0, 255).astype(np.uint8)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)


def test_the_surface_follows_the_light_on_empty_glass() -> None:
    shaded = _shaded(np.full((120, 160, 3), BACKGROUND, dtype=np.uint8), 0.3)
    surface, lightness = lighting_surface(shaded), _lightness(shaded)
    # Each block's glass is read from its brightest pixels, on its side towards the middle, so the
    # surface follows most of the fall (52 of 64 units here), not all of it.
    fall = lightness[60, 80] - lightness[0, 0]
    assert 0.7 * fall < surface[60, 80] - surface[0, 0] < 1.05 * fall
    assert surface[60, 80] == pytest.approx(lightness[60, 80], abs=3.0)


def test_an_evenly_lit_field_is_left_as_it_is() -> None:
    rgb = touching_field(radius=12).rgb
    assert even_lighting(rgb) is rgb
    # Light falling off by a tenth is within what the counter was tuned on.
    slightly = _shaded(rgb, 0.1)
    assert lighting_surface(slightly).max() / lighting_surface(slightly).min() < MIN_VARIATION
    assert even_lighting(slightly) is slightly


def test_a_field_with_dark_corners_is_counted_as_when_evenly_lit() -> None:
    field = touching_field(radius=12)
    shaded = _shaded(field.rgb, 0.35)
    result = segment_cells(shaded, PARAMS, measure=False)
    assert (result.n_nucleated, result.n_red) == (field.n_nucleated, field.n_red)
    # The glass of the corners is brought back near the middle's.
    glass = np.abs(field.rgb.astype(int) - BACKGROUND).max(axis=2) < 8
    height, width = glass.shape
    corners = np.zeros_like(glass)
    corners[: height // 5, : width // 5] = corners[-height // 5 :, -width // 5 :] = True
    middle = np.zeros_like(glass)
    middle[2 * height // 5 : 3 * height // 5, 2 * width // 5 : 3 * width // 5] = True

    def fall(rgb: np.ndarray) -> float:
        lightness = _lightness(rgb)
        return float(lightness[glass & middle].mean() - lightness[glass & corners].mean())

    assert fall(shaded) > 40.0  # of 255
    assert fall(even_lighting(shaded)) < 0.35 * fall(shaded)


def test_a_field_under_a_yellow_lamp_is_counted_as_under_white_light() -> None:
    field = dense_pale_field()
    evenly = segment_cells(field.rgb, PARAMS, measure=False)
    # A halogen lamp without the camera's white balance: blue at 60% of red, green at 80%.
    yellow = np.clip(field.rgb * np.array([1.0, 0.8, 0.6]), 0, 255).astype(np.uint8)
    result = segment_cells(yellow, PARAMS, measure=False)
    assert result.n_nucleated == evenly.n_nucleated == field.n_nucleated
    assert result.n_red == pytest.approx(evenly.n_red, abs=3)  # 0 and 28 before
    glass = np.abs(field.rgb.astype(int) - BACKGROUND).max(axis=2) < 8
    colour = neutral_glass(yellow)[glass].mean(axis=0)
    assert colour.max() / colour.min() < 1.05


def test_the_usual_tint_of_the_glass_is_left_as_it_is() -> None:
    rgb = touching_field(radius=12).rgb
    tinted = np.clip(rgb * np.array([0.95, 1.0, 0.9]), 0, 255).astype(np.uint8)
    assert neutral_glass(tinted) is tinted
