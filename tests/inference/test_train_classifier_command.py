"""`manage.py train_classifier --data DIR --val DIR ...` writes a verified artifact that registers; never
into a registered model's folder, and a refit trust of a registered folder reaches its record."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.artifact import read_model_info, verify_weights
from inference.registry import activate_model, model_json_sha256, register_model
from tests.engine.conftest import write_class_folders
from tests.engine.test_evaluation import make_tiny_artifact
from tests.inference.model_artifacts import make_artifact

pytestmark = pytest.mark.django_db  # the command looks up --out in the model registry
MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


def test_command_trains_and_the_artifact_registers(tmp_path: Path) -> None:
    train = write_class_folders(tmp_path / "train", per_class=6, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=3, seed=2)
    out = tmp_path / "models" / "tiny"
    call_command(
        "train_classifier",
        "--data", str(train), "--val", str(val), "--out", str(out), "--run-dir", str(tmp_path / "run"),
        "--backbone", "tiny_cnn", "--weights", "none", "--epochs", "1", "--batch-size", "8", "--no-progress",
        "--no-trust",  # one epoch leaves the network at chance, whose trust fit is refused
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


def _train(tmp_path: Path, out: Path, *options: str) -> None:
    train = write_class_folders(tmp_path / "train", per_class=2, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=1, seed=2)
    call_command(
        "train_classifier",
        "--data", str(train), "--val", str(val), "--out", str(out), "--run-dir", str(tmp_path / "run"),
        "--backbone", "tiny_cnn", "--weights", "none", "--no-progress", *options,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--epochs", "0"), "argument --epochs: '0' is not a whole number of at least 1"),
        (("--epochs", "-1"), "argument --epochs: '-1' is not a whole number of at least 1"),
        (
            ("--epochs", "1", "--batch-size", "0"),
            "argument --batch-size: '0' is not a whole number of at least 1",
        ),
        (
            ("--epochs", "1", "--head-epochs", "-1"),
            "argument --head-epochs: '-1' is not a whole number of at least 0",
        ),
        (("--epochs", "1", "--lr", "nan"), "argument --lr: 'nan' must be a finite number above 0"),
    ],
)
def test_bad_numbers_are_refused_before_any_work(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "models" / "tiny"
    with pytest.raises(CommandError, match=message):
        _train(tmp_path, out, *options)
    assert not out.exists()
    assert not (tmp_path / "run").exists()


def test_an_output_folder_under_a_file_is_refused_before_training(tmp_path: Path) -> None:
    (tmp_path / "some_file").write_text("not a folder")
    out = tmp_path / "some_file" / "tiny"
    with pytest.raises(
        CommandError, match=r"--out .*tiny: .*some_file is a file, so the folder cannot be made"
    ):
        _train(tmp_path, out, "--epochs", "1")
    assert not (tmp_path / "run").exists()


def test_an_existing_artifact_or_checkpoints_inside_out_are_refused_before_training(tmp_path: Path) -> None:
    out = tmp_path / "models" / "tiny"
    out.mkdir(parents=True)
    (out / "model.json").write_text("{}")
    common = ["--data", str(tmp_path / "none"), "--val", str(tmp_path / "none"), "--backbone", "tiny_cnn"]
    for extra in ([], ["--resume"]):  # resuming continues checkpoints; it never overwrites an artifact
        with pytest.raises(CommandError, match="already exists and holds a model artifact"):
            call_command("train_classifier", *common, "--out", str(out), *extra)
    assert (out / "model.json").read_text() == "{}"
    with pytest.raises(CommandError, match="inside the artifact folder"):
        call_command(
            "train_classifier",
            *common,
            "--out",
            str(tmp_path / "new"),
            "--run-dir",
            str(tmp_path / "new" / "run"),
        )


class Killed(Exception):
    """Stands for a kill while the trust is fitted (minutes on the full data set)."""


def test_a_kill_while_fitting_trust_leaves_no_artifact_and_resume_writes_it_with_its_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine import training

    out = tmp_path / "models" / "tiny"

    def killed(*args: Any) -> None:
        assert not out.exists()
        raise Killed

    monkeypatch.setattr(training, "fit_trust_hook", killed)
    with pytest.raises(Killed):
        _train(tmp_path, out, "--epochs", "1")
    assert list(out.parent.iterdir()) == []  # no artifact with `trust: null` blocking --resume

    folders: list[Path] = []

    def fitted(predictor: Any, train_dir: Any, val_dir: Any, folder: Any) -> dict[str, Any]:
        folders.append(Path(folder))
        assert (Path(folder) / "weights.npz").is_file()  # the written artifact, not yet in place
        assert predictor.info["weights"]["sha256"]  # the Predictor of the model as written there
        (Path(folder) / "trust.npz").write_bytes(b"arrays")
        return {"method": "test", "temperature": 1.5, "arrays_file": "trust.npz"}

    monkeypatch.setattr(training, "fit_trust_hook", fitted)
    _train(tmp_path, out, "--epochs", "1", "--resume")  # trains no more: writes the artifact
    info = read_model_info(out)
    verify_weights(out, info)
    assert info["trust"]["temperature"] == 1.5
    assert (out / "trust.npz").read_bytes() == b"arrays"
    assert folders[0] != out
    assert folders[0].name.startswith(".tiny.partial-")
    assert info["hyperparameters"]["epochs_run"] == 1
    assert "temperature" in (out / "MODEL_CARD.md").read_text().lower()

    # --fit-trust-only still refits the trust of the artifact in place.
    monkeypatch.setattr(training, "fit_trust_hook", lambda *args: {"method": "refit", "temperature": 2.0})
    call_command(
        "train_classifier",
        "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "--out", str(out),
        "--fit-trust-only",
    )  # fmt: skip
    assert read_model_info(out)["trust"]["temperature"] == 2.0


@pytest.mark.parametrize("left_in_place", [True, False])
def test_a_registered_models_folder_is_refused_as_out_before_training(
    tmp_path: Path, left_in_place: bool
) -> None:
    """New weights in a registered folder would no longer be the ones its record (maybe the active
    model's) names, even where the folder was emptied first: training is refused, not registered."""
    out = tmp_path / "models" / "tiny"
    version, _ = register_model(make_artifact(out), activate=True)
    if not left_in_place:
        shutil.rmtree(out)
    with pytest.raises(
        CommandError,
        match=rf"--out .*tiny is the folder of the registered model {re.escape(str(version))}.*another --out",
    ):
        _train(tmp_path, out, "--epochs", "1")
    assert out.exists() is left_in_place
    assert not (tmp_path / "run").exists()


def test_fit_trust_only_brings_a_registered_folders_record_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine import training

    out = make_tiny_artifact(tmp_path / "models" / "tiny")
    version, _ = register_model(out, activate=True)
    monkeypatch.setattr(training, "fit_trust_hook", lambda *args: {"method": "refit", "temperature": 2.0})
    train = write_class_folders(tmp_path / "train", per_class=1, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=1, seed=2)
    call_command(
        "train_classifier", "--data", str(train), "--val", str(val), "--out", str(out), "--fit-trust-only"
    )
    version.refresh_from_db()
    assert version.manifest["trust"] == {"method": "refit", "temperature": 2.0}
    assert version.model_json_sha256 == model_json_sha256(read_model_info(out))
    event = AuditEvent.objects.filter(target_id=str(version.external_id), before__has_key="manifest").get()
    assert event.actor_label == "manage.py train_classifier"
    assert activate_model(version) is False  # no refusal: the record matches the folder


def test_training_needs_no_migrated_database(tmp_path: Path) -> None:
    # The registry lookup of --out found no table on a database never migrated (a training machine)
    # and stopped the command with "no such table" before its own checks.
    out = tmp_path / "models" / "tiny"
    out.mkdir(parents=True)
    (out / "model.json").write_text("{}")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{(tmp_path / 'empty.sqlite3').as_posix()}"}
    none = str(tmp_path / "none")
    args = ["train_classifier", "--data", none, "--val", none, "--backbone", "tiny_cnn", "--out", str(out)]
    done = subprocess.run(  # noqa: S603 (our own interpreter running manage.py)
        [sys.executable, str(MANAGE_PY), *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 1
    assert "already exists and holds a model artifact" in done.stderr, done.stderr
