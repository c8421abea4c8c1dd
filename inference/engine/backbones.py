"""Registry of classifier backbones: how to build each one, its input scaling and its Grad-CAM layer.

Every backbone takes float32 RGB in 0..255 and scales it itself, inside the graph, so callers
always hand the model the output of `preprocess.prepare_for_model` whatever the backbone.

Weights are `"imagenet"` (a Keras download, where the network allows), a local file path
(`.h5` / `.weights.h5`, e.g. the stock Keras release kept next to the data), or `None` (random).
TensorFlow and Keras are imported inside the builders only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelArtifactError

Weights = str | Path | None
# (input tensor of float32 RGB 0..255, weights) -> a functional Keras model whose inputs are the
# source inputs of that tensor, so a head built on its output stays one flat graph.
BackboneBuilder = Callable[[Any, Weights], Any]


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: BackboneBuilder
    # Applied as the first layer of the classifier (Keras 3 ops on a symbolic tensor).
    preprocess: Callable[[Any], Any]
    preprocess_name: str
    last_conv_layer: str
    description: str
    input_size: int = 224


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> None:
    _REGISTRY[spec.name] = spec


def get_backbone(name: str) -> BackboneSpec:
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        raise ModelArtifactError(
            f"Unknown backbone {name!r}; known backbones: {', '.join(sorted(_REGISTRY))}."
        ) from None


def backbone_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def resolve_weights(weights: Weights) -> str | None:
    """Normalise a weights argument: None, "imagenet", or an existing local file path."""
    if weights is None:
        return None
    text = str(weights)
    if text.lower() in ("", "none", "random"):
        return None
    if text.lower() == "imagenet":
        return "imagenet"
    path = Path(text)
    if not path.is_file():
        raise ModelArtifactError(f"Backbone weights file not found: {text}.")
    return str(path)


def _input_shape(size: int) -> tuple[int, int, int]:
    return (size, size, 3)


# -- input scaling (inside the graph) ------------------------------------------------------------


def _scale_minus_one_to_one(x: Any) -> Any:
    """MobileNet family (`tf` mode): 0..255 -> -1..1."""
    return x / 127.5 - 1.0


def _caffe(x: Any) -> Any:
    """ResNet50 (`caffe` mode): RGB -> BGR, then subtract the ImageNet channel means."""
    from keras import ops

    bgr = ops.flip(x, axis=-1)
    return bgr - ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=x.dtype)


def _identity_scale(x: Any) -> Any:
    return x / 255.0


# -- builders -------------------------------------------------------------------------------------


def _build_resnet50(input_tensor: Any, weights: Weights) -> Any:
    import keras

    return keras.applications.ResNet50(
        include_top=False,
        weights=resolve_weights(weights),
        input_tensor=input_tensor,
        input_shape=_input_shape(224),
    )


def _build_mobilenet(input_tensor: Any, weights: Weights) -> Any:
    import keras

    return keras.applications.MobileNet(
        include_top=False,
        alpha=0.25,
        weights=resolve_weights(weights),
        input_tensor=input_tensor,
        input_shape=_input_shape(224),
    )


def _build_tiny(input_tensor: Any, weights: Weights) -> Any:
    """A few convolutions: for tests and smoke runs only, never for patients."""
    import keras
    from keras import layers

    x = input_tensor
    for index, filters in enumerate((8, 16, 16)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name=f"tiny_conv{index}")(x)
        x = layers.ReLU(name=f"tiny_relu{index}")(x)
    inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, x, name="tiny_cnn")
    resolved = resolve_weights(weights)
    if resolved == "imagenet":
        raise ModelArtifactError("The tiny test backbone has no ImageNet weights.")
    if resolved is not None:
        model.load_weights(resolved)
    return model


register_backbone(
    BackboneSpec(
        name="resnet50",
        builder=_build_resnet50,
        preprocess=_caffe,
        preprocess_name="resnet50.preprocess_input (caffe: RGB->BGR, minus ImageNet means)",
        last_conv_layer="conv5_block3_out",
        description="ResNet50 (He et al. 2016), Keras Applications, no top",
    )
)
register_backbone(
    BackboneSpec(
        name="mobilenet",
        builder=_build_mobilenet,
        preprocess=_scale_minus_one_to_one,
        preprocess_name="mobilenet.preprocess_input (tf: x/127.5 - 1)",
        last_conv_layer="conv_pw_13_relu",
        description="MobileNet v1 alpha 0.25 (Howard et al. 2017), Keras Applications, no top",
    )
)
register_backbone(
    BackboneSpec(
        name="tiny_cnn",
        builder=_build_tiny,
        preprocess=_identity_scale,
        preprocess_name="x/255",
        last_conv_layer="tiny_relu2",
        description="Three-convolution test network (tests and smoke runs only)",
    )
)
