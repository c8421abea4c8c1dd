"""A colour check that does not depend on the network: is this field stained and lit like the
training laboratory's?

A network trained with colour augmentation learns to look past colour, so its own features say
little about a foreign stain: with the ResNet50 trained from scratch, Mahalanobis on its penultimate
features flagged 27 % of another laboratory's fields (BCCD/CBC) and 35 % of val rotated by 180° in
hue. Ten numbers describing the field's colour after CLAHE (Lab mean and spread, and the 10th and
90th percentiles of a and b), under the same Mahalanobis model, flagged 100 % of the CBC fields and
99 % of val at +90° while flagging 1 % of val itself (measured 2026-11-26 on all4).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DESCRIPTOR_SIZE = 10
# The descriptor has 10 correlated numbers; 4 principal directions hold nearly all their spread.
STAIN_COMPONENTS = 4
_PERCENTILES = (0.10, 0.90)


def _percentiles(channel: np.ndarray) -> list[float]:
    """Percentiles of a uint8 channel from its histogram (a 256-bin count, not a sort)."""
    counts = np.bincount(channel.ravel(), minlength=256).cumsum()
    total = counts[-1]
    return [float(np.searchsorted(counts, q * total)) for q in _PERCENTILES]


def colour_descriptor(prepared: np.ndarray) -> np.ndarray:
    """(10,) float32 for one model-ready RGB uint8 image (CLAHE applied, as `prepare_for_model`)."""
    lab = cv2.cvtColor(np.ascontiguousarray(prepared), cv2.COLOR_RGB2LAB)
    mean, std = cv2.meanStdDev(lab)
    return np.array(
        [*mean.ravel(), *std.ravel(), *_percentiles(lab[:, :, 1]), *_percentiles(lab[:, :, 2])],
        dtype=np.float32,
    )


def colour_descriptors(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """(N, 10) descriptors of a batch of model-ready images."""
    if len(images) == 0:
        return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    return np.stack([colour_descriptor(image) for image in images])
