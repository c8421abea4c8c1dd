"""Per-cell crops for batched classification."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.crops import nucleated_cell_crops
from inference.engine.segmentation import segment_cells
from tests.engine.synthetic import NUCLEUS, touching_field


def test_one_square_crop_per_nucleated_cell() -> None:
    field = touching_field(radius=12)
    result = segment_cells(field.rgb)
    crops = nucleated_cell_crops(field.rgb, result, size=64)
    assert crops.shape == (result.n_nucleated, 64, 64, 3)
    assert crops.dtype == np.uint8
    # The nucleus sits in the middle of its crop.
    centre = crops[:, 28:36, 28:36].reshape(len(crops), -1, 3).mean(axis=1)
    assert np.allclose(centre, NUCLEUS, atol=25)


def test_cells_at_the_border_are_padded_by_reflection() -> None:
    field = touching_field(radius=12)
    result = segment_cells(field.rgb)
    shifted = np.ascontiguousarray(field.rgb[40:, 120:])  # the first nucleated cell now touches the edge
    crops = nucleated_cell_crops(shifted, segment_cells(shifted), size=32)
    assert crops.shape[1:] == (32, 32, 3)
    assert crops.shape[0] >= 1
    assert result.n_nucleated == 2


def test_no_nucleated_cells_gives_an_empty_batch() -> None:
    glass = np.full((80, 80, 3), 225, np.uint8)
    crops = nucleated_cell_crops(glass, segment_cells(glass), size=224)
    assert crops.shape == (0, 224, 224, 3)


def test_sizes_must_match() -> None:
    field = touching_field(radius=10)
    result = segment_cells(field.rgb)
    with pytest.raises(ValueError, match="different sizes"):
        nucleated_cell_crops(field.rgb[:-1], result)
