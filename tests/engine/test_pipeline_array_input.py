"""`Pipeline.run` on an array: anything but a non-empty RGB uint8 (H, W, 3) array is refused up front
with a typed error that says what is expected (it had raised OpenCV's own error from preprocessing).
Grey, 16-bit and RGBA pictures are converted only when read from their file, where their layout is
known; an array too small to segment is refused as the same picture from a file is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine.errors import ImageError, NotAnImageError, UnsupportedImageError
from inference.engine.pipeline import Pipeline
from tests.engine.test_evaluation import make_tiny_artifact, smear_like


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(make_tiny_artifact(tmp_path_factory.mktemp("arrays") / "model"))


@pytest.fixture(scope="module")
def field() -> np.ndarray:
    return smear_like(np.random.default_rng(2), tint=0, size=(96, 128))


@pytest.mark.parametrize(
    ("convert", "described"),
    [
        (lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "uint8 of shape (96, 128)"),
        (lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], "uint8 of shape (96, 128, 1)"),
        (lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "uint8 of shape (96, 128, 4)"),
        (lambda rgb: rgb.astype(np.uint16) * 257, "uint16 of shape (96, 128, 3)"),
        (lambda rgb: rgb.astype(np.float32) / 255, "float32 of shape (96, 128, 3)"),
        (lambda rgb: rgb > 128, "bool of shape (96, 128, 3)"),
    ],
    ids=["grey", "grey-one-channel", "rgba", "16-bit", "float", "bool"],
)
def test_an_array_of_another_type_or_layout_is_refused_saying_what_is_expected(
    pipeline: Pipeline, field: np.ndarray, convert: object, described: str
) -> None:
    assert callable(convert)
    with pytest.raises(UnsupportedImageError) as refused:
        pipeline.run(convert(field))
    message = str(refused.value)
    assert described in message
    assert "RGB uint8 of shape (H, W, 3)" in message


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 128, 3), (96, 0, 3)])
def test_an_empty_array_is_refused(pipeline: Pipeline, shape: tuple[int, int, int]) -> None:
    with pytest.raises(NotAnImageError, match=r"no pixels"):
        pipeline.run(np.zeros(shape, np.uint8))


def test_an_array_too_small_to_segment_is_refused_as_its_file_is(
    pipeline: Pipeline, field: np.ndarray, tmp_path: Path
) -> None:
    tiny = np.ascontiguousarray(field[:3, :3])
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.cvtColor(tiny, cv2.COLOR_RGB2BGR))
    with pytest.raises(ImageError) as from_file:
        pipeline.run(path)
    with pytest.raises(ImageError) as from_array:
        pipeline.run(tiny)
    assert type(from_array.value) is type(from_file.value)
    assert str(from_array.value) == str(from_file.value)


def test_an_rgb_uint8_array_in_any_memory_layout_is_analysed(pipeline: Pipeline, field: np.ndarray) -> None:
    result = pipeline.run(field[::-1])  # a view, not contiguous
    assert result.image_shape == (96, 128)
    assert result.gradcam_overlay.shape == (96, 128, 3)
