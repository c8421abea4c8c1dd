"""System checks (`manage.py check`, run before the server starts): a red-cell centre network named by
`MARROWFIND_CENTRE_MODEL_DIR` must be usable, so a mistyped path fails at start-up, not at the first
analysis."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core import checks

from inference.engine.errors import ModelArtifactError
from inference.engine.red_cell_centres import CENTRE_MODEL_ENV, read_centre_info, required_peak_threshold


@checks.register()
def centre_model_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    named = os.environ.get(CENTRE_MODEL_ENV)
    if not named:
        return []
    folder = Path(named)
    try:
        required_peak_threshold(folder, read_centre_info(folder))
    except ModelArtifactError as exc:
        return [
            checks.Error(
                f"{CENTRE_MODEL_ENV}={named} is not a usable red-cell centre network: {exc}",
                hint="Train one with `manage.py train_red_cell_centres`, then choose its threshold with "
                "`manage.py choose_centre_threshold ... --write`; or unset the variable for the shipped one.",
                id="inference.E001",
            )
        ]
    return []
