"""Learned red-cell centres: a small fully convolutional network that marks each red cell's centre.

Red cells that overlap widely leave one distance-transform peak, so the watershed merges them, and
how many merge depends on the estimated cell radius (docs/counting.md). This network was trained on
the CBC fields' red-cell boxes and on fields whose every red cell is marked
(`docs/data/cbc-red-cell-centres.csv`) to put a peak at the centre of every red cell; the
segmentation takes its peaks as a second opinion on how many cells each clump holds.

Input: the field resized so a red cell has a radius of `segmentation.WORK_RADIUS_PX` pixels, as one
channel: the colour distance from the background (see `segmentation._lab_features`) over its Otsu
threshold.
Colour itself is left out on purpose: a network that also saw the nucleus score learned the CBC
stain and missed most red cells of the ALL fields, whose red cells are blue-grey. Output: a heat map
of the same size, near 1 at a cell's centre. The artifact (`models/red-cell-centres-v3/`) holds
`weights.npz`, `model.json` (training command, data, sha256 of the weights, and `peak_threshold`:
the peak height chosen for this network on recounted fields) and a model card. A laboratory's own
network is used instead when `MARROWFIND_CENTRE_MODEL_DIR` names its folder. TensorFlow is imported
only when a model is built.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import MODEL_JSON, WEIGHTS_FILE, assign_weights, verify_weights
from .errors import ModelArtifactError
from .network_cache import NetworkCache

CENTRE_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "red-cell-centres-v3"
# A folder named here replaces the shipped network in every process that reads it (workers included).
CENTRE_MODEL_ENV = "MARROWFIND_CENTRE_MODEL_DIR"
# Inputs are padded (mirrored) to a multiple of this; the network pools twice, so 4 would do, but the
# peak threshold and every figure in the model card were measured with 16.
_SIZE_STEP = 16
# A cell's colour distance is 1-3 Otsu thresholds; darker stain deposits are clipped.
_MAX_DISTANCE = 4.0
# Below this colour distance (CIELAB) nothing is a cell, whatever Otsu says on an empty field.
_MIN_CONTRAST = 6.0
# The last layer before the heat map; the radius network (`red_cell_radius`) branches off here.
LAST_FEATURES = "conv_9"
# (kernel size, input channels, output channels) of every convolution `build_centre_net` makes, so a
# folder's weights can be checked without TensorFlow (`check_weight_arrays`, for `manage.py check`);
# a test holds this to the built network.
CENTRE_CONVOLUTIONS: dict[str, tuple[int, int, int]] = {
    "conv_1": (3, 1, 16),
    "conv_2": (3, 16, 16),
    "conv_3": (3, 16, 32),
    "conv_4": (3, 32, 32),
    "conv_5": (3, 32, 48),
    "conv_6": (3, 48, 48),
    "conv_7": (3, 48, 48),
    "conv_8": (3, 80, 32),  # the upsampled 48 channels beside the half-size 32
    "conv_9": (3, 48, 16),  # the upsampled 32 beside the full-size 16
    "heat": (1, 16, 1),
}


def centre_features(distance: np.ndarray, distance_threshold: float) -> np.ndarray:
    """The network's (H, W, 1) float32 input from the colour distance map and its Otsu threshold."""
    scaled = distance / max(distance_threshold, _MIN_CONTRAST)
    return np.clip(scaled, 0.0, _MAX_DISTANCE).astype(np.float32)[..., None]


