"""`manage.py evaluate_classifier --out`: an existing file (a model's model.json, say) is replaced
only with --force; --out and --plots naming the same place are refused before any work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.engine.test_evaluation import write_dataset


@pytest.fixture
def quick_evaluation(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The evaluation returns a small report at once; the list records that it ran."""
    from inference.engine import evaluation

    ran: list[str] = []

    def evaluate(*args: Any, **kwargs: Any) -> dict[str, Any]:
        ran.append("evaluated")
        return {"n": 2, "accuracy": 0.5, "per_image": []}

    monkeypatch.setattr(evaluation, "evaluate_classifier", evaluate)
    return ran


def test_an_existing_out_file_is_replaced_only_with_force(
    tmp_path: Path, quick_evaluation: list[str]
) -> None:
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    model_json = tmp_path / "model.json"
    model_json.write_text('{"name": "a model"}')
    command = ["evaluate_classifier", "--model", str(tmp_path), "--data", str(data), "--out", str(model_json)]
    with pytest.raises(CommandError, match=r"--out .*model\.json already exists; .* add --force"):
        call_command(*command)
    assert model_json.read_text() == '{"name": "a model"}'
    assert quick_evaluation == []
    call_command(*command, "--force")
    assert json.loads(model_json.read_text())["n"] == 2


def test_out_and_plots_naming_the_same_place_are_refused_before_any_work(
    tmp_path: Path, quick_evaluation: list[str]
) -> None:
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    same = str(tmp_path / "results")
    with pytest.raises(CommandError, match=r"--out .*results and --plots .*results collide"):
        call_command(
            "evaluate_classifier",
            "--model",
            str(tmp_path),
            "--data",
            str(data),
            "--out",
            same,
            "--plots",
            same,
        )
    assert quick_evaluation == []
    assert not (tmp_path / "results").exists()
