"""Perturbations for robustness checks: parsing, colour, scale, focus, noise, compression and tiles."""

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
    "text",
    [
        "scale=0",
        "scale=5",
        "scale=-1",
        "saturation=11",
        "hue=x",
        "tile=0",
        "tile=1.5",
        "tile=9",
        "blur=-1",
        "blur=21",
        "noise=101",
        "jpeg=0",
        "jpeg=101",
        "jpeg=50.5",
    ],
)
def test_out_of_range_or_malformed_values_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"between|Bad number|whole number"):
        parse_perturbation(text)


@pytest.mark.parametrize("text", ["hue=inf", "hue=-inf", "hue=nan", "saturation=nan", "tile=inf"])
def test_a_value_that_is_not_a_finite_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=rf"Bad number in perturbation '{text}': it must be a finite number"):
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


def _edge(height: int = 32, width: int = 32) -> np.ndarray:
    rgb = np.full((height, width, 3), 40, np.uint8)
    rgb[:, width // 2 :] = 220
    return rgb


def test_blur_softens_an_edge_as_a_field_out_of_focus_does() -> None:
    p = parse_perturbation("blur=2")
    assert p == Perturbation(blur_sigma=2.0)
    assert p.describe() == "blur=2"
    out = p.apply(_edge())
    row = out[16, :, 0].astype(int)
    # Far from the edge nothing changes; at the edge the step became a ramp.
    assert (row[0], row[-1]) == (40, 220)
    assert 40 < row[15] < 130 < row[16] < 220
    assert Perturbation(blur_sigma=0.0).is_identity


def test_noise_has_the_asked_spread_and_repeats() -> None:
    p = parse_perturbation("noise=8")
    assert p == Perturbation(noise_sigma=8.0)
    flat = np.full((64, 64, 3), 128, np.uint8)
    out = p.apply(flat)
    assert abs(out.astype(float).std() - 8.0) < 0.5
    assert abs(out.astype(float).mean() - 128.0) < 0.5
    assert np.array_equal(out, p.apply(flat))  # a fixed seed: a run repeats


def test_jpeg_compression_loses_detail_the_harder_it_compresses() -> None:
    assert parse_perturbation("jpeg=30") == Perturbation(jpeg_quality=30)
    assert Perturbation(jpeg_quality=30).describe() == "jpeg=30"
    rgb = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)

    def error(quality: int) -> float:
        return float(np.abs(Perturbation(jpeg_quality=quality).apply(rgb).astype(int) - rgb).mean())

    assert 0 < error(95) < error(50) < error(10)


def test_degradations_follow_the_order_a_picture_is_made_in() -> None:
    # Blur is in the field's pixels, before the scale: blurring after halving would double its reach.
    p = parse_perturbation("scale=0.5,blur=2,jpeg=90,noise=1")
    assert p is not None
    assert p.describe() == "scale=0.5,blur=2,noise=1,jpeg=90"
    assert not p.is_identity
    blurred_then_halved = Perturbation(scale=0.5).apply(Perturbation(blur_sigma=2.0).apply(_edge()))
    np.testing.assert_array_equal(Perturbation(blur_sigma=2.0, scale=0.5).apply(_edge()), blurred_then_halved)


def test_exposure_scales_every_channel_and_clips_at_white() -> None:
    rgb = np.array([[[200, 150, 100], [240, 230, 250], [10, 20, 30]]], np.uint8)
    longer = parse_perturbation("exposure=1.2")
    assert longer == Perturbation(exposure=1.2)
    assert longer.describe() == "exposure=1.2"
    # The light one turns white, the others keep their hue (unlike brightness, which keeps saturation).
    np.testing.assert_array_equal(longer.apply(rgb), [[[240, 180, 120], [255, 255, 255], [12, 24, 36]]])
    assert Perturbation(brightness=1.2).apply(rgb)[0, 1].min() < 255
