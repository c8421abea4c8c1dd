"""The classifier graph: backbone, head layers and their settings, and one flat graph for Grad-CAM."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inference.engine.backbones import backbone_names, get_backbone
from inference.engine.classifier import (
    FEATURES_LAYER,
    LOGITS_LAYER,
    PROBABILITIES_LAYER,
    ClassifierConfig,
    build_classifier,
    set_backbone_trainable,
)
from inference.engine.errors import ModelArtifactError


@pytest.fixture(scope="module")
def resnet50() -> Any:
    return build_classifier(ClassifierConfig(backbone="resnet50"), weights=None)


def test_registry_has_resnet50_and_mobilenet() -> None:
    assert {"resnet50", "mobilenet"} <= set(backbone_names())
    assert get_backbone("ResNet50").last_conv_layer == "conv5_block3_out"
    assert get_backbone("mobilenet").last_conv_layer == "conv_pw_13_relu"
    with pytest.raises(ModelArtifactError, match="Unknown backbone"):
        get_backbone("vgg16")


def test_resnet50_head_layers_and_settings(resnet50: Any) -> None:
    import keras

    names = [layer.name for layer in resnet50.layers]
    head = names[names.index("conv5_block3_out") + 1 :]
    assert head == [
        "head_pool",
        "head_flatten",
        FEATURES_LAYER,
        "head_dropout",
        LOGITS_LAYER,
        PROBABILITIES_LAYER,
    ]
    assert isinstance(resnet50.get_layer("head_pool"), keras.layers.GlobalAveragePooling2D)
    assert isinstance(resnet50.get_layer("head_flatten"), keras.layers.Flatten)
    features = resnet50.get_layer(FEATURES_LAYER)
    assert isinstance(features, keras.layers.Dense)
    assert features.units == 256
    assert features.activation is keras.activations.relu
    assert isinstance(features.kernel_regularizer, keras.regularizers.L2)
    assert features.kernel_regularizer.l2 == pytest.approx(0.01)
    assert resnet50.get_layer("head_dropout").rate == pytest.approx(0.5)
    logits = resnet50.get_layer(LOGITS_LAYER)
    assert logits.units == 4
    assert logits.activation is keras.activations.linear  # raw logits, for temperature scaling
    assert isinstance(resnet50.get_layer(PROBABILITIES_LAYER), keras.layers.Softmax)
    assert resnet50.input_shape == (None, 224, 224, 3)
    assert resnet50.output_shape == (None, 4)


def test_backbone_is_not_nested(resnet50: Any) -> None:
    """Keras 3 cannot cut a Grad-CAM model through a nested backbone; every layer is top level."""
    import keras

    assert not any(isinstance(layer, keras.Model) for layer in resnet50.layers)
    cut = keras.Model(resnet50.inputs, resnet50.get_layer("conv5_block3_out").output)
    assert cut.output_shape == (None, 7, 7, 2048)


def test_preprocessing_is_inside_the_graph() -> None:
    """0..255 RGB goes in; the backbone's own scaling is the first layer of the graph."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_classifier(ClassifierConfig(backbone="tiny_cnn", head_units=8), weights=None)
    x = np.full((1, 224, 224, 3), 200.0, np.float32)
    out = model(x, training=False).numpy()
    assert out.shape == (1, 4)
    assert np.isclose(out.sum(), 1.0, atol=1e-5)
    assert model.layers[1].name == "backbone_preprocess"


def test_set_backbone_trainable_keeps_batchnorm_frozen(resnet50: Any) -> None:
    set_backbone_trainable(resnet50, True, freeze_batchnorm=True)
    bn = resnet50.get_layer("conv1_bn")
    assert not bn.trainable
    assert resnet50.get_layer("conv1_conv").trainable
    set_backbone_trainable(resnet50, False)
    assert not resnet50.get_layer("conv1_conv").trainable
    assert resnet50.get_layer(FEATURES_LAYER).trainable
    set_backbone_trainable(resnet50, True, freeze_batchnorm=False)
    assert bn.trainable
