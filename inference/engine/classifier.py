"""The image classifier: a registered backbone with the Marrow-Find head, as one flat Keras graph.

Input: float32 (N, 224, 224, 3) RGB in 0..255 (the output of `prepare_for_model`); the backbone's
input scaling is the first layer. Head (on `base.output`, never a nested model: Keras 3 cannot cut
a Grad-CAM model through a nested backbone): GlobalAveragePooling2D, Flatten, Dense 256 ReLU with
L2 0.01 ("features", the penultimate layer used for OOD scoring), Dropout 0.5, Dense 4 linear
("logits", kept for temperature scaling), Softmax ("probabilities").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backbones import Weights, get_backbone
from .classes import CLASS_CODES

HEAD_UNITS = 256
HEAD_L2 = 0.01
HEAD_DROPOUT = 0.5
FEATURES_LAYER = "features"
LOGITS_LAYER = "logits"
PROBABILITIES_LAYER = "probabilities"
PREPROCESS_LAYER = "backbone_preprocess"
HEAD_LAYERS = ("head_pool", "head_flatten", FEATURES_LAYER, "head_dropout", LOGITS_LAYER, PROBABILITIES_LAYER)


@dataclass(frozen=True)
class ClassifierConfig:
    backbone: str = "mobilenet"
    num_classes: int = len(CLASS_CODES)
    input_size: int = 224
    head_units: int = HEAD_UNITS
    head_l2: float = HEAD_L2
    head_dropout: float = HEAD_DROPOUT

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "head_units": self.head_units,
            "head_l2": self.head_l2,
            "head_dropout": self.head_dropout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {key: data[key] for key in cls().to_dict() if key in data}
        return cls(**known)


def build_classifier(config: ClassifierConfig | None = None, weights: Weights = None) -> Any:
    """Build the classifier; `weights` are the backbone's starting weights (see `backbones`)."""
    import keras
    from keras import layers, regularizers

    config = config or ClassifierConfig()
    spec = get_backbone(config.backbone)
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3), dtype="float32", name="image")
    scaled = layers.Lambda(spec.preprocess, name=PREPROCESS_LAYER)(inputs)
    base = spec.builder(scaled, weights)
    x = layers.GlobalAveragePooling2D(name="head_pool")(base.output)
    x = layers.Flatten(name="head_flatten")(x)
    x = layers.Dense(
        config.head_units,
        activation="relu",
        kernel_regularizer=regularizers.L2(config.head_l2),
        name=FEATURES_LAYER,
    )(x)
    x = layers.Dropout(config.head_dropout, name="head_dropout")(x)
    logits = layers.Dense(config.num_classes, name=LOGITS_LAYER)(x)
    probabilities = layers.Softmax(name=PROBABILITIES_LAYER)(logits)
    return keras.Model(inputs, probabilities, name=f"marrowfind_{spec.name}")


def backbone_layers(model: Any) -> list[Any]:
    """The layers that belong to the backbone (everything but the input, scaling and head)."""
    skip = {PREPROCESS_LAYER, *HEAD_LAYERS}
    return [
        layer for layer in model.layers if layer.name not in skip and layer.__class__.__name__ != "InputLayer"
    ]


def set_backbone_trainable(model: Any, trainable: bool, *, freeze_batchnorm: bool = True) -> None:
    """Freeze or unfreeze the backbone; BatchNorm stays frozen (inference mode) when asked.

    With pretrained weights and a small data set, updating BatchNorm statistics on small batches
    destroys what ImageNet taught; a randomly initialised backbone must update them.
    """
    for layer in backbone_layers(model):
        is_bn = layer.__class__.__name__ == "BatchNormalization"
        layer.trainable = trainable and not (is_bn and freeze_batchnorm)


def head_outputs_model(model: Any) -> Any:
    """A model giving (penultimate features, logits) for OOD scoring and temperature scaling."""
    import keras

    return keras.Model(
        model.inputs,
        [model.get_layer(FEATURES_LAYER).output, model.get_layer(LOGITS_LAYER).output],
        name=f"{model.name}_features_logits",
    )
