"""`manage.py evaluate_classifier`: by folder, by registered version, or the active model by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from inference.registry import register_model
from tests.engine.test_evaluation import (  # noqa: F401 (fixture)
    fitted_model,
    make_tiny_artifact,
    write_dataset,
)


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


def _cut_in_half(path: Path) -> None:
    """The file as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def no_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any evaluation fails the test: what is checked must be checked before the work."""
    from inference.engine import evaluation

    def no_work(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the evaluation ran before the options were checked")

    for name in ("evaluate_classifier", "screen_images", "evaluate_cells"):
        monkeypatch.setattr(evaluation, name, no_work)


@pytest.mark.usefixtures("no_evaluation")
@pytest.mark.parametrize(
    ("option", "where", "message"),
    [
        ("--out", "missing/x.json", r"--out .*x\.json: the folder .*missing does not exist; create it"),
        ("--out", ".", r"--out .* is a folder; give a file name"),
        ("--plots", "a-file", r"--plots .*a-file is a file; give a folder"),
        ("--plots", "a-file/plots", r"--plots .*plots: .*a-file is a file, so the folder cannot be made"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, option: str, where: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    with pytest.raises(CommandError, match=message):
        call_command(
            "evaluate_classifier",
            "--model",
            str(tmp_path),
            "--data",
            str(data),
            option,
            str(tmp_path / where),
        )
    assert not (tmp_path / "missing").exists()


@pytest.mark.usefixtures("no_evaluation")
def test_limit_applies_to_cells_only(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    with pytest.raises(CommandError, match="--limit applies to --cells only"):
        call_command("evaluate_classifier", "--model", str(tmp_path), "--data", str(data), "--limit", "2")


@pytest.mark.parametrize(
    "options",
    [("--cells", "--limit", "0"), ("--cells", "--limit", "-1"), ("--batch-size", "0"), ("--batch-size", "x")],
)
def test_counts_below_one_are_refused_at_parsing(tmp_path: Path, options: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match=rf"argument {options[-2]}: '{options[-1]}' is not a whole number"):
        call_command("evaluate_classifier", "--model", str(tmp_path), "--data", str(tmp_path), *options)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("/nonexistent/model", r"Model folder '/nonexistent/model' does not exist"),
        ("./models/missing", r"Model folder '\./models/missing' does not exist"),
        ("{file}", r"Model folder '.*model\.json' is not a folder"),
    ],
)
def test_a_model_folder_that_is_not_there_is_named(tmp_path: Path, reference: str, message: str) -> None:
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(CommandError, match=message):
        call_command(
            "evaluate_classifier",
            "--model",
            reference.format(file=tmp_path / "model.json"),
            "--data",
            str(tmp_path),
        )


@pytest.mark.parametrize("mode", [(), ("--unlabelled",), ("--cells",)])
def test_a_corrupt_image_is_named(tmp_path: Path, mode: tuple[str, ...]) -> None:
    model = make_tiny_artifact(tmp_path / "model")
    data = write_dataset(tmp_path / "d", per_class=2, seed=0)
    _cut_in_half(data / "early" / "img00.png")
    if mode == ("--unlabelled",):
        data = data / "early"
    with pytest.raises(
        CommandError, match=r"Image '.*early/img00\.png' cannot be used: The PNG file is truncated"
    ):
        call_command("evaluate_classifier", "--model", str(model), "--data", str(data), *mode)
