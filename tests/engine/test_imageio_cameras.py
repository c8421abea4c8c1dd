"""`read_image` on what real cameras write: 12-bit values in 16-bit files, an EXIF orientation, data
after the picture, and a phone's second picture (MPO). Each was read wrong or refused before."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from inference.engine.errors import TruncatedImageError, UnsupportedImageError
from inference.engine.imageio import read_image, validate_image

HEIGHT, WIDTH = 24, 40  # not square, so a turn shows in the shape


def _noise(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def _encoded(pixels: np.ndarray, ext: str) -> bytes:
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    return encoded.tobytes()


def _jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("ext", [".png", ".tiff"])
@pytest.mark.parametrize("bits", [10, 12, 14])
def test_a_camera_s_12_bit_values_in_a_16_bit_file_fill_the_8_bit_range(ext: str, bits: int) -> None:
    grey = np.zeros((HEIGHT, WIDTH), np.uint16)
    grey[:, : WIDTH // 2] = (1 << bits) - 1  # the brightest value the camera can give
    grey[:, WIDTH // 2 :] = 1 << (bits - 1)  # half of it
    image = read_image(_encoded(grey, ext))
    assert image.dtype == np.uint8
    assert (image[:, : WIDTH // 2] == 255).all()
    assert (image[:, WIDTH // 2 :] == 128).all()


def test_a_16_bit_alpha_channel_does_not_darken_12_bit_colour() -> None:
    bgra = np.zeros((HEIGHT, WIDTH, 4), np.uint16)
    bgra[..., :3] = 4095
    bgra[..., 3] = 0xFFFF
    assert (read_image(_encoded(bgra, ".png")) == 255).all()


def test_a_dark_8_bit_picture_is_left_as_it_is() -> None:
    # Only 16-bit files are rescaled; an 8-bit picture's values are its own.
    grey = np.full((HEIGHT, WIDTH), 9, np.uint8)
    assert (read_image(_encoded(grey, ".png")) == 9).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_orientation_is_applied_as_a_viewer_applies_it(orientation: int) -> None:
    picture = Image.fromarray(_noise())
    exif = picture.getexif()
    exif[0x0112] = orientation
    data = _jpeg(picture, exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    image = read_image(data)
    assert image.shape == expected.shape
    assert image.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(image, expected)
    info = validate_image(data)
    assert (info.height, info.width) == expected.shape[:2]
    assert info.orientation == orientation


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_a_lossless_picture_is_turned_once(fmt: str, orientation: int) -> None:
    # Pillow and OpenCV turn a TIFF upright themselves, a PNG not: turning a TIFF again mirrored it.
    picture = Image.fromarray(_noise())
    exif = picture.getexif()
    exif[0x0112] = orientation
    png = io.BytesIO()
    picture.save(png, format="PNG", exif=exif.tobytes())
    with Image.open(png) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    buffer = io.BytesIO()
    picture.save(
        buffer,
        format=fmt,
        **({"exif": exif.tobytes()} if fmt == "PNG" else {"tiffinfo": {0x0112: orientation}}),
    )
    data = buffer.getvalue()
    np.testing.assert_array_equal(read_image(data), expected)
    info = validate_image(data)
    assert (info.height, info.width) == expected.shape[:2]


def test_data_after_the_end_of_the_picture_is_not_taken_for_truncation() -> None:
    data = _jpeg(Image.fromarray(_noise()))
    np.testing.assert_array_equal(read_image(data + b"\x00trailer" * 500), read_image(data))
    # A file cut in its last scan is still refused, whatever follows the cut.
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[: len(data) - 200])


def test_a_phone_s_jpeg_with_a_second_picture_reads_as_its_first() -> None:
    first = Image.fromarray(_noise(1))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", quality=95, save_all=True, append_images=[Image.fromarray(_noise(2))])
    data = buffer.getvalue()
    info = validate_image(data)
    assert (info.format, info.mime_type) == ("MPO", "image/jpeg")
    np.testing.assert_array_equal(read_image(data), read_image(_jpeg(first)))


def test_a_tiff_of_several_pictures_is_refused_but_a_thumbnail_is_left_aside() -> None:
    field, other = Image.fromarray(_noise(1)), Image.fromarray(_noise(2))
    stack = io.BytesIO()
    field.save(stack, format="TIFF", save_all=True, append_images=[other])
    with pytest.raises(UnsupportedImageError, match="2 pictures"):
        read_image(stack.getvalue())
    with_thumbnail = io.BytesIO()
    field.save(with_thumbnail, format="TIFF", save_all=True, append_images=[other.resize((10, 6))])
    np.testing.assert_array_equal(read_image(with_thumbnail.getvalue()), _noise(1))
