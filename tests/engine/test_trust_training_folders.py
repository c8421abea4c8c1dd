"""Trust is fitted on a training folder that holds every class: a class it lacks would have no
training statistics, and its images could not be judged. Validation may lack a class."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.acquisition_check import fit_acquisition_check
from inference.engine.classes import CLASS_CODES
from inference.engine.errors import DatasetError, EngineError
from inference.engine.trust import fit_trust, labelled_folders


def _folder(root: Path, classes: list[str], per_class: int = 2) -> Path:
    # Listing does not decode the images, so files with an image suffix are enough; their bytes differ,
    # since a validation image with a training image's bytes is refused.
    for code in classes:
        (root / code).mkdir(parents=True)
        for i in range(per_class):
            (root / code / f"img{i}.png").write_bytes(f"{root.name}/{code}/{i}".encode())
    return root


def test_a_training_folder_without_a_class_is_refused_naming_it(tmp_path: Path) -> None:
    train = _folder(tmp_path / "train", [c for c in CLASS_CODES if c != "early_pre_b"])
    val = _folder(tmp_path / "val", list(CLASS_CODES))
    with pytest.raises(DatasetError, match=r"training folder .*no images of class\(es\) early_pre_b"):
        labelled_folders(train, val)
    # Both fitters go through it before they touch the model.
    with pytest.raises(DatasetError, match="early_pre_b"):
        fit_trust(None, train, val)
    with pytest.raises(DatasetError, match="early_pre_b"):
        fit_acquisition_check(None, None, train, val)
    assert issubclass(DatasetError, EngineError)  # what `manage.py fit_acquisition_check` reports


def test_a_validation_folder_may_lack_a_class(tmp_path: Path) -> None:
    train = _folder(tmp_path / "train", list(CLASS_CODES))
    val = _folder(tmp_path / "val", list(CLASS_CODES[:2]))
    got_train, got_val = labelled_folders(train, val)
    assert {label for _, label in got_train} == set(range(len(CLASS_CODES)))
    assert {label for _, label in got_val} == {0, 1}
