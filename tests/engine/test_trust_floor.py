"""The trust fit checks itself against the validation labels, and no call below the confidence floor is
shown as a class.

A review (2026-11-27) found the flag budget spent without the labels: a network no better than chance
got a trust fit with no warning (its confidence threshold about 0.25, under every one of its calls) and
then had each of its calls accepted as a confident class.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference.engine.artifact import read_model_info, render_model_card
from inference.engine.errors import TrustFitRefusedError
from inference.engine.predictor import Predictor
from inference.engine.train_cli import main as train_cli_main
from inference.engine.trust import (
    CONFIDENCE_FLOOR,
    MIN_ACCEPTED_ACCURACY,
    REASON_LOW_CONFIDENCE,
    TrustModel,
    fit_trust,
    fit_trust_arrays,
    load_trust,
)

from .conftest import PROJECT_ROOT

CLASSES = 4


def _blobs(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features of four well separated classes (n, 16) and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), n_per_class)
    return np.eye(CLASSES, 16)[labels] * 8.0 + rng.normal(size=(len(labels), 16)), labels


def _fit(val_logits: np.ndarray, val_labels: np.ndarray) -> TrustModel:
    train, train_labels = _blobs(100, seed=1)
    val, _ = _blobs(len(val_labels) // CLASSES, seed=2)
    return fit_trust_arrays(train, train_labels, val, val_logits, val_labels, n_components=4)


def _confident(labels: np.ndarray, called: np.ndarray | None = None) -> np.ndarray:
    """Logits calling `called` (the labels unless given) with a lead of 8."""
    return 8.0 * np.eye(CLASSES)[labels if called is None else called]


def test_a_network_no_better_than_chance_gets_no_trust(
    tiny_artifact_dir: Path, tiny_dataset_dirs: tuple[Path, Path]
) -> None:
    # The random tiny network calls one class for every field, right on 3 of the 12 validation fields.
    # Before, its threshold came out at 0.2499, under all 12 calls (0.2502), and all 12 were accepted.
    train, val = tiny_dataset_dirs
    with pytest.raises(TrustFitRefusedError, match=r"accept none of the 12 validation images") as refused:
        fit_trust(Predictor.from_artifact(tiny_artifact_dir), train, val)
    assert "right 3 times (25.0%)" in str(refused.value)
    assert f"floor of {CONFIDENCE_FLOOR}" in str(refused.value)


def test_confident_wrong_calls_are_refused_with_the_figures() -> None:
    # Every call is equally confident, so the budget cannot single out the wrong ones: 1 in 10 is wrong.
    labels = np.repeat(np.arange(CLASSES), 50)
    called = labels.copy()
    called[::10] = (labels[::10] + 1) % CLASSES
    with pytest.raises(TrustFitRefusedError) as refused:
        _fit(_confident(labels, called), labels)
    message = str(refused.value)
    assert re.search(r"accepted accuracy 0\.(89|90)\d\d", message)  # two calls are referred as strangers
    assert f"below the {MIN_ACCEPTED_ACCURACY} required" in message
    assert "right 180 times (90.0%)" in message


def _accurate_fit() -> tuple[TrustModel, np.ndarray, np.ndarray]:
    """A fit where 8 of 400 calls are unsure (three classes level, so at most 1/3 likely) and 4 of
    those wrong; the other calls are confident and right."""
    labels = np.repeat(np.arange(CLASSES), 100)
    logits = _confident(labels)
    unsure = np.arange(0, 400, 50)  # two of each class
    logits[unsure] = 0.0
    for step in range(3):  # the arg-max takes the first of the three: the true class for classes 0, 1
        logits[unsure, (labels[unsure] + step) % CLASSES] = 2.0
    return _fit(logits, labels), logits, labels


def test_the_fit_records_the_accuracy_of_the_calls_it_accepts() -> None:
    trust, logits, labels = _accurate_fit()
    val, _ = _blobs(100, seed=2)
    rows = trust.assess(logits, val)
    accepted = [
        row.predicted_index == label for row, label in zip(rows, labels, strict=True) if not row.flagged
    ]
    assert trust.val_accepted_accuracy == pytest.approx(np.mean(accepted))
    assert trust.val_accepted_accuracy == 1.0
    assert trust.val_flagged_rate == pytest.approx(np.mean([row.flagged for row in rows]))
    state = json.loads(json.dumps(trust.to_dict(), allow_nan=False))
    assert state["val_accepted_accuracy"] == 1.0
    assert state["confidence_floor"] == CONFIDENCE_FLOOR
    assert state["min_accepted_accuracy"] == MIN_ACCEPTED_ACCURACY
    assert TrustModel.from_dict(state).val_accepted_accuracy == 1.0
    shipped = read_model_info(PROJECT_ROOT / "models" / "marrowfind-mobilenet-v1")
    card = render_model_card({**shipped, "trust": state})
    assert "always flagged. On validation the calls not flagged are right 1.0000 of the time" in card
    # A state fitted before the check lacks the figure: it loads, and is not given a made-up one.
    del state["val_accepted_accuracy"]
    older = TrustModel.from_dict(state)
    assert math.isnan(older.val_accepted_accuracy)
    assert "val_accepted_accuracy" not in older.to_dict()


def test_the_fitted_threshold_is_never_below_the_floor() -> None:
    # The 8 unsure calls (top probability 1/3) are 2 % of validation, more than the budget spends on
    # confidence (half of it), and level, so it spent nothing: before, the threshold lay at their
    # confidence and all 8 were accepted, 4 of them wrong.
    trust, _, _ = _accurate_fit()
    assert trust.confidence_threshold == CONFIDENCE_FLOOR
    assert trust.val_flagged_rate >= 8 / 400


@pytest.mark.parametrize(("confidence", "flagged"), [(0.45, True), (0.55, False)])
def test_a_call_below_the_floor_is_referred_whatever_the_stored_threshold(
    confidence: float, flagged: bool
) -> None:
    trust, logits, _ = _accurate_fit()
    state = trust.to_dict()
    state["confidence_threshold"] = 0.3  # an older fit, or a hand edit
    lowered = TrustModel.from_dict(state)
    # Calibrated probability `confidence` for class 0, the rest shared by the other three.
    lead = math.log(confidence * (CLASSES - 1) / (1 - confidence)) * lowered.temperature
    val, _ = _blobs(100, seed=2)
    row = int(np.argmax([not r.flagged for r in lowered.assess(logits, val)]))  # in distribution
    verdict = lowered.assess(np.array([[lead, 0.0, 0.0, 0.0]]), val[row : row + 1])[0]
    assert verdict.confidence == pytest.approx(confidence)
    assert verdict.flagged is flagged
    assert verdict.reasons == ((REASON_LOW_CONFIDENCE,) if flagged else ())


@pytest.fixture
def untrusted_copy(tiny_artifact_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifact_dir, tmp_path / "model"))


@pytest.mark.django_db  # the commands check the database connection
def test_the_commands_report_the_refusal_and_write_nothing(
    untrusted_copy: Path, tiny_dataset_dirs: tuple[Path, Path], capsys: Any
) -> None:
    train, val = tiny_dataset_dirs
    folders = ["--data", str(train), "--val", str(val), "--out", str(untrusted_copy), "--fit-trust-only"]
    before = (untrusted_copy / "model.json").read_text()
    with pytest.raises(CommandError, match="Trust not fitted: the checks accept none"):
        call_command("train_classifier", *folders)
    assert train_cli_main(folders) == 2
    assert "error: Trust not fitted" in capsys.readouterr().err
    assert (untrusted_copy / "model.json").read_text() == before
    assert read_model_info(untrusted_copy)["trust"] is None


@pytest.mark.django_db  # the commands check the database connection
def test_training_that_ends_refused_leaves_no_artifact(
    tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    train, val = tiny_dataset_dirs
    out = tmp_path / "models" / "tiny"
    with pytest.raises(CommandError, match="Trust not fitted"):
        call_command(
            "train_classifier",
            "--data", str(train), "--val", str(val), "--out", str(out), "--run-dir", str(tmp_path / "run"),
            "--backbone", "tiny_cnn", "--weights", "none", "--epochs", "1", "--batch-size", "8",
            "--no-progress",
        )  # fmt: skip
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # nor a half-written sibling


@pytest.mark.parametrize("name", ["marrowfind-resnet50-v1", "marrowfind-mobilenet-v1"])
def test_the_shipped_models_thresholds_lie_above_the_floor(name: str) -> None:
    # So the floor changes none of their calls (their fits, re-run on val, accept the same images).
    folder = PROJECT_ROOT / "models" / name
    if not (folder / "model.json").is_file():
        pytest.skip(f"the shipped model folder models/{name} is not present")
    trust = load_trust(read_model_info(folder)["trust"], folder)
    assert trust is not None
    assert trust.confidence_threshold > CONFIDENCE_FLOOR
