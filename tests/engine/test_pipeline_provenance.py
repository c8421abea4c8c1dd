"""A result names the model.json it was made with, and each result has its own copy of those facts.

The process reloads a model folder whose model.json changed in place (a trust refitted, a hand edit);
with the same weights, a call that changed from a class to "Refer to pathologist" carried the same
model facts as before the edit. And one dict of facts was shared by every result of a pipeline, so a
caller annotating one result changed the next one's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.engine.artifact import model_json_sha256, read_model_info, update_model_info
from inference.engine.pipeline import Pipeline, analyse_image
from tests.engine.test_evaluation import make_tiny_artifact, smear_like


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_tiny_artifact(tmp_path / "model")


@pytest.fixture(scope="module")
def field() -> np.ndarray:
    return smear_like(np.random.default_rng(11), tint=0, size=(180, 224))


def test_the_result_names_the_model_json_it_was_made_with(model_dir: Path, field: np.ndarray) -> None:
    before = analyse_image(model_dir, field).to_dict()["model"]
    assert before["model_json_sha256"] == model_json_sha256(read_model_info(model_dir))
    update_model_info(model_dir, metrics={"note": "edited in place, same weights"})
    after = analyse_image(model_dir, field).to_dict()["model"]
    assert after["model_json_sha256"] == model_json_sha256(read_model_info(model_dir))
    assert after["model_json_sha256"] != before["model_json_sha256"]
    assert after["weights_sha256"] == before["weights_sha256"]


def test_the_sha256_ignores_layout_as_the_registry_does(model_dir: Path) -> None:
    info = read_model_info(model_dir)
    reordered = dict(reversed(list(info.items())))
    assert model_json_sha256(reordered) == model_json_sha256(info)
    assert model_json_sha256({**info, "name": "another"}) != model_json_sha256(info)


def test_each_result_has_its_own_model_facts(model_dir: Path, field: np.ndarray) -> None:
    pipeline = Pipeline(model_dir)
    first = pipeline.run(field)
    first.to_dict()["model"]["registry_version"] = "case-123 stored under v1"
    first.model["note"] = "annotated by a caller"
    second = pipeline.run(field).to_dict()["model"]
    assert "registry_version" not in second
    assert "note" not in second
    assert set(second) == {"name", "backbone", "weights_sha256", "model_json_sha256", "trust_fitted"}
