"""`manage.py train_classifier --data DIR --val DIR ...` writes a verified artifact that registers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from inference.engine.artifact import read_model_info, verify_weights
from inference.registry import register_model
from tests.engine.conftest import write_class_folders


@pytest.mark.django_db
def test_command_trains_and_the_artifact_registers(tmp_path: Path) -> None:
    train = write_class_folders(tmp_path / "train", per_class=6, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=3, seed=2)
    out = tmp_path / "models" / "tiny"
    call_command(
        "train_classifier",
        "--data", str(train), "--val", str(val), "--out", str(out), "--run-dir", str(tmp_path / "run"),
        "--backbone", "tiny_cnn", "--weights", "none", "--epochs", "1", "--batch-size", "8", "--no-progress",
    )  # fmt: skip
    info = read_model_info(out)
    verify_weights(out, info)
    assert info["classes"] == ["benign", "early_pre_b", "pre_b", "pro_b"]
    assert info["training_command"]
    assert 0.0 <= info["metrics"]["val"]["accuracy"] <= 1.0
    json.dumps(info)  # model.json stays plain JSON
    version, created = register_model(out)
    assert created
    assert version.weights_sha256 == info["weights"]["sha256"]
    assert version.backbone == "tiny_cnn"
