"""The shipped default model: intact, documented, and meeting the targets on the validation split.

Skipped with a reason where the model folder or the shared data set is not present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.engine.artifact import MODEL_CARD, read_model_info, verify_weights
from inference.engine.datasets import find_manifest, load_image_folder, sha256_file
from inference.engine.training import classification_metrics, load_hue_shifted

from .conftest import PROJECT_ROOT, shared_data_path

# The default (registered on first run) and the small alternative for slow machines.
SHIPPED = {"marrowfind-resnet50-v1": "resnet50", "marrowfind-mobilenet-v1": "mobilenet"}
MAX_BYTES = 50 * 1024 * 1024


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def model_dir(request: pytest.FixtureRequest) -> Path:
    folder = PROJECT_ROOT / "models" / request.param
    if not (folder / "model.json").is_file():
        pytest.skip(f"the shipped model folder models/{request.param} is not present")
    return folder


def test_the_default_model_is_the_resnet50() -> None:
    from django.conf import settings

    assert Path(settings.DEFAULT_MODEL_DIR).name == "marrowfind-resnet50-v1"


def test_artifact_is_intact_and_documented(model_dir: Path) -> None:
    info = read_model_info(model_dir)
    weights = verify_weights(model_dir, info)
    assert weights.stat().st_size <= MAX_BYTES
    assert sum(p.stat().st_size for p in model_dir.iterdir()) <= MAX_BYTES
    assert info["classes"] == ["benign", "early_pre_b", "pre_b", "pro_b"]
    assert info["backbone"]["name"] == SHIPPED[model_dir.name]
    assert info["training_command"].startswith("python")
    # No machine paths: nothing above the project folder is named.
    assert str(model_dir.resolve().parents[2]) not in (model_dir / "model.json").read_text()
    assert "trust" in info
    card = (model_dir / MODEL_CARD).read_text()
    assert "Decision support only" in card
    assert "10.34740/KAGGLE/DSV/2175623" in card


def test_trained_on_the_shared_manifest(model_dir: Path) -> None:
    manifest = find_manifest(shared_data_path("all4", "train"))
    if manifest is None:
        pytest.skip("the shared data set has no manifest.csv")
    assert read_model_info(model_dir)["data"]["manifest_sha256"] == sha256_file(manifest)


def test_meets_targets_on_val(model_dir: Path) -> None:
    from inference.engine.predictor import get_predictor

    val = load_image_folder(shared_data_path("all4", "val"))
    predictor = get_predictor(model_dir)
    metrics = classification_metrics(val.labels, predictor.classify_batch(val.images), val.classes)
    assert metrics["accuracy"] >= 0.995, metrics
    assert metrics["f1_weighted"] >= 0.995, metrics
    assert metrics["kappa"] >= 0.993, metrics


def test_robust_to_a_hue_shift(model_dir: Path) -> None:
    from inference.engine.predictor import get_predictor

    shifted = load_hue_shifted(shared_data_path("all4", "val"), degrees=20, every=3)
    probs = get_predictor(model_dir).classify_batch(shifted.images)
    assert float(np.mean(probs.argmax(axis=1) == shifted.labels)) >= 0.98
