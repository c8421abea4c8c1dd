"""Perturbations for robustness checks: parsing, colour and scale."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.perturbation import Perturbation, parse_perturbation


def test_perturbation_parsing_and_effect() -> None:
    p = parse_perturbation("hue=40, saturation=0.5")
    assert p == Perturbation(hue_degrees=40.0, saturation=0.5)
    assert p.describe() == "hue=40,saturation=0.5"
    assert parse_perturbation("none") is None
    with pytest.raises(ValueError, match="perturbation"):
        parse_perturbation("contrast=2")
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: hue 0
    shifted = Perturbation(hue_degrees=120).apply(rgb)
    assert shifted[0, 0].argmax() == 1  # red + 120 degrees is green
    assert Perturbation(hue_degrees=360).is_identity
    assert Perturbation(brightness=0.5).apply(rgb)[0, 0, 0] == 100


def test_scale_resizes_after_the_colour_change() -> None:
    p = parse_perturbation("scale=0.5,brightness=0.5")
    assert p == Perturbation(brightness=0.5, scale=0.5)
    assert p.describe() == "brightness=0.5,scale=0.5"
    rgb = np.full((40, 60, 3), 200, np.uint8)
    out = p.apply(rgb)
    assert out.shape == (20, 30, 3)
    assert out[0, 0, 0] == 100
    assert Perturbation(scale=2.0).apply(rgb).shape == (80, 120, 3)


@pytest.mark.parametrize("text", ["scale=0", "scale=5", "scale=-1", "saturation=11", "hue=x"])
def test_out_of_range_or_malformed_values_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"between|Bad number"):
        parse_perturbation(text)
