"""System checks (`manage.py check`, run before the server starts): a red-cell network named by
`MARROWFIND_CENTRE_MODEL_DIR` or `MARROWFIND_RADIUS_MODEL_DIR`, and a stain calibration named by
`MARROWFIND_STAIN_CALIBRATION`, must be usable, so a mistyped path fails at start-up, not at the first
analysis."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core import checks

from inference.engine.errors import ModelArtifactError
from inference.engine.red_cell_centres import CENTRE_MODEL_ENV, read_centre_info, required_peak_threshold
from inference.engine.red_cell_radius import RADIUS_MODEL_ENV, required_radius_factor
from inference.engine.stain_calibration import STAIN_CALIBRATION_ENV, StainCalibration, StainCalibrationError


def _network_check(
    variable: str, what: str, validate: Callable[[Path, dict[str, Any]], float], hint: str, check_id: str
) -> list[checks.CheckMessage]:
    named = os.environ.get(variable)
    if not named:
        return []
    folder = Path(named)
    try:
        validate(folder, read_centre_info(folder))
    except ModelArtifactError as exc:
        return [checks.Error(f"{variable}={named} is not a usable {what}: {exc}", hint=hint, id=check_id)]
    return []


@checks.register()
def centre_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _network_check(
        CENTRE_MODEL_ENV,
        "red-cell centre network",
        required_peak_threshold,
        "Train one with `manage.py train_red_cell_centres`, then choose its threshold with "
        "`manage.py choose_centre_threshold ... --write`; or unset the variable for the shipped one.",
        "inference.E001",
    )


@checks.register()
def radius_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _network_check(
        RADIUS_MODEL_ENV,
        "red-cell radius network",
        required_radius_factor,
        "Train one with `manage.py train_red_cell_centres --radius`, then choose its factor with "
        "`manage.py choose_radius_factor ... --write`; or unset the variable for the shipped one.",
        "inference.E002",
    )


@checks.register()
def stain_calibration_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    named = os.environ.get(STAIN_CALIBRATION_ENV)
    if not named:
        return []
    try:
        StainCalibration.load(Path(named))
    except StainCalibrationError as exc:
        return [
            checks.Error(
                f"{STAIN_CALIBRATION_ENV}={named} is not a usable stain calibration: {exc}",
                hint="Write one with `manage.py calibrate_stain --data DIR --out FILE.json`, or unset the "
                "variable to count without one.",
                id="inference.E003",
            )
        ]
    return []
