"""Training of the red-cell radius network (`red_cell_radius`) and the choice of its radius factor.

The network learns the centres as the centre network does (`red_cell_training`: the same samples,
crops and focal loss) and, at the centre of every red-cell box not cut by the image border, the log
of the box's longer half-side at the working scale (L1 loss, weight 2; a cell partly hidden under a
neighbour keeps its longer side). Boxes cut by the border are left out: they show only part of the
cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .counting import parse_voc
from .red_cell_radius import RadiusModel, build_radius_net, default_radius_model
from .red_cell_training import (
    BATCH,
    CentreSample,
    _random_crop,
    _stacked,
    focal_loss,
    recount_errors,
    train_network,
)
from .segmentation import SegmentationParams, learned_radius_counts

RADIUS_ARCHITECTURE = (
    "U-Net, 2 poolings, 16-32-48 channels, sigmoid heat map and log half-size map (red_cell_radius.py)"
)
# The size loss's weight next to the focal loss (whose values are about 0.7 late in training).
_SIZE_LOSS_WEIGHT = 2.0
# A box this close to the image border (pixels) may be cut by it.
_BORDER_MARGIN = 2.0
# Each box's size is taught on a disc of this radius (working-scale pixels) around its centre: the
# centre network's peaks land within a pixel or two of it.
_SIZE_DISC = 2


@dataclass(frozen=True)
class RadiusSample:
    """A centre sample and its size target: the log half-size map and where it counts."""

    centres: CentreSample
    log_size: np.ndarray
    weight: np.ndarray


def radius_sample(sample: CentreSample, annotation: Path) -> RadiusSample:
    """The size target of one field from its Pascal VOC red-cell boxes."""
    voc = parse_voc(annotation)
    height, width = sample.features.shape[:2]
    log_size = np.zeros((height, width), dtype=np.float32)
    weight = np.zeros((height, width), dtype=np.float32)
    for box in voc.boxes:
        inside = min(box.xmin, box.ymin) > _BORDER_MARGIN and (
            box.xmax < voc.width - 1 - _BORDER_MARGIN and box.ymax < voc.height - 1 - _BORDER_MARGIN
        )
        if box.name != "RBC" or not inside:
            continue
        half = max(box.xmax - box.xmin, box.ymax - box.ymin) / 2 * sample.scale
        centre = (
            int((box.xmin + box.xmax) / 2 * sample.scale),
            int((box.ymin + box.ymax) / 2 * sample.scale),
        )
        cv2.circle(log_size, centre, _SIZE_DISC, float(math.log(max(half, 1.0))), -1)
        cv2.circle(weight, centre, _SIZE_DISC, 1.0, -1)
    return RadiusSample(sample, log_size, weight)


def size_loss(truth: Any, log_size: Any) -> Any:
    """Mean absolute error of the log half-size where the truth's weight is set."""
    import tensorflow as tf

    target, weight = truth[..., :1], truth[..., 1:]
    return tf.reduce_sum(weight * tf.abs(log_size - target)) / tf.maximum(tf.reduce_sum(weight), 1.0)


def train_radius_net(samples: list[RadiusSample], steps: int, seed: int = 0, progress: bool = True) -> Any:
    """Train from scratch as the centre network is (`train_network`), both heads."""
    import keras

    def compiled() -> Any:
        model = build_radius_net()
        model.compile(
            keras.optimizers.Adam(1e-3), [focal_loss, size_loss], loss_weights=[1.0, _SIZE_LOSS_WEIGHT]
        )
        return model

    def batch(rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        crops = [_crop(samples[rng.integers(len(samples))], rng) for _ in range(BATCH)]
        heat_truth = _stacked([truth for _, truth, _ in crops])
        return _stacked([crop for crop, _, _ in crops]), [
            heat_truth,
            _stacked([sizes for _, _, sizes in crops]),
        ]

    return train_network(compiled, batch, len(samples), steps, seed, progress)


def _crop(sample: RadiusSample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    features, truth, sizes = _random_crop(sample.centres, rng, (sample.log_size, sample.weight))
    assert sizes is not None  # sizes were given
    return features, truth, sizes


def factor_errors(
    data_dir: Path,
    recount: Mapping[str, int],
    factors: list[float],
    params: SegmentationParams | None = None,
    progress: bool = True,
    model: RadiusModel | None = None,
) -> dict[float, float]:
    """RBC mean absolute percentage error of the learned-radius count (`segment_cells`, with `model` or
    the segmentation's own radius network) against the recounted fields of a folder (`Images/NAME`),
    at each radius factor."""
    radius_model = model or default_radius_model()
    return recount_errors(
        data_dir, recount, lambda rgb: learned_radius_counts(rgb, radius_model, factors, params), progress
    )
