"""A trial load of a classifier folder, as a worker loads it, for the commands that register one.

The registry checks a folder's model.json and its weights' sha256 without TensorFlow (it runs in the
web process), which cannot tell weights that do not fit the architecture model.json describes: a copy
of the MobileNet with `head_units` edited to 128 registered, was activated, and then every worker
failed on it. The commands that register (`register_model`, `bootstrap`) may import TensorFlow, so
they load the folder first (`registry.register_artifact(trial_load=...)`). Activation refuses a folder
changed since its registration, so what was loaded then is what is activated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelArtifactError


def load_as_a_worker(folder: Path) -> dict[str, Any]:
    """Build and load `folder`'s classifier (weights verified and assigned, compiled passes made) and its
    trust state as a worker's pipeline does; return the model.json they were built from. Whatever the
    failure, it is a ModelArtifactError naming it."""
    from .predictor import Predictor
    from .trust import load_trust

    try:
        predictor = Predictor.from_artifact(folder)
        load_trust(predictor.info.get("trust"), folder)
    except ModelArtifactError:
        raise
    except Exception as exc:  # Keras and the trust state raise their own errors for a bad model.json
        raise ModelArtifactError(f"{type(exc).__name__}: {exc}") from exc
    return predictor.info
