"""System checks (`manage.py check`, run before the server starts and before every management command):
a red-cell network named by `MARROWFIND_CENTRE_MODEL_DIR` or `MARROWFIND_RADIUS_MODEL_DIR`, a stain
calibration named by `MARROWFIND_STAIN_CALIBRATION`, a scale calibration named by
`MARROWFIND_SCALE_CALIBRATION`, and the classifier folder that `bootstrap`
registers (`MARROWFIND_MODEL_DIR`, or the shipped one) must be usable, so a mistyped path or a
damaged folder fails at start-up, not at the first analysis. None of them imports TensorFlow (this is
the web process)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks

from inference.engine.artifact import read_model_info, verify_weights, weights_entry
from inference.engine.errors import ModelArtifactError
from inference.engine.red_cell_centres import CENTRE_MODEL_ENV, check_centre_folder
from inference.engine.red_cell_radius import RADIUS_MODEL_ENV, check_radius_folder
from inference.engine.scale_calibration import SCALE_CALIBRATION_ENV, ScaleCalibration, ScaleCalibrationError
from inference.engine.stain_calibration import STAIN_CALIBRATION_ENV, StainCalibration, StainCalibrationError

CLASSIFIER_MODEL_ENV = "MARROWFIND_MODEL_DIR"


def _network_check(
    variable: str, what: str, check_folder: Callable[[Path], None], hint: str, check_id: str
) -> list[checks.CheckMessage]:
    """A red-cell network's folder, checked as fully as its load would be (its weights are a few hundred
    kilobytes: hashing them and reading their arrays' shapes takes a few milliseconds)."""
    named = os.environ.get(variable)
    if not named:
        return []
    try:
        check_folder(Path(named))
    except ModelArtifactError as exc:
        return [checks.Error(f"{variable}={named} is not a usable {what}: {exc}", hint=hint, id=check_id)]
    return []


@checks.register()
def centre_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _network_check(
        CENTRE_MODEL_ENV,
        "red-cell centre network",
        check_centre_folder,
        "Train one with `manage.py train_red_cell_centres`, then choose its threshold with "
        "`manage.py choose_centre_threshold ... --write`; or unset the variable for the shipped one.",
        "inference.E001",
    )


@checks.register()
def radius_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _network_check(
        RADIUS_MODEL_ENV,
        "red-cell radius network",
        check_radius_folder,
        "Train one with `manage.py train_red_cell_centres --radius`, then choose its factor with "
        "`manage.py choose_radius_factor ... --write`; or unset the variable for the shipped one.",
        "inference.E002",
    )


def _calibration_check(
    variable: str, what: str, load: Callable[[Path], object], command: str, check_id: str
) -> list[checks.CheckMessage]:
    """A laboratory's calibration file, read as every analysis would read it."""
    named = os.environ.get(variable)
    if not named:
        return []
    try:
        load(Path(named))
    except (StainCalibrationError, ScaleCalibrationError) as exc:
        return [
            checks.Error(
                f"{variable}={named} is not a usable {what}: {exc}",
                hint=f"Write one with `manage.py {command} --data DIR --out FILE.json`, or unset the "
                "variable to count without one.",
                id=check_id,
            )
        ]
    return []


@checks.register()
def stain_calibration_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _calibration_check(
        STAIN_CALIBRATION_ENV, "stain calibration", StainCalibration.load, "calibrate_stain", "inference.E003"
    )


@checks.register()
def scale_calibration_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _calibration_check(
        SCALE_CALIBRATION_ENV, "scale calibration", ScaleCalibration.load, "calibrate_scale", "inference.E005"
    )


def _weights_all_there(folder: Path) -> None:
    """A classifier folder's model.json is readable and its weights file is there, of the size model.json
    records. Their sha256 is left to registration (`bootstrap`, `register_model`) and to every worker's
    load: this check runs before every management command, and hashing 44 MB of ResNet50 weights took
    30-60 ms each time, growing with the model; a size compared catches the usual damage (a partial
    copy, a Git LFS pointer in place of the file). Hashed only where model.json records no size."""
    info = read_model_info(folder)
    path, _ = weights_entry(folder, info)
    if not path.is_file():
        raise ModelArtifactError(f"Model folder {folder.name!r} has no weights file {path.name!r}.")
    recorded = info["weights"].get("bytes")
    if not isinstance(recorded, int) or isinstance(recorded, bool):
        verify_weights(folder, info)
        return
    size = path.stat().st_size
    if size != recorded:
        raise ModelArtifactError(
            f"Weights file {path.name!r} in {folder.name!r} is {size:,} bytes; model.json records "
            f"{recorded:,}: a partial copy, or another file."
        )


@checks.register()
def classifier_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    folder = Path(settings.DEFAULT_MODEL_DIR)
    variable = CLASSIFIER_MODEL_ENV if os.environ.get(CLASSIFIER_MODEL_ENV) else "DEFAULT_MODEL_DIR"
    try:
        _weights_all_there(folder)
    except ModelArtifactError as exc:
        return [
            checks.Error(
                f"{variable}={folder} is not a usable classifier model folder: {exc}",
                hint=f"Set {CLASSIFIER_MODEL_ENV} to a model folder (model.json, its weights and model "
                "card, as `train_classifier` writes them), or unset it for the shipped model; `manage.py "
                "bootstrap` registers that folder on the first run.",
                id="inference.E004",
            )
        ]
    return []
