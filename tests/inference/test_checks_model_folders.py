"""`manage.py check` refuses the model folders the workers could not load: a red-cell network whose
weights are missing, corrupt or of other arrays (inference.E001, E002), and a classifier folder
(`MARROWFIND_MODEL_DIR`, or the shipped one) that is missing or whose weights are not all there
(inference.E004). All without TensorFlow: the checks run in the web process."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference import checks as inference_checks
from inference.checks import centre_model_check, classifier_model_check, radius_model_check
from inference.engine.red_cell_centres import CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, MODEL_JSON, WEIGHTS_FILE
from inference.engine.red_cell_radius import RADIUS_MODEL_DIR, RADIUS_MODEL_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CLASSIFIER = PROJECT_ROOT / "models" / "marrowfind-mobilenet-v1"


def _model_json(folder: Path) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((folder / MODEL_JSON).read_text())
    return info


def _write_model_json(folder: Path, info: dict[str, Any]) -> None:
    (folder / MODEL_JSON).write_text(json.dumps(info))


def _with_weights(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Other weights, their sha256 recorded: only their arrays can tell they do not fit."""
    np.savez(folder / WEIGHTS_FILE, **arrays)
    info = _model_json(folder)
    info["weights"]["sha256"] = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    _write_model_json(folder, info)


def _shipped_arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / WEIGHTS_FILE) as stored:
        return {name: stored[name] for name in stored.files}


def _no_weights(folder: Path) -> None:
    (folder / WEIGHTS_FILE).unlink()


def _corrupt_weights(folder: Path) -> None:
    (folder / WEIGHTS_FILE).write_bytes(b"garbage")


def _no_weights_entry(folder: Path) -> None:
    info = _model_json(folder)
    del info["weights"]
    _write_model_json(folder, info)


def _wrong_arrays(folder: Path) -> None:
    _with_weights(folder, {"x": np.zeros(3)})


def _radius_network_weights(folder: Path) -> None:
    _with_weights(folder, _shipped_arrays(RADIUS_MODEL_DIR))


def _wrong_shape(folder: Path) -> None:
    arrays = _shipped_arrays(folder)
    arrays["conv_8/kernel"] = np.zeros((3, 3, 64, 32), np.float32)
    _with_weights(folder, arrays)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_no_weights, "has no weights file 'weights.npz'"),
        (_corrupt_weights, "the file was changed or corrupted"),
        (_no_weights_entry, "has no 'weights' entry"),
        (_wrong_arrays, r"does not fit this network \(missing: \['conv_1/bias'.*unexpected: \['x'\]"),
        (_radius_network_weights, r"missing: none; unexpected: \['radius/bias', 'radius/kernel'"),
        (_wrong_shape, r"'conv_8/kernel' has shape \(3, 3, 64, 32\); the network expects \(3, 3, 80, 32\)"),
    ],
)
def test_a_centre_network_that_cannot_load_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None], message: str
) -> None:
    folder = tmp_path / "centres"
    shutil.copytree(CENTRE_MODEL_DIR, folder)
    damage(folder)
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(folder))
    (error,) = centre_model_check()
    assert error.id == "inference.E001"
    assert error.msg.startswith(f"{CENTRE_MODEL_ENV}={folder} is not a usable red-cell centre network")
    assert re.search(message, error.msg), error.msg


def test_a_radius_network_that_cannot_load_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "radius"
    shutil.copytree(RADIUS_MODEL_DIR, folder)
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(folder))
    assert radius_model_check() == []
    # A centre network named as the radius network: the size head's weights are not there.
    _with_weights(folder, _shipped_arrays(CENTRE_MODEL_DIR))
    (error,) = radius_model_check()
    assert error.id == "inference.E002"
    assert "missing: ['radius/bias', 'radius/kernel', 'radius_1/bias', 'radius_1/kernel']" in error.msg
    _corrupt_weights(folder)
    (error,) = radius_model_check()
    assert "changed or corrupted" in error.msg


def test_the_shipped_classifier_passes_without_hashing_its_weights(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks run before every management command: the weights' size is compared with model.json's
    record, and their sha256 is left to registration and to the workers' load."""

    def no_hashing(*args: object) -> str:
        raise AssertionError("manage.py check hashed the classifier's weights")

    monkeypatch.setattr(inference_checks, "verify_weights", no_hashing)
    assert classifier_model_check() == []
    settings.DEFAULT_MODEL_DIR = SHIPPED_CLASSIFIER
    assert classifier_model_check() == []


def test_a_mistyped_model_folder_is_an_error(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "marrowfind-resnet05-v1"
    settings.DEFAULT_MODEL_DIR = typo
    monkeypatch.setenv("MARROWFIND_MODEL_DIR", str(typo))
    (error,) = classifier_model_check()
    assert error.id == "inference.E004"
    assert f"MARROWFIND_MODEL_DIR={typo} is not a usable classifier model folder" in error.msg
    assert "does not exist" in error.msg
    monkeypatch.delenv("MARROWFIND_MODEL_DIR")
    (error,) = classifier_model_check()
    assert error.msg.startswith(f"DEFAULT_MODEL_DIR={typo} is not a usable classifier model folder")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_no_weights, "has no weights file 'weights.npz'"),
        (_corrupt_weights, r"is 7 bytes; model.json records 1,100,905"),
        (lambda folder: (folder / MODEL_JSON).write_text("{"), "is not valid JSON"),
    ],
)
def test_a_classifier_folder_without_its_weights_is_an_error(
    tmp_path: Path, settings: Any, damage: Callable[[Path], None], message: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED_CLASSIFIER, folder)
    settings.DEFAULT_MODEL_DIR = folder
    damage(folder)
    (error,) = classifier_model_check()
    assert error.id == "inference.E004"
    assert re.search(message, error.msg), error.msg


def test_weights_whose_size_is_not_recorded_are_hashed(tmp_path: Path, settings: Any) -> None:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED_CLASSIFIER, folder)
    info = _model_json(folder)
    del info["weights"]["bytes"]
    _write_model_json(folder, info)
    settings.DEFAULT_MODEL_DIR = folder
    assert classifier_model_check() == []
    with (folder / WEIGHTS_FILE).open("r+b") as handle:
        handle.write(b"\0")
    (error,) = classifier_model_check()
    assert "changed or corrupted" in error.msg


PROBE = """
import sys, django
django.setup()
from django.core import checks
errors = [message.id for message in checks.run_checks() if message.is_serious()]
print(errors, sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_the_checks_do_not_import_tensorflow() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marrowfind.settings",
        CENTRE_MODEL_ENV: str(CENTRE_MODEL_DIR),
        RADIUS_MODEL_ENV: str(RADIUS_MODEL_DIR),
    }
    result = subprocess.run(  # noqa: S603 (our own interpreter running a fixed script)
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[] []"
