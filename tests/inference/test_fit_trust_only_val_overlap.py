"""`train_classifier --fit-trust-only` refuses a validation folder that shares images with the training
folder, as a training run does, and leaves the artifact's model.json as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.engine.conftest import write_class_folders
from tests.engine.test_evaluation import make_tiny_artifact

pytestmark = pytest.mark.django_db  # the command looks up --out in the model registry


def test_a_trust_fit_on_training_images_is_refused(tmp_path: Path) -> None:
    out = make_tiny_artifact(tmp_path / "models" / "tiny")
    before = (out / "model.json").read_bytes()
    train = write_class_folders(tmp_path / "train", per_class=2, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=1, seed=2)
    shutil.copy(train / "Early" / "img00.png", val / "Early" / "img09.png")
    folders = ["--data", str(train), "--val", str(val)]
    with pytest.raises(CommandError, match=r"shares 1 of its 5 images with the training folder"):
        call_command("train_classifier", *folders, "--out", str(out), "--fit-trust-only")
    assert (out / "model.json").read_bytes() == before
