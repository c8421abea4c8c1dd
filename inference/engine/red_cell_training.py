"""Training of the red-cell centre network (`red_cell_centres`) on Pascal VOC red-cell boxes.

The CBC boxes mark about half the red cells of a field (docs/counting.md), so a cell without a box is
not a negative: the loss ignores the cell mask outside every box. It learns from the boxed cells (a
peak at the centre, nothing elsewhere in the box), the white cells and platelets (their boxes hold
no red-cell centre) and the glass. The loss is the penalty-reduced focal loss of CenterNet (Zhou et
al. 2019, "Objects as Points"), on 80-pixel crops at the working scale, with flips, quarter turns, a
0.8-1.25 zoom (the radius estimate's spread) and a 0.7-1.4 gain (paler and stronger stains).

Fields whose every red cell has a marked centre (`docs/data/cbc-red-cell-centres.csv`, read by
`load_marked_centres`) are fully supervised instead: a peak at each marked centre, and every other
pixel a negative, so the network also learns the cells the boxes leave out (clumps, pale cells).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from .artifact import new_artifact_folder, save_weights, write_model_json
from .counting import find_pairs, parse_voc
from .datasets import naming_the_file, read_image_file
from .errors import DatasetError, EngineError, ImageError
from .imageio import probe_image
from .mask_ops import disk
from .red_cell_centres import WEIGHTS_FILE, CentreModel, build_centre_net, read_centre_info
from .segmentation import WORK_RADIUS_PX, centre_input, red_cell_counts

CROP = 80
BATCH = 16
# A boxed cell's target is a Gaussian of this fraction of its half-size (about 2.5 pixels).
_TARGET_SIGMA = 0.25
# The unboxed cell mask is widened by this many pixels before it is ignored (its blurred rim).
_IGNORE_MARGIN = 2


@dataclass(frozen=True)
class CentreSample:
    """One field at the working scale: network input, target heat map and per-pixel loss weight; `scale`
    is the factor the field was resized by."""

    name: str
    features: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    scale: float


Box = tuple[str, float, float, float, float]
Point = tuple[float, float]


def _gaussian(shape: tuple[int, int], row: int, col: int, sigma: float) -> np.ndarray:
    rows, cols = np.ogrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((cols - col) ** 2 + (rows - row) ** 2) / (2 * sigma * sigma))


def marked_sample(rgb: np.ndarray, centres: list[Point], name: str) -> CentreSample:
    """Input, target and weight of a field whose every red cell is marked ((x, y) in its pixels)."""
    features, scale, _ = centre_input(rgb)
    height, width = features.shape[:2]
    target = np.zeros((height, width), dtype=np.float32)
    # The cell radius is WORK_RADIUS_PX at this scale; a box's half-size is about that radius.
    sigma = max(1.5, _TARGET_SIGMA * WORK_RADIUS_PX)
    for x, y in centres:
        row, col = min(height - 1, int(y * scale)), min(width - 1, int(x * scale))
        target = np.maximum(target, _gaussian((height, width), row, col, sigma))
    return CentreSample(name, features, target, np.ones((height, width), dtype=np.float32), scale)


def centre_sample(rgb: np.ndarray, boxes: list[Box], name: str) -> CentreSample:
    """Input, target and weight of one field; `boxes` are (kind, xmin, ymin, xmax, ymax) in its pixels."""
    features, scale, cells = centre_input(rgb)
    height, width = features.shape[:2]
    target = np.zeros((height, width), dtype=np.float32)
    boxed = np.zeros((height, width), dtype=bool)
    for kind, xmin, ymin, xmax, ymax in boxes:
        x0, y0, x1, y1 = xmin * scale, ymin * scale, xmax * scale, ymax * scale
        boxed[int(y0) : math.ceil(y1) + 1, int(x0) : math.ceil(x1) + 1] = True
        if kind != "RBC":
            continue
        row, col = min(height - 1, int((y0 + y1) / 2)), min(width - 1, int((x0 + x1) / 2))
        sigma = max(1.5, _TARGET_SIGMA * ((x1 - x0) + (y1 - y0)) / 4)
        target = np.maximum(target, _gaussian((height, width), row, col, sigma))
    unboxed = (cells & ~boxed).astype(np.uint8)
    ignore = cv2.dilate(unboxed, disk(_IGNORE_MARGIN)).astype(bool) & ~boxed
    return CentreSample(name, features, target.astype(np.float32), (~ignore).astype(np.float32), scale)


def load_marked_centres(path: Path, images: Mapping[str, Path] | None = None) -> dict[str, list[Point]]:
    """Marked red-cell centres from a CSV with columns image, x, y (one row per cell). With `images`
    (file name -> image file), a mark outside its image is refused (the image's size is read from
    its header); marks of images not in it are left for the caller to refuse."""
    centres: dict[str, list[Point]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    point = (float(row["x"]), float(row["y"]))
                    image = row["image"].strip()
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise EngineError(f"{path.name}, line {line}: needs image, x and y ({exc}).") from exc
                if not image or min(point) < 0 or not all(map(math.isfinite, point)):
                    raise EngineError(f"{path.name}, line {line}: needs an image name and x, y >= 0.")
                if images is not None and image in images:
                    if image not in sizes:
                        sizes[image] = _image_size(images[image])
                    width, height = sizes[image]
                    if point[0] > width or point[1] > height:
                        raise EngineError(
                            f"{path.name}, line {line}: the mark ({point[0]:g}, {point[1]:g}) is outside "
                            f"{image}, which is {width} x {height} pixels (x across, y down)."
                        )
                centres.setdefault(image, []).append(point)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EngineError(f"{path.name}: cannot be read as CSV ({exc}).") from exc
    return centres


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as read (upright), from its header."""
    try:
        info = probe_image(path.read_bytes())
    except ImageError as exc:
        raise naming_the_file(exc, path) from exc
    except OSError as exc:
        raise DatasetError(f"Image {str(path)!r} cannot be read ({exc}).") from exc
    return info.width, info.height


