"""Model folders: round trip, sha256 verification, missing files, float16 storage, model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.engine.artifact import (
    MODEL_CARD,
    MODEL_JSON,
    WEIGHTS_FILE,
    load_artifact,
    read_model_info,
    update_model_info,
    verify_weights,
    weight_arrays,
)
from inference.engine.errors import ModelArtifactError


@pytest.fixture
def artifact_copy(tiny_artifact_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifact_dir, tmp_path / "model"))


def test_round_trip_gives_the_same_outputs(tiny_artifact_dir: Path) -> None:
    first = load_artifact(tiny_artifact_dir)
    second = load_artifact(tiny_artifact_dir)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    np.testing.assert_array_equal(first.model(x).numpy(), second.model(x).numpy())
    info = read_model_info(tiny_artifact_dir)
    assert info["classes"] == ["benign", "early_pre_b", "pre_b", "pro_b"]
    assert info["trust"] is None
    assert len(info["weights"]["sha256"]) == 64


def test_changed_weights_are_refused(artifact_copy: Path) -> None:
    with open(artifact_copy / WEIGHTS_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelArtifactError, match="sha256"):
        load_artifact(artifact_copy)


def test_recorded_sha_mismatch_is_refused(artifact_copy: Path) -> None:
    info = json.loads((artifact_copy / MODEL_JSON).read_text())
    info["weights"]["sha256"] = "0" * 64
    (artifact_copy / MODEL_JSON).write_text(json.dumps(info))
    with pytest.raises(ModelArtifactError, match="changed or corrupted"):
        verify_weights(artifact_copy)


@pytest.mark.parametrize(
    ("remove", "message"),
    [(WEIGHTS_FILE, "no weights file"), (MODEL_JSON, "no model.json")],
)
def test_missing_files_are_refused(artifact_copy: Path, remove: str, message: str) -> None:
    (artifact_copy / remove).unlink()
    with pytest.raises(ModelArtifactError, match=message):
        load_artifact(artifact_copy)


def test_invalid_model_json_and_missing_folder(artifact_copy: Path, tmp_path: Path) -> None:
    (artifact_copy / MODEL_JSON).write_text("{not json")
    with pytest.raises(ModelArtifactError, match="not valid JSON"):
        read_model_info(artifact_copy)
    with pytest.raises(ModelArtifactError, match="does not exist"):
        read_model_info(tmp_path / "nowhere")


def test_float16_narrows_only_large_arrays(tiny_artifact_dir: Path) -> None:
    model = load_artifact(tiny_artifact_dir).model
    arrays = weight_arrays(model, "float16")
    assert arrays["features/kernel"].dtype == np.float16 or arrays["features/kernel"].size < 4096
    assert arrays["logits/bias"].dtype == np.float32


def test_trust_slot_and_model_card(artifact_copy: Path) -> None:
    info = update_model_info(artifact_copy, trust={"temperature": 1.5})
    assert info["trust"] == {"temperature": 1.5}
    card = (artifact_copy / MODEL_CARD).read_text()
    assert "Decision support only" in card
    assert "10.34740/KAGGLE/DSV/2175623" in card
    assert "Ghaderzadeh" in card
    verify_weights(artifact_copy)  # trust lives in model.json; the weights hash is unaffected
