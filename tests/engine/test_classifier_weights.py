"""Backbone starting weights: a local file (any machine), the shared MobileNet release, or refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine.backbones import get_backbone, resolve_weights
from inference.engine.classifier import ClassifierConfig, build_classifier
from inference.engine.errors import ModelArtifactError

from .conftest import shared_data_path


def _tiny_backbone(weights: str | Path | None) -> Any:
    import keras

    inputs = keras.Input((224, 224, 3))
    return get_backbone("tiny_cnn").builder(inputs, weights)


def test_local_weights_file_is_loaded(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(1)
    original = _tiny_backbone(None)
    path = tmp_path / "tiny.weights.h5"
    original.save_weights(path)
    keras.utils.set_random_seed(2)
    reloaded = _tiny_backbone(path)
    for a, b in zip(original.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_missing_weights_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="not found"):
        resolve_weights(tmp_path / "absent.h5")
    assert resolve_weights("ImageNet") == "imagenet"
    assert resolve_weights("none") is None


def test_shared_mobilenet_release_loads() -> None:
    import h5py

    path = shared_data_path("weights", "mobilenet_2_5_224_tf_no_top.h5")
    model = build_classifier(ClassifierConfig(backbone="mobilenet"), weights=path)
    with h5py.File(path, "r") as stored:
        kernel = np.asarray(stored["conv1"]["conv1"]["kernel:0"])
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), kernel)
    assert model.get_layer("conv_pw_13_relu").output.shape[1:] == (7, 7, 256)
