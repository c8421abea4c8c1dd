"""A JPEG cut short inside its picture data and then closed with an end-of-image marker (FF D9), as a
broken transfer or a proxy may leave it, is refused: decoders only warn and fill the rest with grey.
The JPEGs that are whole, however they were written, are still read."""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from inference.engine.errors import TruncatedImageError
from inference.engine.imageio import read_image

EOI = b"\xff\xd9"
HEIGHT, WIDTH = 96, 128


def _pixels(seed: int = 5) -> np.ndarray:
    """A gradient under noise: several kilobytes of coded data, so a cut lands inside it."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    gradient = np.stack([cols * 2, rows * 2, (rows + cols) % 256], axis=-1)
    noise = np.random.default_rng(seed).integers(-40, 40, gradient.shape)
    return np.clip(gradient + noise, 0, 255).astype(np.uint8)


def _pil(**options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_pixels()).save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def _cv2(pixels: np.ndarray, *params: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", pixels, list(params))
    assert ok
    return encoded.tobytes()


SEQUENTIAL: dict[str, Callable[[], bytes]] = {
    "baseline": _pil,
    "optimised-tables": lambda: _pil(optimize=True),
    "no-subsampling": lambda: _pil(subsampling=0),
    "restart-every-3-blocks": lambda: _pil(restart_marker_blocks=3),
    "restart-every-row": lambda: _pil(restart_marker_rows=1),
    "opencv": lambda: _cv2(_pixels()),
    "opencv-restarts": lambda: _cv2(_pixels(), cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
    "opencv-grey": lambda: _cv2(_pixels()[:, :, 0]),
}
WHOLE: dict[str, Callable[[], bytes]] = {
    **SEQUENTIAL,
    "progressive": lambda: _pil(progressive=True),
    "opencv-progressive": lambda: _cv2(_pixels(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
}


def _decoded(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    assert pixels is not None
    return pixels


@pytest.mark.parametrize("encode", WHOLE.values(), ids=WHOLE.keys())
def test_a_whole_jpeg_is_read_with_or_without_data_after_it(encode: Callable[[], bytes]) -> None:
    data = encode()
    np.testing.assert_array_equal(read_image(data), _decoded(data))
    np.testing.assert_array_equal(read_image(data + b"\x00trailer\xff\xd9" * 50), _decoded(data))


@pytest.mark.parametrize("encode", SEQUENTIAL.values(), ids=SEQUENTIAL.keys())
@pytest.mark.parametrize("cut", [0.02, 0.3, 0.6, 0.9, 0.98])
def test_a_jpeg_cut_in_its_picture_data_and_closed_with_an_end_marker_is_refused(
    encode: Callable[[], bytes], cut: float
) -> None:
    data = encode()
    start, end = data.index(b"\xff\xda"), data.rindex(EOI)  # the coded data lies between
    cut_short = data[: start + int((end - start) * cut)] + EOI
    assert cv2.imdecode(np.frombuffer(cut_short, np.uint8), cv2.IMREAD_COLOR) is not None  # OpenCV takes it
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(cut_short)
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(cut_short + b"trailer")


@pytest.mark.parametrize("after_the_marker", [False, True])
def test_a_cut_at_a_restart_marker_is_refused(after_the_marker: bool) -> None:
    data = _pil(restart_marker_blocks=3)
    restart = data.index(b"\xff\xd3")  # the fourth restart marker, well inside the coded data
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[: restart + 2 * after_the_marker] + EOI)


def test_marker_bytes_inside_a_segment_are_not_taken_for_the_end_of_the_picture() -> None:
    data = _pil(comment=b"copied from x.jpg: \xff\xd8\xff\xda\x00\x02\xff\xd9")
    np.testing.assert_array_equal(read_image(data), _decoded(data))


def test_a_phone_s_jpeg_cut_in_its_second_picture_reads_as_its_first() -> None:
    # OpenCV decodes the first (primary) picture only; a gain map cut short does not change it.
    buffer = io.BytesIO()
    first, second = Image.fromarray(_pixels(1)), Image.fromarray(_pixels(2))
    first.save(buffer, format="MPO", quality=90, save_all=True, append_images=[second])
    data = buffer.getvalue()
    start = data.index(b"\xff\xd8", 2)  # the second picture's start-of-image marker
    halfway_into_the_second = data[: start + (len(data) - start) // 2]
    np.testing.assert_array_equal(read_image(halfway_into_the_second), _decoded(data))
    with pytest.raises(TruncatedImageError, match="truncated"):
        read_image(data[: start // 2] + EOI)
