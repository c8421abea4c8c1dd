"""Turn weights trained in PyTorch (`tools/torch_resnet50.py`) into Keras variables, by layer name.

The GPU machines lent for training have PyTorch and no TensorFlow, so the ResNet50 is trained
there as a layer-for-layer copy of the Keras graph and its `state_dict` comes back as NumPy
arrays named `layer.<keras layer>.<parameter>`. Only NumPy here: no PyTorch needed to import.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import ModelArtifactError

PREFIX = "layer."
# PyTorch parameter or buffer -> Keras variable, for convolutions / dense layers and BatchNorm.
_DENSE_OR_CONV = {"weight": "kernel", "bias": "bias"}
_BATCHNORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
_IGNORED = ("num_batches_tracked",)


def _keras_kernel(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
        return np.transpose(array, (2, 3, 1, 0))
    if array.ndim == 2:  # (out, in) -> (in, out)
        return array.T
    raise ModelArtifactError(f"A kernel of {array.ndim} dimensions cannot be converted.")


def keras_arrays_from_torch(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras variable path -> array (`conv1_conv/kernel`, `conv1_bn/moving_mean`, `logits/bias`...)."""
    converted: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not key.startswith(PREFIX):
            continue  # buffers outside the layers (e.g. the preprocessing means) are not weights
        layer, _, parameter = key[len(PREFIX) :].rpartition(".")
        if parameter in _IGNORED:
            continue
        table = _BATCHNORM if layer.endswith("_bn") else _DENSE_OR_CONV
        if parameter not in table:
            raise ModelArtifactError(f"Unexpected PyTorch parameter {key!r}.")
        array = np.asarray(value)
        converted[f"{layer}/{table[parameter]}"] = (
            _keras_kernel(array) if table[parameter] == "kernel" else array
        )
    return converted
