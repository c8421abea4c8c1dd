"""Registering artifacts: verified by sha256, idempotent, one active version, audited."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model, ensure_default_model, register_model
from tests.inference.model_artifacts import make_artifact


@pytest.mark.django_db
def test_register_is_verified_and_idempotent(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, created = register_model(folder)
    again, created_again = register_model(folder)
    assert created
    assert not created_again
    assert again.pk == version.pk
    assert version.weights_sha256 == hashlib.sha256(b"weights-v1").hexdigest()
    assert version.classes == ["benign", "early_pre_b", "pre_b", "pro_b"]
    assert AuditEvent.objects.filter(action="create", target_id=str(version.external_id)).count() == 1


@pytest.mark.django_db
def test_changed_weights_are_refused(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    (folder / "weights.npz").write_bytes(b"tampered")
    with pytest.raises(ModelArtifactError, match="changed or corrupted"):
        register_model(folder)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_only_one_version_is_active(tmp_path: Path) -> None:
    first, _ = register_model(make_artifact(tmp_path / "a", b"one"), activate=True)
    second, _ = register_model(make_artifact(tmp_path / "b", b"two", name="tiny2"), activate=True)
    first.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    activate_model(first)
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]


@pytest.mark.django_db
def test_default_model_is_registered_on_first_run_only(tmp_path: Path, settings: Any) -> None:
    settings.DEFAULT_MODEL_DIR = make_artifact(tmp_path / "default")
    version = ensure_default_model()
    assert version is not None
    assert version.is_active
    assert ensure_default_model() == version
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_artifact(tmp_path / "cmd")
    call_command("register_model", str(folder), "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["created"] is True
    assert result["active"] is False
    call_command("activate_model", result["weights_sha256"][:12])
    assert ModelVersion.objects.get().is_active
    with pytest.raises(CommandError, match="No single registered model"):
        call_command("activate_model", "nope")
    (folder / "model.json").write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("register_model", str(folder))


@pytest.mark.django_db
def test_activate_refuses_a_folder_that_now_holds_other_weights(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1", b"weights-v1")
    version, _ = register_model(folder)
    shutil.rmtree(folder)
    make_artifact(folder, b"retrained")  # a consistent artifact, but not the registered one
    with pytest.raises(ModelArtifactError, match="now holds other weights"):
        activate_model(version)
    with pytest.raises(CommandError, match="now holds other weights"):
        call_command("activate_model", version.weights_sha256[:12])
    version.refresh_from_db()
    assert not version.is_active


@pytest.mark.django_db
def test_registering_moved_weights_updates_the_stored_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version, _ = register_model(make_artifact(tmp_path / "old"))
    shutil.copytree(tmp_path / "old", tmp_path / "copy")
    assert register_model(tmp_path / "copy")[0].path == version.path  # the old folder still holds them
    (tmp_path / "old").rename(tmp_path / "new")
    call_command("register_model", str(tmp_path / "new"), "--activate")
    out = capsys.readouterr().out
    assert "Already registered" in out
    assert f"the stored path is now '{(tmp_path / 'new').resolve().as_posix()}'" in out
    moved = ModelVersion.objects.get()
    assert (moved.path, moved.is_active) == ((tmp_path / "new").resolve().as_posix(), True)
    event = AuditEvent.objects.get(action="update", target_id=str(moved.external_id), before__has_key="path")
    assert (event.before["path"], event.after["path"]) == (version.path, moved.path)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": "weights.npz"}, "'weights' must be an object"),
        ({"architecture": "x"}, "'architecture' must be an object"),
        ({"classes": 5}, "'classes' must be a non-empty list of class codes"),
        ({"metrics": ["val"]}, "'metrics' must be an object"),
    ],
)
def test_model_json_of_the_wrong_shape_is_a_command_error(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    folder = make_artifact(tmp_path / "bad")
    info = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**info, **changes}))
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("register_model", str(folder))
    assert not ModelVersion.objects.exists()