def load_centre_samples(
    data_dir: Path,
    exclude: Collection[str] = (),
    progress: bool = True,
    marked: Mapping[str, list[Point]] | None = None,
) -> list[CentreSample]:
    """Samples of every field of a VOC folder except those named in `exclude` (held for evaluation);
    a field in `marked` learns from its marked centres instead of its boxes."""
    marked = marked or {}
    samples = []
    pairs = [(image, xml) for image, xml in find_pairs(data_dir) if image.name not in exclude]
    for image_path, xml_path in tqdm(pairs, desc="preparing", unit="image", disable=not progress):
        rgb = read_image_file(image_path)
        if image_path.name in marked:
            samples.append(marked_sample(rgb, marked[image_path.name], image_path.name))
            continue
        boxes = [(b.name, b.xmin, b.ymin, b.xmax, b.ymax) for b in parse_voc(xml_path).boxes]
        samples.append(centre_sample(rgb, boxes, image_path.name))
    return samples


def _random_crop(
    sample: CentreSample, rng: np.random.Generator, sizes: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A zoomed, gained, turned and maybe flipped crop: (features (C, C, 1), truth (C, C, 2), and with
    `sizes` (a log half-size map and its weight) their crop (C, C, 2), the log sizes following the zoom)."""
    zoom = rng.uniform(0.8, 1.25)
    height, width = sample.features.shape[:2]
    size = (max(CROP, round(width * zoom)), max(CROP, round(height * zoom)))
    size_truth = None
    if sizes is not None:
        log_size, size_weight = (cv2.resize(part, size, interpolation=cv2.INTER_NEAREST) for part in sizes)
        size_truth = np.stack([log_size + math.log(size[0] / width), size_weight], axis=-1)
    features = cv2.resize(sample.features, size, interpolation=cv2.INTER_LINEAR)
    target = cv2.resize(sample.target, size, interpolation=cv2.INTER_LINEAR)
    # Resizing moves each Gaussian's top off the pixel grid, under the loss's mark for a centre (0.99),
    # which would leave most cells without a positive pixel: the top pixel is set back to 1.
    peak = (target >= cv2.dilate(target, np.ones((3, 3), np.uint8))) & (target > 0.5)
    target[peak] = 1.0
    weight = cv2.resize(sample.weight, size, interpolation=cv2.INTER_NEAREST)
    top = rng.integers(0, size[1] - CROP + 1)
    left = rng.integers(0, size[0] - CROP + 1)
    window = (slice(top, top + CROP), slice(left, left + CROP))
    crop = features[window][..., None] * np.float32(rng.uniform(0.7, 1.4))
    truth = np.stack([target[window], weight[window]], axis=-1)
    turns, flip = int(rng.integers(4)), rng.random() < 0.5

    def turned(part: np.ndarray) -> np.ndarray:
        part = np.rot90(part, turns)
        return part[:, ::-1] if flip else part

    return turned(crop), turned(truth), None if size_truth is None else turned(size_truth[window])


def focal_loss(truth: Any, heat: Any) -> Any:
    """CenterNet's penalty-reduced focal loss, weighted per pixel; truth holds (target, weight)."""
    import tensorflow as tf

    target, weight = truth[..., :1], truth[..., 1:]
    heat = tf.clip_by_value(heat, 1e-4, 1.0 - 1e-4)
    centre = tf.cast(target > 0.99, tf.float32)
    at_centre = centre * tf.square(1.0 - heat) * tf.math.log(heat)
    elsewhere = (1.0 - centre) * tf.pow(1.0 - target, 4) * tf.square(heat) * tf.math.log(1.0 - heat)
    return -tf.reduce_sum(weight * (at_centre + elsewhere)) / tf.maximum(tf.reduce_sum(centre * weight), 1.0)


def train_centre_net(samples: list[CentreSample], steps: int, seed: int = 0, progress: bool = True) -> Any:
    """Train the network from scratch (`train_network`)."""
    import keras

    def compiled() -> Any:
        model = build_centre_net()
        model.compile(keras.optimizers.Adam(1e-3), focal_loss)
        return model

    def batch(rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        crops = [_random_crop(samples[rng.integers(len(samples))], rng) for _ in range(BATCH)]
        return _stacked([crop for crop, _, _ in crops]), _stacked([truth for _, truth, _ in crops])

    return train_network(compiled, batch, len(samples), steps, seed, progress)


def train_network(
    compiled: Callable[[], Any],
    batch: Callable[[np.random.Generator], tuple[np.ndarray, Any]],
    n_samples: int,
    steps: int,
    seed: int,
    progress: bool,
) -> Any:
    """Train a network from scratch on batches of random crops: Adam 1e-3 (`compiled` builds and
    compiles it once the seeds are set), lowered to 5e-4 for the last 30% of the steps."""
    import keras

    if not n_samples:
        raise ValueError("No training fields.")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = compiled()
    bar = tqdm(range(steps), desc="training", unit="step", disable=not progress)
    for step in bar:
        if step == int(0.7 * steps):
            model.optimizer.learning_rate.assign(5e-4)
        features, truth = batch(rng)
        # The total loss: a number for one output, the first of a list for several.
        loss = float(np.ravel(model.train_on_batch(features, truth))[0])
        bar.set_postfix(loss=f"{loss:.3f}")
    return model


def _stacked(parts: list[np.ndarray]) -> np.ndarray:
    return np.stack(parts).astype(np.float32)


CENTRE_ARCHITECTURE = "U-Net, 2 poolings, 16-32-48 channels, sigmoid heat map (red_cell_centres.py)"


def write_centre_artifact(
    model: Any, out: Path, provenance: dict[str, Any], architecture: str = CENTRE_ARCHITECTURE
) -> Path:
    """Write `weights.npz` and `model.json` (with the weights' sha256) into `out`; returns `out`.

    `out` must not exist or be empty: it is written in a temporary sibling and renamed into place."""
    with new_artifact_folder(out) as partial:
        info = {
            "name": out.name,
            "architecture": architecture,
            "input": "field at red-cell radius 10 px; one channel: colour distance from the glass / Otsu",
            "weights": {
                "file": WEIGHTS_FILE,
                "sha256": save_weights(model, partial / WEIGHTS_FILE),
                "parameters": int(model.count_params()),
            },
            "training_command": "python " + " ".join(sys.argv),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **provenance,
        }
        write_model_json(partial, info)
    return out


def threshold_errors(
    model: CentreModel,
    data_dir: Path,
    recount: Mapping[str, int],
    thresholds: list[float],
    progress: bool = True,
) -> dict[float, float]:
    """RBC mean absolute percentage error of the fused count (`segment_cells` with `model`) against
    the recounted fields of a folder (`Images/NAME`), at each peak threshold."""
    return recount_errors(data_dir, recount, lambda rgb: red_cell_counts(rgb, model, thresholds), progress)


def recount_errors(
    data_dir: Path,
    recount: Mapping[str, int],
    counts: Callable[[np.ndarray], dict[float, int]],
    progress: bool = True,
) -> dict[float, float]:
    """RBC mean absolute percentage error, per candidate value, of `counts` (a field's red-cell count
    at each value) against the recounted fields of a folder (`Images/NAME`)."""
    fields = {name: count for name, count in recount.items() if count > 0}
    if not fields:
        raise DatasetError("The recount has no field with a red cell to score against.")
    missing = sorted(name for name in fields if not (data_dir / "Images" / name).is_file())
    if missing:
        raise DatasetError(f"{data_dir.name}/Images has no {', '.join(missing[:5])}.")
    errors: dict[float, float] = {}
    for name, true in tqdm(sorted(fields.items()), desc="fields", unit="field", disable=not progress):
        for value, count in counts(read_image_file(data_dir / "Images" / name)).items():
            errors[value] = errors.get(value, 0.0) + abs(count - true) / true
    return {value: round(100 * total / len(fields), 2) for value, total in errors.items()}


def record_choice(folder: Path, key: str, value: float, choice: dict[str, Any]) -> None:
    """Store a value chosen on recounted fields (`peak_threshold`, `radius_factor`), and how it was
    chosen (under `KEY_choice`), in the artifact's model.json."""
    # Written atomically: an interrupted write leaves the old model.json whole.
    write_model_json(folder, {**read_centre_info(folder), key: value, f"{key}_choice": choice})
