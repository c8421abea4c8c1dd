"""Where `python -m inference.engine.evaluation` writes its report: an existing file is replaced only
with --force, and then whole or not at all; --out and --plots may not collide; a write that fails is
a usage error, not a traceback. The evaluation itself is replaced by a stub: no model is needed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from inference.engine import evaluation
from inference.engine.cli_checks import UsageError
from inference.engine.evaluation import main, run_evaluation

REPORT = {"n": 3, "accuracy": 1.0, "confidence": float("nan")}


@pytest.fixture
def stub_evaluation(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The evaluation returns `REPORT` at once; the list records that it ran."""
    ran: list[str] = []

    def evaluate(*args: Any, plots_dir: Path | None = None, **kwargs: Any) -> dict[str, Any]:
        ran.append("evaluated")
        if plots_dir is not None:
            Path(plots_dir).mkdir(parents=True, exist_ok=True)
        return dict(REPORT)

    monkeypatch.setattr(evaluation, "evaluate_classifier", evaluate)
    return ran


def test_an_existing_report_is_replaced_only_with_force(
    tmp_path: Path, stub_evaluation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.json"
    out.write_text('{"name": "the model"}')
    argv = ["--model", str(tmp_path), "--data", str(tmp_path), "--out", str(out)]
    assert main(argv) == 2
    assert "already exists; it is not overwritten" in capsys.readouterr().err
    assert out.read_text() == '{"name": "the model"}'
    assert stub_evaluation == []  # refused before any work
    assert main([*argv, "--force"]) == 0
    assert json.loads(out.read_text()) == {"n": 3, "accuracy": 1.0, "confidence": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]  # no temporary file left


def test_a_failed_write_keeps_the_old_report_and_is_a_usage_error(
    tmp_path: Path, stub_evaluation: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    out.write_text("the previous report")

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(UsageError, match=r"--out .*report\.json cannot be written: No space left on device"):
        run_evaluation(tmp_path, tmp_path, output=out, force=True)
    assert out.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    ("out", "plots"),
    [
        ("same", "same"),
        ("same", "./same/"),
        ("report.json", "report.json/plots"),
        ("plots/roc_curves.png", "plots"),
    ],
)
def test_out_and_plots_that_collide_are_refused_before_any_work(
    tmp_path: Path, stub_evaluation: list[str], out: str, plots: str
) -> None:
    with pytest.raises(UsageError, match=r"--out .* and --plots .*"):
        run_evaluation(tmp_path, tmp_path, output=tmp_path / out, plots_dir=tmp_path / plots)
    assert stub_evaluation == []
    assert list(tmp_path.iterdir()) == []


def test_the_report_may_go_into_the_plots_folder(tmp_path: Path, stub_evaluation: list[str]) -> None:
    (tmp_path / "eval").mkdir()
    run_evaluation(tmp_path, tmp_path, output=tmp_path / "eval" / "report.json", plots_dir=tmp_path / "eval")
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["n"] == 3


def test_plots_that_cannot_be_written_are_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine import plots
    from tests.engine.test_evaluation import make_tiny_artifact, write_dataset

    def read_only(*args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(plots, "save_evaluation_plots", read_only)
    model = make_tiny_artifact(tmp_path / "model")
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    with pytest.raises(UsageError, match=r"--plots .*plots cannot be written: Permission denied"):
        run_evaluation(model, data, plots_dir=tmp_path / "plots")
