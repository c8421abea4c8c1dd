"""Every evaluation report names the model.json it was made with (`model_json_sha256`, as a result and
the registry do): an edited trust threshold changes the calls while the weights stay the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.artifact import model_json_sha256, read_model_info
from inference.engine.evaluation import evaluate_cells, evaluate_classifier, screen_images
from tests.engine.blast_colour_model import blast_colour_artifact
from tests.engine.test_evaluation import write_dataset


@pytest.fixture(scope="module")
def model_and_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("facts")
    return blast_colour_artifact(root / "model"), write_dataset(root / "val", per_class=1, seed=2)


def test_every_report_names_the_model_json(model_and_images: tuple[Path, Path]) -> None:
    model, images = model_and_images
    info = read_model_info(model)
    expected = {
        "name": info["name"],
        "backbone": info["architecture"]["backbone"],
        "weights_sha256": info["weights"]["sha256"],
        "model_json_sha256": model_json_sha256(info),
    }
    labelled = evaluate_classifier(model, images, show_progress=False)
    unlabelled = screen_images(model, images / "Pre", show_progress=False)
    cells = evaluate_cells(model, images, show_progress=False)
    assert labelled["model"] == unlabelled["model"] == cells["model"] == expected
