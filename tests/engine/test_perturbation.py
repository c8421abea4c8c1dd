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


@pytest.mark.parametrize(
    "text", ["scale=0", "scale=5", "scale=-1", "saturation=11", "hue=x", "tile=0", "tile=1.5", "tile=9"]
)
def test_out_of_range_or_malformed_values_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"between|Bad number|whole number"):
        parse_perturbation(text)


def test_tile_mirrors_the_field_into_copies_after_the_rest() -> None:
    p = parse_perturbation("tile=3,scale=0.5")
    assert p == Perturbation(scale=0.5, tile=3)
    assert p.describe() == "scale=0.5,tile=3"
    assert p.copies == 9
    assert not Perturbation(tile=2).is_identity
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    out = Perturbation(tile=3).apply(rgb)
    assert out.shape == (12, 18, 3)
    assert np.array_equal(out[:4, :6], rgb)
    assert np.array_equal(out[:4, 6:12], rgb[:, ::-1])
    assert np.array_equal(out[4:8, 12:18], rgb[::-1])


def test_a_stain_density_change_darkens_what_that_stain_colours() -> None:
    p = parse_perturbation("haematoxylin=1.5,eosin=0.5")
    assert p == Perturbation(haematoxylin=1.5, eosin=0.5)
    assert p.describe() == "haematoxylin=1.5,eosin=0.5"
    assert parse_perturbation("hematoxylin=1.5") == Perturbation(haematoxylin=1.5)
    violet = np.full((4, 4, 3), (112, 88, 196), np.uint8)  # a nucleus: mostly haematoxylin
    pink = np.full((4, 4, 3), (230, 150, 170), np.uint8)  # eosin
    assert Perturbation(haematoxylin=1.5).apply(violet).astype(int).sum() < violet.astype(int).sum() - 60
    assert Perturbation(eosin=0.5).apply(pink).astype(int).sum() > pink.astype(int).sum() + 30
    glass = np.full((4, 4, 3), 255, np.uint8)  # no stain at all: nothing to change
    assert np.array_equal(p.apply(glass), glass)
