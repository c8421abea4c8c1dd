"""A progressive JPEG cut short and closed with an end-of-image marker (FF D9), and any JPEG cut in its
last few bytes, are refused: libjpeg decodes both, filling what is missing from what it has, and only
warns. Whole JPEGs are still read however they were written: progressive or not, with restart
markers, 4:2:0 or 4:4:4, grey, with EXIF and ICC segments, with data after the picture."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from inference.engine.errors import ImageError, TruncatedImageError
from inference.engine.imageio import read_image

EOI = b"\xff\xd9"
SOS = b"\xff\xda"
TRAILER = b"\x00trailer\xff\xd9" * 20  # what some cameras append after the picture
HEIGHT, WIDTH = 96, 128
# Where a segment starts between two scans: tables (DHT) or the next scan's header (SOS). Coded data
# never holds these two bytes (a coded 0xFF is followed by 0x00).
BETWEEN_SCANS = re.compile(rb"\xff[\xc4\xda]")


def _pixels() -> np.ndarray:
    """A gradient under noise: several kilobytes of coded data in every scan."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    gradient = np.stack([cols * 2, rows * 2, (rows + cols) % 256], axis=-1)
    noise = np.random.default_rng(5).integers(-40, 40, gradient.shape)
    return np.clip(gradient + noise, 0, 255).astype(np.uint8)


def _pil(**options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_pixels()).save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def _cv2(*params: int, grey: bool = False) -> bytes:
    ok, encoded = cv2.imencode(".jpg", _pixels()[:, :, 0] if grey else _pixels(), list(params))
    assert ok
    return encoded.tobytes()


