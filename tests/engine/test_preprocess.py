"""Preprocessing: CLAHE equalises luminance only (stain hues survive) and the model always gets 224x224x3."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine.preprocess import MODEL_INPUT_SIZE, clahe_rgb, prepare_for_model, resize_for_model


def _hue(rgb: tuple[int, int, int] | np.ndarray) -> int:
    pixel = np.array(rgb, dtype=np.uint8).reshape(1, 1, 3)
    return int(cv2.cvtColor(pixel, cv2.COLOR_RGB2HSV_FULL)[0, 0, 0])


def _hue_distance(a: int, b: int) -> int:
    # Hue is circular (0..255 in the FULL variant).
    d = abs(a - b) % 256
    return min(d, 256 - d)


# Giemsa-like purples and pinks, plus a saturated red and green.
FLAT_COLOURS = [(120, 60, 180), (180, 120, 200), (200, 30, 30), (30, 160, 40), (210, 150, 170)]


# Sizes of real inputs. (Tiles under ~128 pixels, e.g. a 64x96 image, shift a flat image's lightness a
# lot: CLAHE's clip limit rounds up to one count per bin there. Smear images are far larger.)
@pytest.mark.parametrize("shape", [(224, 224), (480, 640)])
@pytest.mark.parametrize("colour", FLAT_COLOURS)
def test_clahe_keeps_shape_dtype_and_hue_of_a_flat_colour(
    colour: tuple[int, int, int], shape: tuple[int, int]
) -> None:
    image = np.full((*shape, 3), colour, dtype=np.uint8)
    out = clahe_rgb(image)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    # A flat image stays flat, and its colour (hue above all) barely moves.
    assert (out == out[0, 0]).all()
    assert _hue_distance(_hue(out[0, 0]), _hue(colour)) <= 3
    assert np.abs(out[0, 0].astype(int) - np.array(colour)).max() <= 12


def test_clahe_does_not_modify_its_input() -> None:
    image = np.full((32, 32, 3), (120, 60, 180), dtype=np.uint8)
    before = image.copy()
    clahe_rgb(image)
    np.testing.assert_array_equal(image, before)


def test_clahe_raises_the_contrast_of_a_low_contrast_image() -> None:
    grey = np.random.default_rng(0).integers(110, 131, (128, 128)).astype(np.uint8)
    image = np.dstack([grey, grey, grey])
    out = clahe_rgb(image)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert out.std() > 2 * image.std()
    spread_in = np.percentile(image, 95) - np.percentile(image, 5)
    spread_out = np.percentile(out, 95) - np.percentile(out, 5)
    assert spread_out > 1.5 * spread_in


def test_clahe_keeps_a_grey_image_grey() -> None:
    grey = np.random.default_rng(1).integers(80, 181, (64, 64)).astype(np.uint8)
    out = clahe_rgb(np.dstack([grey, grey, grey]))
    # Only luminance changes: the channels stay (almost) equal.
    assert np.abs(out[:, :, 0].astype(int) - out[:, :, 1]).max() <= 2
    assert np.abs(out[:, :, 1].astype(int) - out[:, :, 2]).max() <= 2


@pytest.mark.parametrize(
    ("height", "width"), [(1, 1), (50, 80), (224, 224), (300, 200), (1080, 1920), (225, 223)]
)
def test_prepare_for_model_gives_224_square_rgb_uint8(height: int, width: int) -> None:
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = prepare_for_model(image)
    assert MODEL_INPUT_SIZE == 224
    assert out.shape == (224, 224, 3)
    assert out.dtype == np.uint8


def test_prepare_for_model_honours_another_size() -> None:
    image = np.zeros((100, 150, 3), dtype=np.uint8)
    assert prepare_for_model(image, size=64).shape == (64, 64, 3)


def test_resize_keeps_a_flat_colour() -> None:
    image = np.full((37, 511, 3), (12, 34, 56), dtype=np.uint8)
    out = resize_for_model(image)
    assert out.shape == (224, 224, 3)
    assert (out == (12, 34, 56)).all()
