"""An analysis whose per-cell outputs are not finite (a diverged network gives NaN): those cells get no
call and count neither as blasts nor among the cells called, and the result stays strict JSON. They
had been called benign, the first class, which lowered the AI blast percentage, and written as NaN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine.pipeline import Pipeline
from tests.engine.blast_colour_model import blast_colour_artifact
from tests.engine.synthetic import touching_field


def test_cells_without_a_finite_output_get_no_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(blast_colour_artifact(tmp_path / "model"))
    rgb = touching_field(radius=12).rgb
    clean = pipeline.run(rgb)
    assert len(clean.cells) >= 2
    real = Pipeline._cell_calls

    def first_cell_diverged(self: Pipeline, segmentation: Any, logits: np.ndarray) -> Any:
        logits = np.array(logits, dtype=np.float64)
        logits[0] = np.nan
        return real(self, segmentation, logits)

    monkeypatch.setattr(Pipeline, "_cell_calls", first_cell_diverged)
    result = pipeline.run(rgb)
    first, *rest = result.cells
    assert (first.predicted, first.confidence, first.probabilities) == (None, None, None)
    assert not first.is_blast
    assert [cell.predicted for cell in rest] == [cell.predicted for cell in clean.cells[1:]]
    assert result.cells_called == len(clean.cells) - 1
    blasts = sum(cell.is_blast for cell in clean.cells[1:])
    assert result.blast_percentage == pytest.approx(100.0 * blasts / (len(clean.cells) - 1))
    stored = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert stored["cells"][0]["predicted"] is None
    assert stored["ai_cells_called"] == len(clean.cells) - 1
