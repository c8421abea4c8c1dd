"""Reading smear images from bytes or files, validated by content, never by name.

Accepted: JPEG, PNG, TIFF, BMP; 8- or 16-bit; grey, RGB or RGBA. The header is read first (cheap)
so a decompression bomb is refused before any pixel is decoded; truncation is detected before the
pixels are trusted; OpenCV decodes. Everything returned is RGB uint8 (H, W, 3), turned upright as its
EXIF orientation says, so the pixels the engine measures are the ones a browser shows.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from .errors import (
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)
from .jpeg_structure import read_structure

# PIL names a JPEG that carries a second picture after the first (a phone's gain map or depth map, in
# the Multi-Picture Format) "MPO"; it is a JPEG file, and OpenCV decodes its first, primary picture.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
# What libjpeg reads ahead of the bits it needs (8 bytes at most), as stuffed 0xFF bytes: all-ones
# is no Huffman code, so the padding cannot pass for more than a block or two of a cut-off picture.
_JPEG_READ_AHEAD = b"\xff\x00" * 16
# libjpeg's warnings that the coded data ran out before the picture did (the end marker came first,
# where a restart marker was due): it decodes on, filling what is missing from what it has.
_LIBJPEG_CUT_SHORT = re.compile(rb"premature end of data segment|found marker 0xd9 instead of RST")
_STDERR = 2  # the file descriptor libjpeg prints its warnings to
_STDERR_LOCK = threading.Lock()
_PNG_END = b"IEND"
_EXIF_ORIENTATION = 0x0112
# EXIF orientations whose upright picture has width and height swapped.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
# Formats whose decoders turn the picture upright themselves: Pillow on opening a TIFF (its size is
# already upright) and OpenCV on decoding one. Turning it again would measure a mirrored picture.
_TURNED_BY_DECODERS = {"TIFF"}


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, before decoding."""

    format: str
    mime_type: str
    width: int  # upright, after the EXIF orientation
    height: int
    orientation: int = 1  # EXIF orientation tag (1-8; 1 is upright)


def probe_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> ImageInfo:
    """Validate size limits and format from the header alone; raise a typed ImageError if refused."""
    if not data:
        raise EmptyImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.")
    try:
        with warnings.catch_warnings():
            # PIL warns (rather than raises) between its limit and twice its limit; we set our own.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format or "", img.size
                orientation = _orientation(img)
                pages = _page_sizes(img) if fmt == "TIFF" else []
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"The image has too many pixels: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise NotAnImageError("The file is not a readable image (JPEG, PNG, TIFF or BMP).") from exc
    _check_single_picture(pages)
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedImageError(f"{fmt or 'This'} images are not accepted; use JPEG, PNG, TIFF or BMP.")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels."
        )
    if width < 1 or height < 1:
        raise NotAnImageError("The image has no pixels.")
    if orientation in _TRANSPOSED_ORIENTATIONS and fmt not in _TURNED_BY_DECODERS:
        width, height = height, width
    return ImageInfo(
        format=fmt, mime_type=ACCEPTED_FORMATS[fmt], width=width, height=height, orientation=orientation
    )


def _page_sizes(tiff: Image.Image) -> list[int]:
    """Pixels of each page of a TIFF."""
    sizes = []
    for page in range(getattr(tiff, "n_frames", 1)):
        tiff.seek(page)
        sizes.append(tiff.size[0] * tiff.size[1])
    tiff.seek(0)
    return sizes


