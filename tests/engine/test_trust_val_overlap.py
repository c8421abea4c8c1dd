"""A trust fit (`fit_trust`, what `train_classifier --fit-trust-only` runs) refuses a validation folder
that shares images with the training folder, as training does: thresholds chosen and checked on images
the model was trained on pass a model that is worse than they say. Generated images, no model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inference.engine.acquisition_check import fit_acquisition_check
from inference.engine.errors import DatasetError
from inference.engine.trust import fit_trust

from .conftest import write_class_folders


def test_a_validation_folder_sharing_training_images_is_refused(tmp_path: Path) -> None:
    train = write_class_folders(tmp_path / "train", per_class=3, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=2, seed=2)
    shutil.copy(train / "PRO" / "img01.png", val / "PRO" / "another-name.png")
    # Refused before the model is touched (there is none here).
    with pytest.raises(DatasetError, match=r"shares 1 of its 9 images .*'PRO/another-name\.png'"):
        fit_trust(None, train, val)
    with pytest.raises(DatasetError, match=r"is the training folder"):
        fit_trust(None, train, train)


def test_the_focus_and_noise_check_refuses_it_too(tmp_path: Path) -> None:
    # fit_acquisition_check chooses its threshold on the validation folder as the trust fit does.
    train = write_class_folders(tmp_path / "train", per_class=3, seed=1)
    with pytest.raises(DatasetError, match=r"is the training folder"):
        fit_acquisition_check(None, None, train, train)
