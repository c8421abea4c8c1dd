"""Small generated images for tests."""

from __future__ import annotations

import cv2
import numpy as np


def smear_like(seed: int = 0, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """An RGB uint8 image with random content, different for every seed (so hashes differ)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return buffer.tobytes()


def jpeg_bytes(seed: int = 0) -> bytes:
    return encode(smear_like(seed), ".jpg")


def png_bytes(seed: int = 0) -> bytes:
    return encode(smear_like(seed), ".png")
