"""An acquisition check that does not depend on the network: is this field as sharp and as clean as the
training laboratory's pictures?

A field out of focus or taken with a noisy sensor keeps its stain, so the stain check passes it, and
the network can still be confident. On all4 val blurred with a Gaussian of 3 pixels the ResNet50
accepted 417 fields and was wrong on 17; with noise of 16 grey levels it accepted 260 and was wrong on
23 (`evaluate_classifier --perturb blur=3|noise=16`, 2026-11-26). Three numbers describe how sharp and
how noisy the model's input is, and a Mahalanobis model of them on the training fields (as for the
colours, `stain.py`) refers the fields that lie outside: all of those wrong calls were then referred.

- The energy of the Laplacian (the finest detail) and of the gradient (edges), as logarithms: both
  fall as the focus goes, and the Laplacian's rises with noise.
- The sensor noise by Immerkaer's estimate (Immerkaer 1996, "Fast noise variance estimation",
  Computer Vision and Image Understanding 64(2):300-302): the mean absolute response to a mask that
  cancels edges and smooth shading, as a logarithm.

They are read on the model's own input (CLAHE applied, 224x224) brought to half its size, so a field is
judged near the scale the network sees it, but not by our own resampling: a field resized by a
factor near 1 (to the model's input, or a view to the training scale) loses as much of its finest
detail to the bilinear interpolation as to a blur of a pixel. Read at full size the check referred
92 % of val resized to 0.8 and back, and 34 % of val mirrored 2x2 (classified in views); at half size
3.1 % and 6.6 %, while it still referred every blurred and noisy field the network had been wrong on
(docs/engine.md, "Out of focus, noisy, compressed").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

DESCRIPTOR_SIZE = 3
# Second differences along both axes: zero on a plane and on a straight edge, so what is left is noise.
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
# A flat field (no detail, no noise) would give log(0).
_FLOOR = 1e-6
# The descriptor's image is the model input at this fraction of its size (see above).
_READ_SCALE = 0.5


def acquisition_descriptor(prepared: np.ndarray) -> np.ndarray:
    """(3,) float32 for one model-ready RGB uint8 image: log Laplacian energy, log gradient energy, log
    noise standard deviation (grey levels), read at `_READ_SCALE` of its size (where white noise is
    half as strong: each pixel is the mean of four)."""
    grey = cv2.cvtColor(np.ascontiguousarray(prepared), cv2.COLOR_RGB2GRAY)
    size = (max(8, round(grey.shape[1] * _READ_SCALE)), max(8, round(grey.shape[0] * _READ_SCALE)))
    grey = cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    response = cv2.filter2D(grey, -1, _NOISE_MASK)[1:-1, 1:-1]
    noise = math.sqrt(math.pi / 2.0) * float(np.abs(response).mean()) / 6.0
    return np.array(
        [
            math.log(float(np.mean(laplacian * laplacian)) + _FLOOR),
            math.log(float(np.mean(gx * gx + gy * gy)) + _FLOOR),
            math.log(noise + _FLOOR),
        ],
        dtype=np.float32,
    )


def acquisition_descriptors(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(N, 3) descriptors of a batch of model-ready images."""
    if len(images) == 0:
        return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    return np.stack([acquisition_descriptor(image) for image in images])
