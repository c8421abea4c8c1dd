"""Reading smear images from bytes or files, validated by content, never by name.

Accepted: JPEG, PNG, TIFF, BMP; 8- or 16-bit; grey, RGB or RGBA. The header is read first (cheap)
so a decompression bomb is refused before any pixel is decoded; truncation is detected before the
pixels are trusted; OpenCV decodes. Everything returned is RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import (
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "BMP": "image/bmp"}
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
_JPEG_EOI = b"\xff\xd9"


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, before decoding."""

    format: str
    mime_type: str
    width: int
    height: int


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
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"The image has too many pixels: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise NotAnImageError("The file is not a readable image (JPEG, PNG, TIFF or BMP).") from exc
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedImageError(f"{fmt or 'This'} images are not accepted; use JPEG, PNG, TIFF or BMP.")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels."
        )
    if width < 1 or height < 1:
        raise NotAnImageError("The image has no pixels.")
    return ImageInfo(format=fmt, mime_type=ACCEPTED_FORMATS[fmt], width=width, height=height)


def _check_complete(data: bytes, info: ImageInfo) -> None:
    if info.format == "JPEG":
        # Decoders fill a cut-off JPEG with grey and only warn; the end-of-image marker tells.
        if _JPEG_EOI not in data[-1024:]:
            raise TruncatedImageError("The JPEG file is truncated (no end-of-image marker).")
        return
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(f"The {info.format} file is truncated or corrupt: {exc}") from exc


def _to_rgb8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
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


def _decode_validated(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[ImageInfo, np.ndarray]:
    info = probe_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
    _check_complete(data, info)
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise NotAnImageError(f"The {info.format} file could not be decoded.")
    return info, _to_rgb8(pixels)


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
