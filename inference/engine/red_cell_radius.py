"""Learned red-cell size: the centre network's U-Net with a second head that gives each cell's size.

Every length the segmentation uses is a multiple of the red-cell radius, and the red-cell count is
very sensitive to it: at 0.92 of the estimated radius the CBC recount error rises by two points, and
a one-pixel change of the working image moves a field's count by up to four cells
(docs/counting.md). The estimate (`segmentation.estimate_cell_radius`) packs the foreground with discs,
and on dense or pale fields it is off by 10-15%. This network was trained to give, at each red cell's
centre, the log of the cell's half-size (the longer half-side of its Pascal VOC box), on the field at
the working scale. The segmentation's learned-radius mode (`SegmentationParams.learned_radius`) takes
a field's radius as `radius_factor` times the median half-size at the centre network's peaks.

The factor converts a box's half-size (boxes are drawn a little loose) into the radius the
segmentation's parameters were tuned for, and it is chosen per laboratory on fields counted by eye
(`manage.py choose_radius_factor`), stored in `model.json`. The head learned one laboratory's boxes:
on the ALL fields it sizes cells 16% larger than the estimate, so the mode is off by default and
turned on for a laboratory only after its own recount shows it helps there. TensorFlow is imported
only when a model is built.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelArtifactError
from .network_cache import NetworkCache
from .red_cell_centres import (
    CENTRE_CONVOLUTIONS,
    LAST_FEATURES,
    build_centre_net,
    check_weight_arrays,
    convolution_arrays,
    loaded_network,
    network_record,
    required_choice,
    run_padded,
    verified_info,
)

RADIUS_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "red-cell-radius-v1"
# A folder named here replaces the shipped network in every process that reads it (workers included).
RADIUS_MODEL_ENV = "MARROWFIND_RADIUS_MODEL_DIR"
# The radius factors a laboratory may choose; outside this the segmentation's parameters do not hold.
FACTOR_RANGE = (0.5, 1.5)
# The centre network's convolutions and the size head's (`build_radius_net`), as `CENTRE_CONVOLUTIONS`.
RADIUS_CONVOLUTIONS = {**CENTRE_CONVOLUTIONS, "radius_1": (3, 16, 16), "radius": (1, 16, 1)}


def build_radius_net(initial_size: float = 10.0) -> Any:
    """The centre network's U-Net with a size head: outputs (heat map, log half-size map).

    The head is two convolutions on the U-Net's last features; its bias starts at log(`initial_size`),
    the working scale's radius, so training starts from "every cell is of the estimated size".
    """
    import keras

    centres = build_centre_net()
    hidden = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="radius_1")(
        centres.get_layer(LAST_FEATURES).output
    )
    log_size = keras.layers.Conv2D(
        1, 1, bias_initializer=keras.initializers.Constant(math.log(initial_size)), name="radius"
    )(hidden)
    return keras.Model(centres.input, [centres.output, log_size], name="red_cell_radius")


def radius_factor(folder: Path, info: dict[str, Any]) -> float | None:
    """The laboratory's chosen radius factor (None before one was chosen); a bad value is refused."""
    value = info.get("radius_factor")
    if value is None:
        return None
    low, high = FACTOR_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ModelArtifactError(
            f"{folder.name}: radius_factor must be a number from {low} to {high}, not {value!r}."
        )
    return float(value)


def required_radius_factor(folder: Path, info: dict[str, Any]) -> float:
    """`radius_factor`, refused with a typed error while the network has none."""
    return required_choice(folder, "radius_factor", radius_factor(folder, info), "choose_radius_factor")


def check_radius_folder(folder: Path) -> None:
    """What loading a radius network's folder and sizing cells with it would refuse, found without
    TensorFlow (for `manage.py check`): its model.json, its weights' sha256, their arrays, and a
    chosen radius_factor."""
    info, weights_path = verified_info(folder)
    check_weight_arrays(folder, weights_path, convolution_arrays(RADIUS_CONVOLUTIONS))
    required_radius_factor(folder, info)


class RadiusModel:
    """A loaded radius network; `log_half_sizes` takes a field of any size at the working scale."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.info, weights_path = verified_info(folder)
        self.factor = radius_factor(folder, self.info)
        self.model, self._predict = loaded_network(folder, weights_path, build_radius_net, 1)

    def log_half_sizes(self, features: np.ndarray) -> np.ndarray:
        """(H, W) map of log half-sizes (working-scale pixels) of the cells centred at each pixel."""
        return run_padded(self._predict, features)

    def required_factor(self) -> float:
        """`radius_factor`, refused with a typed error while the network has none."""
        return required_radius_factor(self.folder, self.info)

    def record(self, factor: float) -> dict[str, Any]:
        """For a segmentation's result: this network and the radius factor it sized cells with."""
        return {**network_record(self.folder, self.info), "radius_factor": factor}


RADIUS_MODELS: NetworkCache[RadiusModel] = NetworkCache(RadiusModel)


def default_radius_model() -> RadiusModel:
    """The radius network (the shipped one, or the folder `MARROWFIND_RADIUS_MODEL_DIR` names), loaded
    on first use and again when its folder changes (`network_cache`)."""
    return RADIUS_MODELS.get(Path(os.environ.get(RADIUS_MODEL_ENV) or RADIUS_MODEL_DIR))