def build_centre_net() -> Any:
    """A small U-Net (about 100k weights): two poolings, dilated convolutions at the bottom.

    Its receptive field (about 60 pixels) covers a red cell (20 pixels across at the working scale)
    and its neighbours, which telling one cell from two overlapping ones needs. The layers are named,
    so the weights' keys do not depend on how many models the process built before.
    """
    import keras
    import tensorflow as tf

    names = iter(f"conv_{index}" for index in range(1, 100))

    class DoubleSize(keras.layers.Layer):
        """Bilinear 2x upsampling, as `UpSampling2D(interpolation="bilinear")` computes it, but from the
        tensor's dynamic size: Keras's layer needs the size known when traced, so a compiled call
        would be traced again for every field size."""

        def call(self, inputs: Any) -> Any:
            return tf.image.resize(inputs, tf.shape(inputs)[1:3] * 2, method="bilinear")

        def compute_output_shape(self, input_shape: Any) -> Any:
            batch, height, width, channels = input_shape
            return (
                batch,
                None if height is None else 2 * height,
                None if width is None else 2 * width,
                channels,
            )

    def conv(tensor: Any, channels: int, dilation: int = 1) -> Any:
        return keras.layers.Conv2D(
            channels, 3, padding="same", activation="relu", dilation_rate=dilation, name=next(names)
        )(tensor)

    inputs = keras.Input((None, None, 1), name="colour_distance")
    full = conv(conv(inputs, 16), 16)
    half = conv(conv(keras.layers.MaxPooling2D(name="pool_1")(full), 32), 32)
    quarter = conv(conv(conv(keras.layers.MaxPooling2D(name="pool_2")(half), 48), 48, 2), 48, 2)
    up = DoubleSize(name="up_1")(quarter)
    up = conv(keras.layers.Concatenate(name="skip_1")([up, half]), 32)
    up = DoubleSize(name="up_2")(up)
    up = conv(keras.layers.Concatenate(name="skip_2")([up, full]), 16)
    # Starting near 0.1 keeps the focal loss from pushing every output to 0 in the first steps.
    heat = keras.layers.Conv2D(
        1, 1, activation="sigmoid", bias_initializer=keras.initializers.Constant(-2.19), name="heat"
    )(up)
    return keras.Model(inputs, heat, name="red_cell_centres")


