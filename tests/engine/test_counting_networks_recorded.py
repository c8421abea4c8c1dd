"""An `evaluate_counting` report names the red-cell networks it counted with, once for the run, and
every one of them when a network's folder changed during the run (the workers' cache loads it again)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inference.engine import counting
from inference.engine.counting import evaluate_counting
from inference.engine.eye_counts import EyeCount, evaluate_eye_counts
from inference.engine.red_cell_centres import CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, MODEL_JSON
from inference.engine.segmentation import SegmentationParams
from tests.engine.voc import write_generated_voc_folder


@pytest.fixture
def voc_folder(tmp_path: Path) -> Path:
    data = tmp_path / "voc"
    data.mkdir()
    write_generated_voc_folder(data)
    return data


def _shipped_centre_network() -> dict[str, Any]:
    info = json.loads((CENTRE_MODEL_DIR / MODEL_JSON).read_text())
    return {"name": info["name"], "weights_sha256": info["weights"]["sha256"], "peak_threshold": 0.175}


def test_the_networks_used_are_named_once(voc_folder: Path) -> None:
    summary = evaluate_counting(voc_folder, progress=False)["summary"]
    assert summary["centre_networks"] == [_shipped_centre_network()]
    assert summary["radius_networks"] == []
    watershed = evaluate_counting(voc_folder, SegmentationParams(use_centre_network=False), progress=False)
    assert watershed["summary"]["centre_networks"] == []


def test_a_network_changed_during_the_run_is_not_hidden(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(shutil.copytree(CENTRE_MODEL_DIR, tmp_path / "centres"))
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(folder))
    real = counting.segment_cells
    fields = []

    def then_a_threshold_chosen_again(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        fields.append(result)
        if len(fields) == 1:  # `choose_centre_threshold --write` while the run goes on
            info = json.loads((folder / MODEL_JSON).read_text())
            (folder / MODEL_JSON).write_text(json.dumps({**info, "peak_threshold": 0.3}))
        return result

    monkeypatch.setattr(counting, "segment_cells", then_a_threshold_chosen_again)
    summary = evaluate_counting(voc_folder, progress=False)["summary"]
    shipped = _shipped_centre_network()
    assert summary["centre_networks"] == [shipped, {**shipped, "peak_threshold": 0.3}]


def test_counts_by_eye_name_the_networks_too(voc_folder: Path) -> None:
    counts = [EyeCount("Images/img_0.png", 2, 10, "a")]
    summary = evaluate_eye_counts(voc_folder, counts, progress=False)["summary"]
    assert summary["centre_networks"] == [_shipped_centre_network()]
    assert summary["radius_networks"] == []
