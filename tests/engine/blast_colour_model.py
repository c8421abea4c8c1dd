"""A tiny network that calls the generated fields of `test_evaluation.write_dataset` right and with
confidence, its weights set by hand, so that a trust state can be fitted on it as on a trained model.

A randomly initialised network is no better than chance on those fields, and the trust fit refuses it
(`TrustFitRefusedError`); a few dozen fields do not train the tiny network either. The classes of the
fields differ in one thing, the red of the blasts' stain (`smear_like`'s tint, 30 per class), so the
network reads that: its first convolution measures how far a pixel is from a blast's stain (blue well
above green, which nothing else in a field has) and ramps on red minus blue from each class's lower
bound; the second makes each pair of ramps one band of red minus blue per class, switched off away from
a blast; the third spreads each band over its neighbours, as a trained network's maps spread, so the
Grad-CAM is a patch rather than single pixels. Pooled, the bands are the class evidence. Red minus blue
is read because it keeps its value at any field size (CLAHE changes the lightness, which red alone
follows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Red minus blue (0-255 scale, after `prepare_for_model`) from which each class's blasts lie: measured on
# generated fields of 96x128 to 224x448 pixels, their medians are -30, 0, 30 and 60, each within 10 of it
# (5th to 95th percentile); the bounds lie halfway between them, the lowest 30 below the first.
CLASS_RED_MINUS_BLUE_FROM = (-60, -15, 15, 45)
RAMP = 4  # red minus blue above a class's bound at which its band reaches full strength
BLAST_BLUE_OVER_GREEN = 70  # a blast's blue is 78 or more above its green; no other pixel's over 60
GATE = 10.0  # how strongly a pixel that is not a blast's switches the bands off
FEATURE_GAIN = 1000.0  # pooled bands are about 5e-4 (blasts cover a few % of a field)
LOGIT_GAIN = 48.0  # so a field's own class leads by several logits, at any field size: confident
CLASSES = len(CLASS_RED_MINUS_BLUE_FROM)
R, G, B = 0, 1, 2  # input channels


def _centre(matrix: np.ndarray) -> np.ndarray:
    """A 3x3 convolution kernel that reads only the centre pixel: (in, out) -> (3, 3, in, out)."""
    kernel = np.zeros((3, 3, *matrix.shape), np.float32)
    kernel[1, 1] = matrix
    return kernel


def _first_convolution() -> tuple[np.ndarray, np.ndarray]:
    """8 units: how far blue is from a blast's lead over green, then per class a ramp on red minus blue
    from its bound and the same ramp `RAMP` later (their difference rises to `RAMP` and stays there);
    the top class needs no second."""
    kernel, bias = np.zeros((3, 8), np.float32), np.zeros(8, np.float32)
    kernel[[G, B], 0], bias[0] = (1.0, -1.0), BLAST_BLUE_OVER_GREEN / 255
    for c, start in enumerate(CLASS_RED_MINUS_BLUE_FROM):
        kernel[[R, B], 1 + 2 * c], bias[1 + 2 * c] = (1.0, -1.0), -start / 255
        if c < CLASSES - 1:
            kernel[[R, B], 2 + 2 * c], bias[2 + 2 * c] = (1.0, -1.0), -(start + RAMP) / 255
    return _centre(kernel), bias


def _second_convolution() -> tuple[np.ndarray, np.ndarray]:
    """Unit c: class c's band of red minus blue (its step up minus the next class's), off away from a
    blast."""
    steps = np.zeros((8, CLASSES), np.float32)
    for c in range(CLASSES):
        steps[1 + 2 * c, c] = 1.0
        if c < CLASSES - 1:
            steps[2 + 2 * c, c] = -1.0
    kernel = np.zeros((8, 16), np.float32)
    kernel[:, :CLASSES] = steps
    kernel[:, : CLASSES - 1] -= steps[:, 1:]
    kernel[0, :CLASSES] = -GATE
    return _centre(kernel), np.zeros(16, np.float32)


def _spreading() -> tuple[np.ndarray, np.ndarray]:
    """Each class unit averaged over its 3x3 neighbourhood."""
    kernel = np.zeros((3, 3, 16, 16), np.float32)
    kernel[:, :, range(CLASSES), range(CLASSES)] = 1.0 / 9
    return kernel, np.zeros(16, np.float32)


def _passing(gain: float, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """A 16-input layer passing the class units on, times `gain`."""
    kernel = np.zeros((16, outputs), np.float32)
    kernel[:CLASSES, :CLASSES] = gain * np.eye(CLASSES)
    return kernel, np.zeros(outputs, np.float32)


def blast_colour_artifact(folder: Path) -> Path:
    """The network saved as a model folder (no trust state yet)."""
    from inference.engine.artifact import save_artifact
    from inference.engine.classifier import ClassifierConfig, build_classifier

    config = ClassifierConfig(backbone="tiny_cnn", head_units=16)
    model = build_classifier(config)
    weights = {
        "tiny_conv0": _first_convolution(),
        "tiny_conv1": _second_convolution(),
        "tiny_conv2": _spreading(),
        "features": _passing(FEATURE_GAIN, 16),
        "logits": _passing(LOGIT_GAIN, CLASSES),
    }
    for name, (kernel, bias) in weights.items():
        model.get_layer(name).set_weights([kernel, bias])
    save_artifact(folder, model, info={"name": "tiny-blast-colour", "architecture": config.to_dict()})
    return folder
