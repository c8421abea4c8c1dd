"""An analysis names the model.json it was made with by the same sha256 the registry records, before
and after the model.json is rewritten in place and registered again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.engine.artifact import update_model_info
from inference.engine.pipeline import analyse_image
from inference.registry import register_model
from tests.engine.test_evaluation import make_tiny_artifact, smear_like

pytestmark = pytest.mark.django_db


def test_the_result_and_the_registry_give_the_same_model_json_sha256(tmp_path: Path) -> None:
    folder = make_tiny_artifact(tmp_path / "model")
    field = smear_like(np.random.default_rng(3), tint=0, size=(180, 224))
    version, _ = register_model(folder)
    assert analyse_image(folder, field).model["model_json_sha256"] == version.model_json_sha256
    update_model_info(folder, metrics={"note": "edited in place, same weights"})
    edited, created = register_model(folder)
    assert (edited.pk, created) == (version.pk, False)
    assert edited.model_json_sha256 != version.model_json_sha256
    assert analyse_image(folder, field).model["model_json_sha256"] == edited.model_json_sha256
