"""A version's record describes the model.json that runs: a model.json changed after registration
(metrics measured again, a trust state fitted again) is refused at activation until it is registered
again, which updates the record and keeps the values it replaced in the audit trail. Classes reordered are
refused outright: the engine labels the outputs by its fixed codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model, record_rewritten_model_json, register_artifact, register_model
from tests.inference.model_artifacts import make_artifact, model_json, write_model_json

pytestmark = pytest.mark.django_db

REMEASURED = {"val": {"accuracy": 0.97}}


def _edit(folder: Path) -> None:
    """What `fit_acquisition_check` or a hand edit does: same weights, another model.json."""
    info = model_json(folder)
    write_model_json(folder, {**info, "metrics": REMEASURED, "trust": {"temperature": 9.0}})


def test_activation_refuses_a_changed_model_json_and_says_to_register_it(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder)
    _edit(folder)
    with pytest.raises(ModelArtifactError, match=r"has changed since tiny .* \(metrics, trust\)") as refusal:
        activate_model(version)
    assert f"manage.py register_model {version.path}" in str(refusal.value)
    with pytest.raises(CommandError, match="register_model"):
        call_command("activate_model", version.weights_sha256[:12])
    version.refresh_from_db()
    assert not version.is_active


def test_an_active_version_whose_model_json_changed_is_reported_out_of_date(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder, activate=True)
    _edit(folder)  # e.g. `fit_acquisition_check` on the active model: the workers reload it
    with pytest.raises(ModelArtifactError, match=r"no longer describes the model that runs\. Record"):
        activate_model(version)
    assert register_artifact(folder).updated == ("metrics", "trust")
    assert activate_model(version) is False


def test_registering_again_records_the_change_and_audits_what_it_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder)
    _edit(folder)
    call_command("register_model", str(folder), "--json")
    result = json.loads(capsys.readouterr().out)
    assert (result["created"], result["model_json_changes"]) == (False, ["metrics", "trust"])
    updated = ModelVersion.objects.get()
    assert updated.pk == version.pk
    assert updated.metrics == REMEASURED
    assert updated.manifest["trust"] == {"temperature": 9.0}
    assert updated.model_json_sha256 != version.model_json_sha256
    event = AuditEvent.objects.get(action="update", target_id=str(version.external_id))
    assert event.before["metrics"] == {"val": {"accuracy": 0.99}}
    assert event.after["metrics"] == REMEASURED
    assert event.before["manifest"].get("trust") is None
    assert "path" not in event.before  # the folder did not move
    assert activate_model(updated)


def test_a_rewritten_but_unchanged_model_json_is_no_change(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder)
    info = model_json(folder)
    (folder / "model.json").write_text(json.dumps(dict(reversed(info.items())), indent=4))
    assert register_artifact(folder).updated == ()
    assert not AuditEvent.objects.filter(action="update").exists()
    assert activate_model(version)


def test_a_version_registered_before_the_sha256_is_checked_against_its_stored_model_json(
    tmp_path: Path,
) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder)
    ModelVersion.objects.filter(pk=version.pk).update(model_json_sha256="")  # as the migration leaves it
    assert activate_model(version)
    _edit(folder)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=False)
    with pytest.raises(ModelArtifactError, match=r"has changed since .* \(metrics, trust\)"):
        activate_model(version)
    assert register_artifact(folder).updated == ("metrics", "trust")
    version.refresh_from_db()
    assert version.model_json_sha256


def test_a_copy_with_another_model_json_does_not_rewrite_the_record(tmp_path: Path) -> None:
    version, _ = register_model(make_artifact(tmp_path / "registered"))
    shutil.copytree(tmp_path / "registered", tmp_path / "copy")
    _edit(tmp_path / "copy")
    with pytest.raises(ModelArtifactError, match="register that folder"):
        register_model(tmp_path / "copy")
    version.refresh_from_db()
    assert version.metrics == {"val": {"accuracy": 0.99}}


def test_a_commands_rewrite_is_recorded_only_in_the_folder_its_weights_are_registered_from(
    tmp_path: Path,
) -> None:
    version, _ = register_model(make_artifact(tmp_path / "registered"))
    shutil.copytree(tmp_path / "registered", tmp_path / "copy")
    _edit(tmp_path / "copy")
    assert record_rewritten_model_json(tmp_path / "copy") is None  # not "register that folder"
    assert record_rewritten_model_json(make_artifact(tmp_path / "unregistered", b"other")) is None
    _edit(tmp_path / "registered")
    registration = record_rewritten_model_json(tmp_path / "registered")
    assert registration is not None
    assert (registration.version.pk, registration.updated) == (version.pk, ("metrics", "trust"))
    assert list(ModelVersion.objects.all()) == [registration.version]


def test_a_model_json_whose_classes_were_reordered_is_refused_and_the_record_kept(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m1")
    version, _ = register_model(folder)
    write_model_json(folder, {**model_json(folder), "classes": ["pro_b", "pre_b", "early_pre_b", "benign"]})
    with pytest.raises(ModelArtifactError, match=r"'classes' is \['pro_b'.* exactly these in this order"):
        register_model(folder)
    version.refresh_from_db()
    assert version.classes == ["benign", "early_pre_b", "pre_b", "pro_b"]
    assert not AuditEvent.objects.filter(action="update").exists()
