"""`manage.py evaluate_classifier`: by folder, by registered version, or the active model by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.registry import register_model
from tests.engine.test_evaluation import fitted_model, write_dataset  # noqa: F401 (fixture)


@pytest.mark.django_db
def test_active_model_is_used_without_model_option(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_model(fitted_model["model"], activate=True)
    out = tmp_path / "report.json"
    call_command("evaluate_classifier", "--data", str(fitted_model["val"]), "--out", str(out))
    report = json.loads(out.read_text())
    assert report["n"] == 32
    assert set(report) >= {
        "accuracy",
        "weighted_f1",
        "macro_f1",
        "cohen_kappa",
        "ece",
        "per_class",
        "per_image",
    }
    assert len(report["confusion_matrix"]) == 4
    assert json.loads(capsys.readouterr().out)["n"] == 32


@pytest.mark.django_db
def test_no_active_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No model is active"):
        call_command("evaluate_classifier", "--data", str(write_dataset(tmp_path / "d", per_class=1, seed=0)))
