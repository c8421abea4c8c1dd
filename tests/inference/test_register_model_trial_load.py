"""A classifier folder is registered (and so may be activated) only when a worker could load it: the
commands that register (`register_model`, `bootstrap`) load it first, since the registry itself never
imports TensorFlow and checks only the weights' sha256 and model.json."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import register_artifact
from tests.inference.model_artifacts import make_artifact, model_json, write_model_json

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("worker_trial_load")]

MODELS = Path(__file__).resolve().parents[2] / "models"
HEAD_MISMATCH = r"'features/kernel' has shape \(256, 256\); the architecture expects \(256, 128\)"


def _head_edited_copy(tmp_path: Path) -> Path:
    """The MobileNet with `head_units` edited to 128: its sha256 and model.json are consistent, its
    weights (256 units) do not fit."""
    folder = tmp_path / "edited"
    shutil.copytree(MODELS / "marrowfind-mobilenet-v1", folder)
    info = json.loads((folder / "model.json").read_text())
    info["architecture"]["head_units"] = 128
    info["version"] = "edited-1"
    (folder / "model.json").write_text(json.dumps(info))
    return folder


def test_weights_that_do_not_fit_the_architecture_are_not_registered(tmp_path: Path) -> None:
    folder = _head_edited_copy(tmp_path)
    refusal = rf"'edited' was not registered: a worker could not load it\. .*{HEAD_MISMATCH}"
    with pytest.raises(CommandError, match=refusal):
        call_command("register_model", str(folder), "--activate", stdout=StringIO())
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("name", ["marrowfind-mobilenet-v1", "marrowfind-resnet50-v1"])
def test_the_shipped_models_register(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("register_model", str(MODELS / name), "--json")
    result = json.loads(capsys.readouterr().out)
    assert (result["name"], result["created"]) == (name, True)


def test_bootstrap_does_not_activate_a_model_no_worker_can_load(tmp_path: Path, settings: Any) -> None:
    settings.DEFAULT_MODEL_DIR = _head_edited_copy(tmp_path)
    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert "No model is active" in out.getvalue()
    assert "features/kernel" in out.getvalue()
    assert not ModelVersion.objects.exists()


def test_bootstrap_names_a_configured_folder_that_is_missing(tmp_path: Path, settings: Any) -> None:
    settings.DEFAULT_MODEL_DIR = tmp_path / "marrowfind-resnet05-v1"
    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert f"The configured model folder {tmp_path / 'marrowfind-resnet05-v1'}" in out.getvalue()
    assert "does not exist" in out.getvalue()
    assert "none is shipped" not in out.getvalue()


def test_a_model_json_rewritten_during_the_trial_load_is_not_registered(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m")

    def rewriting_load(loaded: Path) -> dict[str, Any]:
        info = {**model_json(loaded), "trust": {"temperature": 2.0}}
        write_model_json(loaded, info)
        return info

    with pytest.raises(ModelArtifactError, match="changed while it was being loaded"):
        register_artifact(folder, trial_load=rewriting_load)
    assert not ModelVersion.objects.exists()