def _check_single_picture(pages: list[int]) -> None:
    """Refuse a TIFF of several pictures (a z-stack, channels, a series), of which OpenCV reads the
    first alone; smaller pages after the first (a camera's thumbnail) are left aside."""
    for page, pixels in enumerate(pages[1:], start=2):
        if pixels >= pages[0]:
            raise UnsupportedImageError(
                f"The TIFF file holds {len(pages)} pictures of the size of its first (page {page} is one); "
                "only one would be analysed. Save each field as a single-page TIFF."
            )


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 where there is none or it is unreadable (a damaged EXIF block
    does not make the picture unreadable)."""
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_complete(data: bytes, info: ImageInfo) -> None:
    if info.mime_type == "image/jpeg":
        _check_jpeg_complete(data)
        return
    if info.mime_type == "image/png" and data.rfind(_PNG_END) < 0:
        # Pillow reads the pixels without the end chunk; OpenCV then refuses the file.
        raise TruncatedImageError("The PNG file is truncated (no end chunk).")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(f"The {info.format} file is truncated or corrupt: {exc}") from exc


def _check_jpeg_complete(data: bytes) -> None:
    structure = read_structure(data)
    if structure.end < 0:
        raise TruncatedImageError("The JPEG file is truncated (no end-of-image marker).")
    if not structure.codes_the_whole_picture():
        raise TruncatedImageError("The JPEG file is truncated: its picture data ends before its last scan.")
    if structure.progressive:
        return  # decoded only once the end marker is read; the decode itself tells (`_decode_jpeg`)
    # Decoders fill a picture whose coded data stops early with grey and only warn, so a file cut
    # short and closed with an end marker (a broken transfer, a proxy) passed. Without that marker
    # libjpeg has to wait for more data where the coded data runs out, and Pillow then raises unless
    # every row was decoded (as long as nothing sets ImageFile.LOAD_TRUNCATED_IMAGES). At 1/8 scale
    # in grey every code is still read and little else is done: about a third of a decode. Unlike the
    # decode's warning (`_decode_jpeg`), this does not depend on libjpeg printing its messages.
    try:
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data[: structure.end] + _JPEG_READ_AHEAD)) as img:
            img.draft("L", (1, 1))
            img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(
            "The JPEG file is truncated: its picture data ends before its last row."
        ) from exc


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    """OpenCV's decode, refused if libjpeg ran out of coded data on the way. libjpeg then fills the
        rest from what it has and only warns, and for a cut in the last scan of a progressive picture
        (decoded once its end marker is read) or in the last bytes of any (the read-ahead padding above
        completes the last blocks) nothing before the decode can tell. OpenCV leaves the warning to
        libjpeg, which prints it to the standard error stream: that is read for the length of the decode,
        then passed on with anything other threads printed meanwhile. The lock keeps two decodes from
        reading each other's warnings, so JPEG decodes in one process take turns. libjpeg prints only its
        first warning: a file whose first is about something else is left to the checks before, as is every
    file in a process without a standard error stream."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as printed:
        stderr = os.dup(_STDERR)
        try:
            os.dup2(printed.fileno(), _STDERR)
            pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        finally:
            os.dup2(stderr, _STDERR)
            os.close(stderr)
        printed.seek(0)
        messages = printed.read()
        if messages:  # still under the lock, or the next decode would read them as its own
            with open(_STDERR, "wb", closefd=False) as passed_on:
                passed_on.write(messages)
    if _LIBJPEG_CUT_SHORT.search(messages):
        raise TruncatedImageError("The JPEG file is truncated: its picture data ends before its last block.")
    return pixels


def _to_rgb8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        pixels = (pixels >> _significant_bits(pixels) - 8).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise UnsupportedImageError(f"Pixel type {pixels.dtype} is not accepted; use 8- or 16-bit images.")
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    channels = pixels.shape[2]
    if channels == 1:
        return cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    raise UnsupportedImageError(f"Images with {channels} channels are not accepted.")


def _significant_bits(pixels: np.ndarray) -> int:
    """The bits a 16-bit image's colour values use (8 to 16): microscope cameras write 10-, 12- or
    14-bit values in 16-bit files, and keeping only the top byte of a 12-bit picture leaves it black
    (0-15). Alpha, which fills all 16 bits, does not count."""
    colour = pixels[:, :, :3] if pixels.ndim == 3 else pixels
    return max(8, int(colour.max()).bit_length())


def _upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels turned as EXIF `orientation` says a viewer shows them (OpenCV's unchanged read does
    not apply it)."""
    if orientation in _TRANSPOSED_ORIENTATIONS:
        # 5: transpose; 6: turned a quarter clockwise; 7: transverse; 8: a quarter anticlockwise.
        rgb = rgb.transpose(1, 0, 2)
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    flips = {1: rgb, 2: rgb[:, ::-1], 3: rgb[::-1, ::-1], 4: rgb[::-1]}
    return np.ascontiguousarray(flips[orientation])


def _decode_validated(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[ImageInfo, np.ndarray]:
    info = probe_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
    _check_complete(data, info)
    if info.mime_type == "image/jpeg":
        pixels = _decode_jpeg(data)
    else:
        pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise NotAnImageError(f"The {info.format} file could not be decoded.")
    orientation = 1 if info.format in _TURNED_BY_DECODERS else info.orientation
    return info, _upright(_to_rgb8(pixels), orientation)


def validate_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> ImageInfo:
    """Fully check that the bytes decode to an accepted image; used before an upload is stored."""
    info, _ = _decode_validated(data, max_pixels=max_pixels, max_bytes=max_bytes)
    return info


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> np.ndarray:
    """Decode validated bytes to RGB uint8 (H, W, 3)."""
    return _decode_validated(data, max_pixels=max_pixels, max_bytes=max_bytes)[1]


def read_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Read a file path or bytes to RGB uint8 (H, W, 3), refusing bad input with a typed error."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return decode_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