def read_centre_info(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((folder / MODEL_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to parse
        raise ModelArtifactError(f"{folder.name}: {MODEL_JSON} is missing or not JSON ({exc}).") from exc
    if not isinstance(info, dict):
        raise ModelArtifactError(f"{folder.name}: {MODEL_JSON} is not a JSON object.")
    return info


def verified_info(folder: Path) -> tuple[dict[str, Any], Path]:
    """(model.json, weights path) of a network's folder, its weights' sha256 checked."""
    info = read_centre_info(folder)
    if not isinstance(info.get("weights"), dict):
        raise ModelArtifactError(f"{folder.name}: {MODEL_JSON} has no 'weights' entry.")
    return info, verify_weights(folder, info)


def convolution_arrays(convolutions: Mapping[str, tuple[int, int, int]]) -> dict[str, tuple[int, ...]]:
    """The weights' array names and shapes (as Keras stores them) of these named convolutions."""
    arrays: dict[str, tuple[int, ...]] = {}
    for name, (size, inputs, outputs) in convolutions.items():
        arrays[f"{name}/kernel"] = (size, size, inputs, outputs)
        arrays[f"{name}/bias"] = (outputs,)
    return arrays


def check_weight_arrays(folder: Path, weights_path: Path, expected: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse weights whose arrays are not exactly `expected` (names and shapes), without TensorFlow:
    what loading them would refuse, found before the first field is counted."""
    source = f"{folder.name}/{weights_path.name}"
    try:
        stored = np.load(weights_path, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):
            raise ModelArtifactError(f"{source} holds a single array, not an .npz of named arrays.")
        with stored:
            shapes = {name: tuple(stored[name].shape) for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelArtifactError(f"{source} is not a readable .npz: {exc}") from exc
    if shapes.keys() != expected.keys():
        missing = sorted(expected.keys() - shapes.keys())[:5] or "none"
        extra = sorted(shapes.keys() - expected.keys())[:5] or "none"
        raise ModelArtifactError(
            f"{source} does not fit this network (missing: {missing}; unexpected: {extra})."
        )
    for name, shape in expected.items():
        if shapes[name] != shape:
            raise ModelArtifactError(
                f"{source}: weight {name!r} has shape {shapes[name]}; the network expects {shape}."
            )


def check_centre_folder(folder: Path) -> None:
    """What loading a centre network's folder and counting with it would refuse, found without
    TensorFlow (for `manage.py check`): its model.json, its weights' sha256, their arrays, and a
    chosen peak_threshold."""
    info, weights_path = verified_info(folder)
    check_weight_arrays(folder, weights_path, convolution_arrays(CENTRE_CONVOLUTIONS))
    required_peak_threshold(folder, info)


def network_record(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Which network a count was made with: its name and its weights' sha256."""
    return {"name": str(info.get("name") or folder.name), "weights_sha256": str(info["weights"]["sha256"])}


def loaded_network(
    folder: Path, weights_path: Path, build: Callable[[], Any], output: int | None
) -> tuple[Any, Any]:
    """(network, compiled one-field call) of verified weights; `output` picks one of several outputs.

    The call is traced once for every field size."""
    import tensorflow as tf

    model = build()
    with np.load(weights_path) as stored:
        assign_weights(model, dict(stored), source=f"{folder.name}/{WEIGHTS_FILE}")

    def call(batch: Any) -> Any:
        outputs = model(batch, training=False)
        return outputs if output is None else outputs[output]

    spec = [tf.TensorSpec((1, None, None, 1), tf.float32)]
    return model, tf.function(call, input_signature=spec, autograph=False)


class CentreModel:
    """A loaded centre network; `heatmap` takes a field of any size."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.info, weights_path = verified_info(folder)
        self.peak_threshold = peak_threshold(folder, self.info)
        self.model, self._predict = loaded_network(folder, weights_path, build_centre_net, None)

    def heatmap(self, features: np.ndarray) -> np.ndarray:
        """(H, W) float32 centre heat map of one (H, W, 1) feature image."""
        return run_padded(self._predict, features)

    def record(self, threshold: float) -> dict[str, Any]:
        """For a segmentation's result: this network and the peak threshold it counted with."""
        return {**network_record(self.folder, self.info), "peak_threshold": threshold}


def run_padded(predict: Any, features: np.ndarray) -> np.ndarray:
    """(H, W) float32 output of a compiled one-map network on an (H, W, 1) image, mirrored out to a
    multiple of the networks' size step and cropped back."""
    height, width = features.shape[:2]
    pad = ((0, -height % _SIZE_STEP), (0, -width % _SIZE_STEP), (0, 0))
    padded = np.pad(features, pad, mode="reflect" if min(height, width) > _SIZE_STEP else "edge")
    return np.asarray(predict(padded[None]))[0, :height, :width, 0].astype(np.float32)


def peak_threshold(folder: Path, info: dict[str, Any]) -> float | None:
    """The network's chosen peak height (None before one was chosen); a bad value is refused."""
    value = info.get("peak_threshold")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < 1
        or math.isnan(value)
    ):
        raise ModelArtifactError(
            f"{folder.name}: peak_threshold must be a number between 0 and 1, not {value!r}."
        )
    return float(value)


def required_peak_threshold(folder: Path, info: dict[str, Any]) -> float:
    """`peak_threshold`, refused with a typed error while the network has none."""
    return required_choice(folder, "peak_threshold", peak_threshold(folder, info), "choose_centre_threshold")


def required_choice(folder: Path, key: str, value: float | None, command: str) -> float:
    """A network's value chosen on recounted fields (`key` in its model.json), refused with a typed
    error while none was chosen."""
    if value is None:
        raise ModelArtifactError(
            f"{folder.name}: {MODEL_JSON} has no {key}; choose one on recounted fields "
            f"with `manage.py {command}`."
        )
    return value


CENTRE_MODELS: NetworkCache[CentreModel] = NetworkCache(CentreModel)


def default_centre_model() -> CentreModel:
    """The centre network (the shipped one, or the folder `MARROWFIND_CENTRE_MODEL_DIR` names), loaded
    on first use and again when its folder changes (`network_cache`)."""
    return CENTRE_MODELS.get(Path(os.environ.get(CENTRE_MODEL_ENV) or CENTRE_MODEL_DIR))
