"""Resuming a run: its learning rate continues downward when the epochs change, its phases keep
what they ran, and `--max-minutes` limits each invocation (tiny network, generated images; seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine.datasets import ArrayDataset, load_image_folder
from inference.engine.errors import EngineError
from inference.engine.training import (
    HISTORY_FILE,
    STATE_FILE,
    TrainConfig,
    TrainResult,
    preset_config,
    train_classifier,
)


class Killed(Exception):
    """Stands for a kill after an epoch's checkpoint: raised by `on_epoch`, caught by the test."""


def _config(epochs: int, **overrides: Any) -> TrainConfig:
    # Random weights: the fine-tune phase alone (peak 1e-3, floor 2e-5), unless head_epochs is given.
    return preset_config(
        "robust", backbone="tiny_cnn", weights=None, epochs=epochs, batch_size=8, **overrides
    )


def _killed_after(epoch: int) -> Any:
    def on_epoch(record: dict[str, Any]) -> None:
        if record["epoch"] == epoch:
            raise Killed

    return on_epoch


def _lrs(result: TrainResult, phase: str = "finetune") -> list[float]:
    return [float(record["lr"]) for record in result.history if record["phase"] == phase]


def _state(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / STATE_FILE).read_text()))


@pytest.fixture(scope="module")
def tiny_sets(tiny_dataset_dirs: tuple[Path, Path]) -> tuple[ArrayDataset, ArrayDataset]:
    return load_image_folder(tiny_dataset_dirs[0]), load_image_folder(tiny_dataset_dirs[1])


# -- the learning rate of a resumed run ------------------------------------------------------------


@pytest.mark.parametrize("interrupted", ["killed mid-decay", "finished"])
def test_more_epochs_on_resume_continue_the_decay_from_the_rate_reached(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path, interrupted: str
) -> None:
    # The cosine was recomputed over the new epoch count, so the rate jumped back up on resume.
    run_dir = tmp_path / "run"
    if interrupted == "finished":
        train_classifier(*tiny_sets, _config(4), run_dir, progress=False)
    else:
        with pytest.raises(Killed):
            train_classifier(*tiny_sets, _config(6), run_dir, progress=False, on_epoch=_killed_after(3))
    history = [json.loads(line) for line in (run_dir / HISTORY_FILE).read_text().splitlines()]
    trained, reached = len(history), float(history[-1]["lr"])

    result = train_classifier(*tiny_sets, _config(10), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in result.history] == list(range(1, 11))
    resumed = _lrs(result)[trained:]
    assert len(resumed) == 10 - trained
    assert max(resumed) <= reached
    assert resumed == sorted(resumed, reverse=True)  # downward all the way
    assert resumed[-1] == pytest.approx(1e-3 * 0.02)  # and down to the phase's floor
    assert _state(run_dir)["total_epochs"] == 10


def test_the_continued_decay_survives_a_kill_and_a_second_resume(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    # The continuation is planned once, when the epochs change, and kept in state.json: resuming it
    # with the same options must not plan it again from a later rate.
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    for folder in (reference, run_dir):
        with pytest.raises(Killed):
            train_classifier(*tiny_sets, _config(5), folder, progress=False, on_epoch=_killed_after(3))
    expected = train_classifier(*tiny_sets, _config(8), reference, resume=True, progress=False)
    with pytest.raises(Killed):
        train_classifier(
            *tiny_sets, _config(8), run_dir, resume=True, progress=False, on_epoch=_killed_after(5)
        )
    result = train_classifier(*tiny_sets, _config(8), run_dir, resume=True, progress=False)
    assert _lrs(result) == _lrs(expected)
    for ours, theirs in zip(result.model.weights, expected.model.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_more_epochs_while_in_the_head_phase_give_the_fine_tune_its_full_schedule(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    expected = train_classifier(*tiny_sets, _config(6, head_epochs=3), reference, progress=False)
    with pytest.raises(Killed):
        train_classifier(
            *tiny_sets, _config(3, head_epochs=2), run_dir, progress=False, on_epoch=_killed_after(1)
        )
    # The head phase under way is lengthened (its rate is constant) and the fine-tune not yet begun
    # takes the new epoch count.
    result = train_classifier(*tiny_sets, _config(6, head_epochs=3), run_dir, resume=True, progress=False)
    assert [record["phase"] for record in result.history] == ["head"] * 3 + ["finetune"] * 6
    assert _lrs(result, "head") == [1e-3] * 3
    assert _lrs(result) == _lrs(expected)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"head_epochs": 3}, r"head phase has run 2 of 2 epoch\(s\)"),
        ({"head_epochs": 0}, r"head phase has run 2 of 2 epoch\(s\)"),
        ({"head_epochs": 2, "learning_rate": 5e-3}, "finetune phase has begun with learning rate 0.001"),
    ],
    ids=["more head epochs", "no head phase", "another learning rate"],
)
def test_a_resume_cannot_rewrite_a_phase_already_run(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path, changed: dict[str, Any], message: str
) -> None:
    # A raised --head-epochs sent a run in its fine-tune back to the frozen head phase at 1e-3, and a
    # raised --lr restarted the fine-tune's decay above the rate it had reached.
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train_classifier(
            *tiny_sets, _config(4, head_epochs=2), run_dir, progress=False, on_epoch=_killed_after(3)
        )
    with pytest.raises(EngineError, match=message):
        train_classifier(*tiny_sets, _config(4, **changed), run_dir, resume=True, progress=False)
    assert _state(run_dir)["global_epoch"] == 3  # refused before any training


# -- the time budget is this invocation's ------------------------------------------------------------


def test_max_minutes_counts_this_invocation_not_the_earlier_ones(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    # The elapsed time of earlier invocations was restored into the budget's clock: a resume with
    # --max-minutes 10 after ten minutes of training stopped after its first epoch.
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train_classifier(*tiny_sets, _config(3), run_dir, progress=False, on_epoch=_killed_after(1))
    state = _state(run_dir)
    state["elapsed_s"] = 600.0  # as if the first invocation had trained for ten minutes
    (run_dir / STATE_FILE).write_text(json.dumps(state))
    result = train_classifier(*tiny_sets, _config(3, max_minutes=10), run_dir, resume=True, progress=False)
    assert result.stopped == "completed"
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert _state(run_dir)["elapsed_s"] > 600.0  # the run's training time, all invocations together
    assert result.history[-1]["elapsed_s"] > 600.0


def test_a_run_out_of_time_is_paused_and_resume_continues_it(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    # The budget is an invocation's, so running out of it ends the invocation, not the run: the
    # same command with --resume went on with nothing to train ("already finished").
    run_dir = tmp_path / "run"
    first = train_classifier(*tiny_sets, _config(3, max_minutes=1e-6), run_dir, progress=False)
    assert first.stopped == "time budget of 1e-06 minutes reached"
    assert len(first.history) == 1
    assert _state(run_dir)["done"] is False
    result = train_classifier(*tiny_sets, _config(3, max_minutes=10), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert result.stopped == "completed"
    assert _state(run_dir)["done"] is True


def test_a_budget_passed_in_the_last_epoch_completes_the_run(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = train_classifier(*tiny_sets, _config(1, max_minutes=1e-6), run_dir, progress=False)
    assert result.stopped == "completed"
    assert _state(run_dir)["done"] is True
