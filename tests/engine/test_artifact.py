"""Model folders: round trip, sha256 verification, missing files, float16 storage, model card."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inference.engine import artifact as artifact_module
from inference.engine.artifact import (
    MODEL_CARD,
    MODEL_JSON,
    WEIGHTS_FILE,
    check_new_artifact_folder,
    load_artifact,
    new_artifact_folder,
    read_model_info,
    save_artifact,
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


def test_an_existing_artifact_folder_is_never_overwritten(artifact_copy: Path) -> None:
    before = {path.name: path.read_bytes() for path in artifact_copy.iterdir()}
    model = load_artifact(artifact_copy).model
    with pytest.raises(ModelArtifactError, match="already exists and holds a model artifact"):
        save_artifact(artifact_copy, model, info={"name": "other", "architecture": {}})
    assert {path.name: path.read_bytes() for path in artifact_copy.iterdir()} == before
    (artifact_copy.parent / "empty").mkdir()
    save_artifact(artifact_copy.parent / "empty", model, info={"name": "new", "architecture": {}})
    verify_weights(artifact_copy.parent / "empty")  # an empty folder is filled


def test_a_failed_write_leaves_no_half_folder(
    tiny_artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_artifact(tiny_artifact_dir).model

    def broken_card(folder: Path, info: dict[str, object]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifact_module, "write_model_card", broken_card)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(tmp_path / "models" / "new", model, info={"name": "new", "architecture": {}})
    assert list((tmp_path / "models").iterdir()) == []  # neither the folder nor its .partial sibling


def _writer(folder: Path) -> tuple[subprocess.Popen[str], Path]:
    """Another process writing the artifact `folder`: it prints its partial folder and waits there."""
    code = (
        "import sys, time\n"
        "from inference.engine.artifact import new_artifact_folder\n"
        "with new_artifact_folder(sys.argv[1]) as partial:\n"
        "    print(partial, flush=True)\n"
        "    time.sleep(120)\n"
    )
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(  # noqa: S603 (our own interpreter running a fixed script)
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    assert process.stdout is not None
    partial = Path(process.stdout.readline().strip())
    assert partial.name.startswith(f".{folder.name}.partial-"), "the writer did not start"
    return process, partial


def test_a_later_write_removes_the_partial_folders_of_killed_writers_and_nothing_else(tmp_path: Path) -> None:
    # A kill (not an exception) while an artifact was written left its `.NAME.partial-*` for good.
    models = tmp_path / "models"
    live, live_partial = _writer(models / "new")
    killed, killed_partial = _writer(models / "new")
    try:
        killed.kill()
        killed.wait()
        (killed_partial / WEIGHTS_FILE).write_bytes(b"half")
        young = models / ".new.partial-abcd_123"  # unlocked, but its writer may have just made it
        young.mkdir()
        others = [
            models / ".other.partial-abcd_123",  # another artifact's
            models / "new.partial-abcd_123",
            models / ".new.partial-abcd_123.x",
            models / ".new.partial-efgh_456",  # a file, not a folder
        ]
        for other in others[:3]:
            other.mkdir()
        others[3].write_bytes(b"")
        hour_ago = time.time() - 3600
        for path in (live_partial, killed_partial, *others):
            os.utime(path, (hour_ago, hour_ago))

        with new_artifact_folder(models / "new") as partial:
            (partial / MODEL_JSON).write_text("{}")
        assert (models / "new" / MODEL_JSON).is_file()
        assert not killed_partial.exists()
        assert live_partial.is_dir()  # its writer still holds it
        assert young.is_dir()
        assert all(path.exists() for path in others)
    finally:
        for process in (live, killed):
            process.kill()
            process.wait()
            assert process.stdout is not None
            process.stdout.close()


def test_checkpoints_inside_the_artifact_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="inside the artifact folder"):
        check_new_artifact_folder(tmp_path / "model", run_dir=tmp_path / "model" / "run")
    check_new_artifact_folder(tmp_path / "model", run_dir=tmp_path / "runs" / "model")


def write_model_json(folder: Path, **changes: object) -> Path:
    """A model folder whose model.json is valid except for `changes` (no TensorFlow needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WEIGHTS_FILE).write_bytes(b"weights")
    info = {
        "format_version": 1,
        "architecture": {"backbone": "tiny_cnn"},
        "classes": ["benign", "early_pre_b", "pre_b", "pro_b"],
        "weights": {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(b"weights").hexdigest()},
        **changes,
    }
    (folder / MODEL_JSON).write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": "weights.npz"}, "'weights' must be an object"),
        ({"architecture": "x"}, "'architecture' must be an object, not a string"),
        ({"classes": 5}, "'classes' must be a non-empty list of class codes, not a number"),
        ({"classes": ["benign", 3]}, "'classes' must be a non-empty list of class codes"),
        ({"preprocessing": "clahe"}, "'preprocessing' must be an object"),
        ({"weights": {"file": 7, "sha256": "0" * 64}}, "'weights.file' must be a file name"),
        ({"weights": {"file": WEIGHTS_FILE, "sha256": "abc"}}, "'weights.sha256' must be 64"),
    ],
)
def test_model_json_of_the_wrong_shape_is_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    folder = write_model_json(tmp_path / "model", **changes)
    with pytest.raises(ModelArtifactError, match=re.escape(message)):
        read_model_info(folder)


@pytest.mark.parametrize("name", ["../ok/weights.npz", "/tmp/ok/weights.npz", "sub/../../weights.npz"])
def test_weights_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    write_model_json(tmp_path / "ok")  # valid weights next door, with the sha256 model.json records
    folder = write_model_json(
        tmp_path / "model", weights={"file": name, "sha256": hashlib.sha256(b"weights").hexdigest()}
    )
    with pytest.raises(ModelArtifactError, match="leaves the model folder"):
        read_model_info(folder)
    info = json.loads((folder / MODEL_JSON).read_text())
    with pytest.raises(ModelArtifactError, match="leaves the model folder"):
        verify_weights(folder, info)  # the red-cell networks pass their own model.json
