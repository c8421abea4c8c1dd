"""A model.json whose classes are not the product's codes in their fixed order is refused.

The engine labels the classifier's outputs by `CLASS_CODES`, whatever model.json says: classes
reversed in model.json were accepted and silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.artifact import read_model_info
from inference.engine.classes import CLASS_CODES
from inference.engine.errors import ModelArtifactError
from tests.inference.model_artifacts import make_artifact

from .conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    "classes",
    [
        list(reversed(CLASS_CODES)),
        list(CLASS_CODES[:3]),
        [*CLASS_CODES, "aml"],
        ["benign", "early", "pre", "pro"],
    ],
    ids=["reversed", "one-missing", "one-more", "folder-names"],
)
def test_classes_other_than_the_codes_in_order_are_refused(tmp_path: Path, classes: list[str]) -> None:
    folder = make_artifact(tmp_path / "model", classes=classes)
    with pytest.raises(ModelArtifactError) as refused:
        read_model_info(folder)
    message = str(refused.value)
    assert str(classes) in message
    assert str(list(CLASS_CODES)) in message


def test_the_codes_in_order_are_accepted(tmp_path: Path) -> None:
    assert read_model_info(make_artifact(tmp_path / "model"))["classes"] == list(CLASS_CODES)


@pytest.mark.parametrize("name", ["marrowfind-resnet50-v1", "marrowfind-mobilenet-v1"])
def test_the_shipped_classifiers_pass(name: str) -> None:
    folder = PROJECT_ROOT / "models" / name
    if not (folder / "model.json").is_file():
        pytest.skip(f"the shipped model folder models/{name} is not present")
    assert read_model_info(folder)["classes"] == list(CLASS_CODES)
