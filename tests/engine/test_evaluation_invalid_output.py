"""A model whose output is not finite for some images (a diverged network gives NaN): those rows get
no call, are flagged and counted apart, the figures are of the other rows, and the report is strict
JSON. A model with no finite output at all is refused. Tiny network, generated images; seconds."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine import predictor
from inference.engine.errors import ModelArtifactError
from inference.engine.evaluation import evaluate_classifier, main, screen_images
from tests.engine.test_evaluation import (  # noqa: F401 (fixture)
    fitted_model,
    make_tiny_artifact,
)

BATCH = 8  # the first image of every batch of eight gets NaN logits: 4 of the 32 validation images


class DivergedOnSomeImages:
    """A predictor whose logits are NaN for the first image of each batch (`rows`: every row)."""

    def __init__(self, wrapped: Any, rows: slice) -> None:
        self.info = wrapped.info
        self._wrapped = wrapped
        self._rows = rows

    def features_and_logits(self, batch: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        features, logits = self._wrapped.features_and_logits(batch, **kwargs)
        logits = np.array(logits, dtype=np.float32)
        logits[self._rows, 1] = np.nan
        return features, logits


@pytest.fixture
def diverged(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call with `rows` to make the evaluated model's logits NaN there (the first image by default)."""
    real = predictor.get_predictor

    def diverge(rows: slice = slice(0, 1)) -> None:
        monkeypatch.setattr(
            predictor, "get_predictor", lambda folder: DivergedOnSomeImages(real(folder), rows)
        )

    return diverge


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("with_trust", [True, False])
def test_rows_without_a_finite_output_are_left_out_of_the_figures(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    diverged: Any,
    caplog: pytest.LogCaptureFixture,
    with_trust: bool,
) -> None:
    model = fitted_model["model"] if with_trust else make_tiny_artifact(tmp_path / "untrusted")
    diverged()
    with caplog.at_level(logging.WARNING, logger="inference.engine.evaluation"):
        report = evaluate_classifier(
            model, fitted_model["val"], batch_size=BATCH, show_progress=False, plots_dir=tmp_path / "plots"
        )
    assert report["n_invalid_output"] == 4
    assert report["n"] == 28
    assert np.array(report["confusion_matrix"]).sum() == 28
    assert all(np.isfinite(report[key]) for key in ("accuracy", "ece", "macro_f1", "flagged_rate"))
    invalid = [row for row in report["per_image"] if row["pred"] is None]
    assert [row["file"] for row in invalid] == [
        "Benign/img00.png",
        "early/img00.png",
        "Pre/img00.png",
        "pro_b/img00.png",
    ]
    assert all(row["confidence"] is None and row["flagged"] for row in invalid)
    assert all("invalid_model_output" in row["reasons"] for row in invalid)
    assert "4 of the 32 images" in caplog.text
    assert "left out" in caplog.text


def test_the_unlabelled_screen_counts_invalid_rows_apart_and_writes_strict_json(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    diverged: Any,
) -> None:
    diverged()
    report = screen_images(
        fitted_model["model"], fitted_model["val"] / "Pre", batch_size=4, show_progress=False
    )
    assert (report["n"], report["n_invalid_output"]) == (6, 2)
    assert sum(report["predicted"].values()) == 6
    out = tmp_path / "screen.json"
    argv = ["--model", str(fitted_model["model"]), "--data", str(fitted_model["val"] / "Pre"), "--unlabelled"]
    assert main([*argv, "--batch-size", "4", "--out", str(out)]) == 0
    rows = _strict_json(out.read_text())["per_image"]
    assert [row["pred"] for row in rows].count(None) == 2
    assert rows[0]["confidence"] is None


def test_a_model_with_no_finite_output_is_refused(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    diverged: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    diverged(slice(None))
    with pytest.raises(ModelArtifactError, match=r"no finite output for any of the 32 images"):
        evaluate_classifier(fitted_model["model"], fitted_model["val"], show_progress=False)
    out = tmp_path / "report.json"
    assert (
        main(["--model", str(fitted_model["model"]), "--data", str(fitted_model["val"]), "--out", str(out)])
        == 2
    )
    assert "no finite output" in capsys.readouterr().err
    assert not out.exists()
