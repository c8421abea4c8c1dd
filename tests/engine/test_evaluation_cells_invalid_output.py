"""`evaluate_cells` (`--cells`) with per-cell logits that are not finite (a diverged network gives NaN):
those cells get no call, are counted apart with a warning, and are in none of the figures, as the
image-level reports do; they had been called the first class (benign). A model with no finite output
for any cell is refused. Tiny network, generated images; seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine.errors import ModelArtifactError
from inference.engine.evaluation import evaluate_cells
from inference.engine.pipeline import Pipeline
from tests.engine.blast_colour_model import blast_colour_artifact
from tests.engine.test_evaluation import write_dataset


@pytest.fixture(scope="module")
def model_and_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cells")
    return blast_colour_artifact(root / "model"), write_dataset(root / "val", per_class=2, seed=2)


def _diverging(monkeypatch: pytest.MonkeyPatch, nan_rows: Callable[[int], slice]) -> list[int]:
    """Make the cell logits of the `n`-th image (0, 1, ...) NaN in `nan_rows(n)`; returns the number of
    cells of each image, as they are classified."""
    real = Pipeline.cell_logits
    cells_per_image: list[int] = []

    def diverged(self: Pipeline, *args: Any, **kwargs: Any) -> np.ndarray:
        logits = np.array(real(self, *args, **kwargs), dtype=np.float64)
        logits[nan_rows(len(cells_per_image)), 0] = np.nan
        cells_per_image.append(len(logits))
        return logits

    monkeypatch.setattr(Pipeline, "cell_logits", diverged)
    return cells_per_image


def test_cells_without_a_finite_output_get_no_call(
    model_and_images: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model, images = model_and_images
    clean = evaluate_cells(model, images, show_progress=False)
    # Every cell of the first image with cells, the first cell of the others.
    cells = _diverging(monkeypatch, lambda n: slice(None) if n == 0 else slice(0, 1))
    with caplog.at_level(logging.WARNING, logger="inference.engine.evaluation"):
        report = evaluate_cells(model, images, show_progress=False)
    invalid = cells[0] + len(cells) - 1
    assert clean["images_with_cells"] == report["images_with_cells"] == len(cells) >= 3
    assert report["n_cells_invalid_output"] == invalid
    assert report["n_cells"] == clean["n_cells"] - invalid
    by_class = report["cells_by_image_class"]
    assert sum(sum(row.values()) for row in by_class.values()) == report["n_cells"]
    # The images left with no called cell have no vote.
    assert report["images_voted"] == sum(1 for n in cells[1:] if n > 1)
    assert clean["images_voted"] == clean["images_with_cells"]
    assert f"{invalid} of the {clean['n_cells']} cells" in caplog.text


def test_a_model_with_no_finite_cell_output_is_refused(
    model_and_images: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, images = model_and_images
    _diverging(monkeypatch, lambda n: slice(None))
    with pytest.raises(ModelArtifactError, match=r"no finite output for any of the \d+ cells"):
        evaluate_cells(model, images, show_progress=False)