def _camera_segments() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[0x010F] = "Microscope camera"  # Make
    exif[0x0112] = 1  # upright
    return {
        "exif": exif.tobytes(),
        "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    }


PROGRESSIVE_ON = (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
SAMPLING_444 = (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444)
RESTARTS = (cv2.IMWRITE_JPEG_RST_INTERVAL, 2)
PROGRESSIVE: dict[str, Callable[[], bytes]] = {
    "pillow": lambda: _pil(progressive=True),
    "pillow-444": lambda: _pil(progressive=True, subsampling=0),
    "pillow-exif-icc": lambda: _pil(progressive=True, **_camera_segments()),
    "opencv": lambda: _cv2(*PROGRESSIVE_ON),
    "opencv-444": lambda: _cv2(*PROGRESSIVE_ON, *SAMPLING_444),
    "opencv-grey": lambda: _cv2(*PROGRESSIVE_ON, grey=True),
    "opencv-restarts": lambda: _cv2(*PROGRESSIVE_ON, *RESTARTS),
}
BASELINE: dict[str, Callable[[], bytes]] = {
    "pillow": _pil,
    "pillow-exif-icc": lambda: _pil(**_camera_segments()),
    "opencv": _cv2,
    "opencv-444": lambda: _cv2(*SAMPLING_444),
    "opencv-grey": lambda: _cv2(grey=True),
    "opencv-restarts": lambda: _cv2(*RESTARTS),
}
EVERY_KIND = {**{f"progressive-{k}": v for k, v in PROGRESSIVE.items()}, **BASELINE}


def _decoded(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    assert pixels is not None
    return pixels


def _refused(data: bytes) -> None:
    with pytest.raises(TruncatedImageError, match="The JPEG file is truncated"):
        read_image(data)


@pytest.mark.parametrize("encode", EVERY_KIND.values(), ids=EVERY_KIND.keys())
def test_a_whole_jpeg_is_read_with_or_without_data_after_it(encode: Callable[[], bytes]) -> None:
    data = encode()
    np.testing.assert_array_equal(read_image(data), _decoded(data))
    np.testing.assert_array_equal(read_image(data + TRAILER), _decoded(data))


@pytest.mark.parametrize("encode", PROGRESSIVE.values(), ids=PROGRESSIVE.keys())
@pytest.mark.parametrize("cut", [0.02, 0.3, 0.6, 0.8, 0.9, 0.98])
def test_a_progressive_jpeg_cut_in_its_picture_data_and_closed_with_an_end_marker_is_refused(
    encode: Callable[[], bytes], cut: float
) -> None:
    data = encode()
    start, end = data.index(SOS), data.rindex(EOI)  # the scans lie between
    cut_short = data[: start + int((end - start) * cut)] + EOI
    assert cv2.imdecode(np.frombuffer(cut_short, np.uint8), cv2.IMREAD_COLOR) is not None  # OpenCV takes it
    _refused(cut_short)
    _refused(cut_short + TRAILER)


@pytest.mark.parametrize("encode", PROGRESSIVE.values(), ids=PROGRESSIVE.keys())
def test_a_progressive_jpeg_cut_between_two_scans_is_refused(encode: Callable[[], bytes]) -> None:
    # libjpeg does not even warn here: every scan it was given is whole.
    data = encode()
    first_scan = data.index(SOS)
    boundaries = [found.start() for found in BETWEEN_SCANS.finditer(data, first_scan + 2)]
    assert len(boundaries) >= 5
    for boundary in boundaries:
        _refused(data[:boundary] + EOI)


@pytest.mark.parametrize("encode", EVERY_KIND.values(), ids=EVERY_KIND.keys())
def test_a_jpeg_cut_before_its_first_scan_is_refused(encode: Callable[[], bytes]) -> None:
    data = encode()
    _refused(data[: data.index(SOS)] + EOI)


@pytest.mark.parametrize("encode", EVERY_KIND.values(), ids=EVERY_KIND.keys())
@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_a_scan_header_too_short_to_read_is_refused_with_a_typed_error(
    encode: Callable[[], bytes], length: int
) -> None:
    data = encode()
    scan = data.index(SOS)
    with pytest.raises(ImageError):
        read_image(data[: scan + 2] + length.to_bytes(2, "big") + data[scan + 4 :])


@pytest.mark.parametrize("encode", EVERY_KIND.values(), ids=EVERY_KIND.keys())
@pytest.mark.parametrize("missing", [1, 2, 3, 5, 8, 13, 21, 34, 55])
@pytest.mark.parametrize(
    "closing", [EOI, EOI + TRAILER, b""], ids=["end-marker", "end-marker-and-trailer", "as-cut"]
)
def test_a_jpeg_cut_in_its_last_bytes_is_refused(
    encode: Callable[[], bytes], missing: int, closing: bytes
) -> None:
    data = encode()
    _refused(data[: data.rindex(EOI) - missing] + closing)


@pytest.mark.parametrize("encode", EVERY_KIND.values(), ids=EVERY_KIND.keys())
def test_bytes_between_the_last_scan_and_the_end_marker_are_not_taken_for_a_cut(
    encode: Callable[[], bytes],
) -> None:
    # libjpeg may warn about them ("extraneous bytes before marker 0xd9"), but the picture is whole.
    data = encode()
    end = data.rindex(EOI)
    np.testing.assert_array_equal(read_image(data[:end] + b"\x00\x00\x00" + data[end:]), _decoded(data))


def test_libjpeg_s_warning_still_reaches_standard_error(capfd: pytest.CaptureFixture[str]) -> None:
    data = PROGRESSIVE["opencv"]()
    _refused(data[: data.rindex(EOI) - 3] + EOI)  # in the last scan: the decode is what tells
    os.write(2, b"written after the decode\n")
    assert capfd.readouterr().err.splitlines() == [
        "Corrupt JPEG data: premature end of data segment",
        "written after the decode",
    ]


def test_decodes_in_threads_each_get_their_own_verdict() -> None:
    whole = PROGRESSIVE["pillow"]()
    cut = whole[: whole.rindex(EOI) - 1] + EOI
    inputs = [whole, cut] * 40

    def verdict(data: bytes) -> str:
        try:
            read_image(data)
        except TruncatedImageError:
            return "refused"
        return "read"

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(verdict, inputs)) == ["read", "refused"] * 40


def test_a_process_without_standard_error_still_reads_jpegs() -> None:
    # A daemon may start with file descriptor 2 closed: the decode must neither fail every JPEG for
    # it nor miss libjpeg's warning (the temporary file then takes descriptor 2).
    script = (
        "import os, sys, cv2, numpy as np\n"
        "from inference.engine.errors import TruncatedImageError\n"
        "from inference.engine.imageio import read_image\n"
        "noise = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)\n"
        "data = cv2.imencode('.jpg', noise)[1].tobytes()\n"
        "os.close(2)\n"
        "print(read_image(data).shape)\n"
        "try:\n"
        "    read_image(data[:-14] + data[-2:])\n"
        "except TruncatedImageError:\n"
        "    print('refused')\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(  # noqa: S603 (our own interpreter running a fixed script)
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(64,", "96,", "3)", "refused"]
