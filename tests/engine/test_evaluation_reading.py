"""Evaluation reads every image before any model work: all the files that cannot be used are named
in one error, in seconds rather than after the model has run; a file that goes away during the run is
named too. Generated images; the model is never loaded in most of these tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inference.engine import evaluation, pipeline, predictor
from inference.engine.errors import DatasetError
from inference.engine.evaluation import evaluate_cells, evaluate_classifier, main, screen_images
from tests.engine.test_evaluation import make_tiny_artifact, write_dataset


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: what is checked here must be checked before."""

    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the images were checked")

    monkeypatch.setattr(predictor, "get_predictor", no_work)
    monkeypatch.setattr(pipeline, "Pipeline", no_work)


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:120])  # an interrupted copy


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("mode", ["labelled", "cells", "unlabelled"])
def test_every_unusable_image_is_named_before_the_model_is_loaded(tmp_path: Path, mode: str) -> None:
    data = write_dataset(tmp_path / "d", per_class=3, seed=0)
    for name in ("img00.png", "img02.png"):
        _cut(data / "Pre" / name)
    (data / "Pre" / "img01.png").write_bytes(b"")
    if mode == "unlabelled":
        data = data / "Pre"
    run: Callable[..., Any] = {
        "labelled": evaluate_classifier,
        "cells": evaluate_cells,
        "unlabelled": screen_images,
    }[mode]
    with pytest.raises(DatasetError, match=r"3 of the \d+ images in .* cannot be used") as caught:
        run(tmp_path, data, show_progress=False)
    for name in ("img00.png", "img01.png", "img02.png"):
        assert f"Pre/{name}' cannot be used" in str(caught.value)


@pytest.mark.usefixtures("no_model")
def test_an_unlabelled_folder_with_images_in_sub_folders_is_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", per_class=1, seed=0)
    with pytest.raises(
        DatasetError, match=r"sub-folders would be left out.*: 'Benign', 'Pre', 'early', 'pro_b'\."
    ):
        screen_images(tmp_path, data, show_progress=False)


def test_an_image_that_goes_away_during_the_run_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_tiny_artifact(tmp_path / "model")
    data = write_dataset(tmp_path / "d", per_class=2, seed=0)
    listed = evaluation.list_labelled_images

    def list_then_lose_one(root: Path) -> Any:
        items = listed(root)
        (data / "Pre" / "img01.png").unlink()  # a sync client, or another user, removes it
        return items

    monkeypatch.setattr(evaluation, "list_labelled_images", list_then_lose_one)
    assert main(["--model", str(model), "--data", str(data)]) == 2
    assert "Pre/img01.png' cannot be read: No such file or directory" in capsys.readouterr().err
