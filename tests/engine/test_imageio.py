"""`read_image` reads every accepted format to RGB uint8 (H, W, 3) and refuses bad input with a typed error.

Test images are encoded here, in memory: a pure red image written by PIL (which stores RGB as RGB) must
come back red, so a missing BGR->RGB swap after OpenCV's decode shows up as blue.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from inference.engine.errors import (
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)
from inference.engine.imageio import probe_image, read_image, validate_image

RED_RGB = (255, 0, 0)
HEIGHT, WIDTH = 24, 40  # not square, so a swapped (W, H) shows


def _pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _red(mode: str = "RGB") -> Image.Image:
    colour = (*RED_RGB, 255) if mode == "RGBA" else RED_RGB
    return Image.new(mode, (WIDTH, HEIGHT), colour)


def _noise_rgb(height: int = 256, width: int = 256, seed: int = 7) -> np.ndarray:
    """Noise does not compress, so cutting the file in half cuts the pixel data, not a header."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _cv2_bytes(pixels_bgr: np.ndarray, ext: str) -> bytes:
    ok, encoded = cv2.imencode(ext, pixels_bgr)
    assert ok, f"OpenCV could not encode {ext}"
    return encoded.tobytes()


def _jpeg() -> bytes:
    return _pil_bytes(_red(), "JPEG", quality=95)


def _png8() -> bytes:
    return _pil_bytes(_red(), "PNG")


def _png16() -> bytes:
    # OpenCV writes BGR: channel 2 is red. 0xFFFF must become 255 after reduction to 8 bits.
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint16)
    pixels[:, :, 2] = 0xFFFF
    return _cv2_bytes(pixels, ".png")


def _rgba_png() -> bytes:
    return _pil_bytes(_red("RGBA"), "PNG")


def _tiff() -> bytes:
    return _pil_bytes(_red(), "TIFF")


def _bmp() -> bytes:
    return _pil_bytes(_red(), "BMP")


def _assert_rgb8(image: np.ndarray) -> None:
    assert image.dtype == np.uint8
    assert image.shape == (HEIGHT, WIDTH, 3)


def _assert_red(image: np.ndarray, tolerance: int = 0) -> None:
    red, green, blue = (image[:, :, c].astype(int) for c in range(3))
    assert red.min() >= 255 - tolerance, "the red channel lost its value (BGR/RGB swap?)"
    assert green.max() <= tolerance
    assert blue.max() <= tolerance


@pytest.mark.parametrize(
    ("encode", "tolerance"),
    [
        pytest.param(_png8, 0, id="png-8bit"),
        pytest.param(_png16, 0, id="png-16bit"),
        pytest.param(_rgba_png, 0, id="png-rgba"),
        pytest.param(_tiff, 0, id="tiff"),
        pytest.param(_bmp, 0, id="bmp"),
        # JPEG is lossy: pure red comes back nearly pure.
        pytest.param(_jpeg, 8, id="jpeg"),
    ],
)
def test_colour_formats_read_as_rgb_uint8(encode: Callable[[], bytes], tolerance: int) -> None:
    image = read_image(encode())
    _assert_rgb8(image)
    _assert_red(image, tolerance)


def test_grey_png_is_replicated_to_three_equal_channels() -> None:
    grey = Image.new("L", (WIDTH, HEIGHT), 77)
    image = read_image(_pil_bytes(grey, "PNG"))
    _assert_rgb8(image)
    assert (image == 77).all()


def test_16bit_png_keeps_the_high_byte() -> None:
    pixels = np.full((HEIGHT, WIDTH), 0x8000 + 0x7F, dtype=np.uint16)
    image = read_image(_cv2_bytes(pixels, ".png"))
    _assert_rgb8(image)
    assert (image == 0x80).all()


def test_rgba_png_drops_alpha_without_touching_colour() -> None:
    # A half-transparent mixed colour: alpha must be dropped, not blended into the channels.
    rgba = Image.new("RGBA", (WIDTH, HEIGHT), (10, 200, 30, 128))
    image = read_image(_pil_bytes(rgba, "PNG"))
    _assert_rgb8(image)
    assert tuple(image[0, 0]) == (10, 200, 30)


def test_a_path_is_read_like_bytes(tmp_path: Path) -> None:
    path = tmp_path / "smear.png"
    path.write_bytes(_png8())
    np.testing.assert_array_equal(read_image(path), read_image(_png8()))
    np.testing.assert_array_equal(read_image(str(path)), read_image(_png8()))


@pytest.mark.parametrize(
    ("encode", "mime_type"),
    [
        (_jpeg, "image/jpeg"),
        (_png8, "image/png"),
        (_png16, "image/png"),
        (_tiff, "image/tiff"),
        (_bmp, "image/bmp"),
    ],
)
def test_validate_image_reports_format_and_size(encode: Callable[[], bytes], mime_type: str) -> None:
    info = validate_image(encode())
    assert info.mime_type == mime_type
    assert (info.width, info.height) == (WIDTH, HEIGHT)


# ---- refusals ----------------------------------------------------------------------------------


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        read_image(b"")


def test_text_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="not a readable image"):
        read_image(b"Patient: Doe, John\nMRN 0001\nThis is a text file named smear.jpg\n")


def test_random_bytes_are_not_an_image() -> None:
    with pytest.raises(NotAnImageError):
        read_image(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def test_gif_is_unsupported() -> None:
    gif = _pil_bytes(_red().convert("P"), "GIF")
    with pytest.raises(UnsupportedImageError, match="GIF"):
        read_image(gif)


def test_truncated_jpeg_is_refused() -> None:
    data = _pil_bytes(Image.fromarray(_noise_rgb()), "JPEG", quality=95)
    read_image(data)  # the whole file is fine
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[: len(data) // 2])


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_png_is_refused(cut: float) -> None:
    data = _pil_bytes(Image.fromarray(_noise_rgb()), "PNG")
    read_image(data)
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[: int(len(data) * cut)])
    # Cut inside the end chunk: Pillow reads every pixel, OpenCV refuses the file.
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[:-10])


def test_too_many_pixels_is_refused_from_the_header() -> None:
    data = _png8()
    pixels = WIDTH * HEIGHT
    assert read_image(data, max_pixels=pixels).shape == (HEIGHT, WIDTH, 3)  # exactly at the limit
    with pytest.raises(ImageTooLargeError, match="pixels"):
        read_image(data, max_pixels=pixels - 1)
    # The probe alone refuses it: nothing is decoded.
    with pytest.raises(ImageTooLargeError):
        probe_image(data, max_pixels=pixels - 1)


def test_too_many_bytes_is_refused() -> None:
    data = _png8()
    assert read_image(data, max_bytes=len(data)).shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(ImageTooLargeError, match="bytes"):
        read_image(data, max_bytes=len(data) - 1)


def test_every_refusal_is_an_image_error_and_a_value_error() -> None:
    # The web layer catches ImageError; callers outside the engine may catch ValueError.
    for error in (
        EmptyImageError,
        NotAnImageError,
        UnsupportedImageError,
        TruncatedImageError,
        ImageTooLargeError,
    ):
        assert issubclass(error, ImageError)
        assert issubclass(error, ValueError)
