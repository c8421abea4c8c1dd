"""One smear image end to end: the analysis a worker stores for a slide image.

    read + preprocess -> classify + Grad-CAM -> segmentation + morphometrics
    -> per-cell classification -> trust -> overlays

Stages and their costs (see `bench/pipeline.py`):

- classification and Grad-CAM are one compiled pass (`Predictor.predict`);
- every nucleated cell's crop is classified in one batched pass, and the whole field's penultimate
  features (for the out-of-distribution score) ride in that same batch as its first row, so an image
  costs two forward passes whatever its number of cells;
- segmentation is the marker-controlled watershed of `segmentation.py`; on a field small enough to
  be classified whole whatever its red-cell radius (every all4 field), it runs in a second thread
  while the network classifies, since the two share the two cores better than they take turns.

A flagged image (low calibrated confidence, or unlike the training data) is presented as "Refer to
pathologist", never as a confident class. Per-cell calls give the AI blast count: cells called any
of the three ALL classes. Everything here is an AI suggestion, labelled as such in `to_dict`.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import find_objects

from .artifact import model_json_sha256
from .calibration import softmax
from .classes import CLASS_CODES, CLASS_LABELS
from .count_cautions import CAUTION_ACQUISITION
from .errors import NotAnImageError, UnsupportedImageError
from .field_views import View, field_views, pooled_assessment, view_inputs, whole_at_any_radius
from .imageio import read_image
from .laboratory import laboratory_params
from .preprocess import prepare_for_model
from .red_cell_centres import default_centre_model
from .red_cell_radius import default_radius_model
from .referral import REASON_TEXTS, REASON_TRUST_NOT_FITTED
from .segmentation import SegmentationParams, SegmentationResult, segment_cells
from .trust import REASON_ACQUISITION, Assessment, TrustModel, load_trust

BENIGN_CODE = "benign"
BLAST_CODES: tuple[str, ...] = tuple(code for code in CLASS_CODES if code != BENIGN_CODE)
REFER_LABEL = "Refer to pathologist"
CROP_SIZE = 224
# Context around each cell, as a fraction of its box on each side: the crop is then about five cell
# widths, close to the magnification the classifier was trained at (whole 224x224 fields). Measured
# on all4/val (100 images): margin 0.25 gave 28 % cell/image agreement and 39 % blast/non-blast
# agreement; 2.0 gave 59 % and 81 %.
CELL_CROP_MARGIN = 2.0
# "crops": each cell's crop through the whole network, batched. "roi": one pass for the field's last
# convolutional maps, each cell's region averaged and put through the head (the classifier's own
# global-average-pool head, restricted to the cell). With the shipped model on all of all4/val
# (3,945 cells), "roi" calls agree with the image label for 93.9 % of cells (96.5 % blast/non-blast),
# "crops" for 71.2 % (86.0 %), and "roi" costs a fifth as much: it is the default. Neither has been
# checked against cell-level ground truth, which this data set does not have.
CELL_METHODS = ("crops", "roi")
DEFAULT_CELL_METHOD = "roi"
STAGES = (
    "read_preprocess",
    "classify_gradcam",
    "segmentation_morphometrics",
    "per_cell_classification",
    "overlays",
)
END_TO_END = "end_to_end"


@dataclass(frozen=True)
class ImageCall:
    """The image-level AI suggestion with its trust verdict."""

    assessment: Assessment

    @property
    def predicted(self) -> str:
        return self.assessment.predicted_code

    @property
    def flagged(self) -> bool:
        return self.assessment.flagged

    @property
    def display_label(self) -> str:
        return REFER_LABEL if self.flagged else CLASS_LABELS[self.predicted]

    def to_dict(self) -> dict[str, Any]:
        reasons = self.assessment.reasons
        return {
            **self.assessment.to_dict(),
            "display_label": self.display_label,
            "reason_texts": [REASON_TEXTS.get(reason, reason) for reason in reasons],
        }


@dataclass(frozen=True)
class CellCall:
    """One nucleated cell's crop classified; `cell_id` is its id in the segmentation labels. A cell
    whose model output is not finite (a diverged network) has no call: `predicted`, `confidence` and
    `probabilities` are None, and it counts neither as a blast nor among the cells called."""

    cell_id: int
    predicted: str | None
    confidence: float | None
    probabilities: tuple[float, ...] | None

    @property
    def is_blast(self) -> bool:
        return self.predicted in BLAST_CODES

    def to_dict(self) -> dict[str, Any]:
        probabilities = self.probabilities
        return {
            "cell_id": self.cell_id,
            "predicted": self.predicted,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "probabilities": None
            if probabilities is None
            else dict(zip(CLASS_CODES, (round(p, 6) for p in probabilities), strict=True)),
            "is_blast": self.is_blast,
        }


@dataclass
class PipelineResult:
    """Everything one analysis produces. Arrays stay out of `to_dict` (store them as images)."""

    image_shape: tuple[int, int]
    classification: ImageCall
    gradcam_heatmap: np.ndarray  # float32 (H, W) 0..1 at the original image size
    gradcam_overlay: np.ndarray  # uint8 RGB (H, W, 3)
    segmentation: SegmentationResult
    segmentation_overlay: np.ndarray  # uint8 RGB (H, W, 3)
    cells: list[CellCall]
    model: dict[str, Any]
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The stain correction the cells were found under (none: 0 degrees, gain 1), for the record.
    stain_correction: dict[str, float] = field(default_factory=lambda: {"hue_shift": 0.0, "chroma_gain": 1.0})
    # The red-cell radii (pixels) the field's estimate was kept within (a scale calibration), or None.
    scale_range_px: tuple[float, float] | None = None

    @property
    def gradcam_empty(self) -> bool:
        """The Grad-CAM heatmap is all zero: no region of the field is positive evidence for the
        class it explains, and its overlay is plain blue. A UI should say so ("no region stood
        out"), not show the overlay as if it located anything."""
        return not bool(np.any(self.gradcam_heatmap > 0.0))

    @property
    def blast_count(self) -> int:
        return sum(cell.is_blast for cell in self.cells)

    @property
    def cells_called(self) -> int:
        return sum(cell.predicted is not None for cell in self.cells)

    @property
    def blast_percentage(self) -> float | None:
        """Blasts among the nucleated cells called (percent); None when none was."""
        called = self.cells_called
        return 100.0 * self.blast_count / called if called else None

    def to_dict(self) -> dict[str, Any]:
        pct = self.blast_percentage
        return {
            "ai_generated": True,
            "notice": "AI decision support; not a diagnosis. A pathologist must review every result.",
            "image_height": self.image_shape[0],
            "image_width": self.image_shape[1],
            "classification": self.classification.to_dict(),
            "gradcam_empty": self.gradcam_empty,
            "segmentation": self.segmentation.to_dict(),
            "cells": [cell.to_dict() for cell in self.cells],
            "ai_cells_called": self.cells_called,
            "ai_blast_count": self.blast_count,
            "ai_blast_percentage": None if pct is None else round(pct, 2),
            "model": self.model,
            "stain_correction": self.stain_correction,
            "scale_range_px": None
            if self.scale_range_px is None
            else [round(bound, 3) for bound in self.scale_range_px],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


class _Timer:
    """Milliseconds per stage; stages may overlap (the segmentation runs beside the classification),
    so `END_TO_END` is the wall time of the whole run, not their sum."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)


class Pipeline:
    """A loaded model plus segmentation settings; `run` analyses one image. Thread-safe."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        segmentation_params: SegmentationParams | None = None,
        prepare_crops: bool = True,
        crop_margin: float = CELL_CROP_MARGIN,
        cell_method: str = DEFAULT_CELL_METHOD,
    ) -> None:
        from .predictor import get_predictor

        self.model_dir = Path(model_dir)
        self.predictor = get_predictor(self.model_dir)
        self.trust: TrustModel | None = load_trust(self.predictor.info.get("trust"), self.model_dir)
        # Without explicit settings: the defaults, under the laboratory's stain and scale calibrations
        # where it has them.
        self.segmentation_params = segmentation_params or laboratory_params()
        # Crops get the model's CLAHE like whole fields do; off only to measure its effect.
        self.prepare_crops = prepare_crops
        self.crop_margin = crop_margin
        if cell_method not in CELL_METHODS:
            raise ValueError(f"cell_method must be one of {', '.join(CELL_METHODS)}, not {cell_method!r}.")
        self.cell_method = cell_method
        self._roi: Any = None
        # Segmentations run here beside the calling thread's classification (two: concurrent `run`s).
        self._segmenter = ThreadPoolExecutor(max_workers=2, thread_name_prefix="marrowfind-segmentation")
        info = self.predictor.info
        # What a stored result needs to name the model it was made with: the weights, and the
        # model.json read with them (trust thresholds edited in place change the calls, not the weights).
        self.model_facts = {
            "name": info.get("name"),
            "backbone": info.get("architecture", {}).get("backbone"),
            "weights_sha256": info.get("weights", {}).get("sha256"),
            "model_json_sha256": model_json_sha256(info),
            "trust_fitted": self.trust is not None,
        }

    def warm_up(self) -> None:
        """Load and trace the compiled functions once (first calls are slow) on a blank field."""
        blank = np.full((CROP_SIZE, CROP_SIZE, 3), 230, np.uint8)
        self.predictor.predict(blank, prepared=True)
        self.predictor.features_and_logits(np.stack([blank, blank]))
        if self.segmentation_params.use_centre_network or self.segmentation_params.learned_radius:
            default_centre_model().heatmap(np.zeros((CROP_SIZE, CROP_SIZE, 1), np.float32))
        if self.segmentation_params.learned_radius:
            default_radius_model().log_half_sizes(np.zeros((CROP_SIZE, CROP_SIZE, 1), np.float32))

    def _assess_image(self, logits: np.ndarray, features: np.ndarray, prepared: np.ndarray) -> Assessment:
        if self.trust is not None:
            colours, acquisition = self.trust.image_checks(prepared[None])
            return self.trust.assess(logits[None], features[None], colours, acquisition)[0]
        # Without a fitted trust state nothing can vouch for the image: always refer.
        probs = softmax(logits[None], self.predictor.temperature)[0]
        index = int(probs.argmax())
        return Assessment(
            probabilities=tuple(float(p) for p in probs),
            predicted_index=index,
            confidence=float(probs[index]),
            ood_score=float("nan"),
            flagged=True,
            reasons=(REASON_TRUST_NOT_FITTED,),
        )

    def crops(self, rgb: np.ndarray, segmentation: SegmentationResult) -> np.ndarray:
        """Model-ready crops (N, 224, 224, 3) uint8 of every nucleated cell, in cell-id order."""
        from .crops import nucleated_cell_crops

        crops = nucleated_cell_crops(rgb, segmentation, size=CROP_SIZE, margin=self.crop_margin)
        if self.prepare_crops and len(crops):
            crops = np.stack([prepare_for_model(crop, CROP_SIZE) for crop in crops])
        return crops

    def run(self, source: str | Path | bytes | np.ndarray) -> PipelineResult:
        """Analyse one image: a path, its bytes, or an RGB uint8 (H, W, 3) array (others are refused)."""
        start = time.perf_counter()
        with _single_threaded_blas():
            result = self._run(source)
        result.timings_ms[END_TO_END] = (time.perf_counter() - start) * 1000.0
        return result

    def _segment(self, rgb: np.ndarray) -> tuple[SegmentationResult, float]:
        start = time.perf_counter()
        return segment_cells(rgb, self.segmentation_params), time.perf_counter() - start

    def _classify_whole(self, rgb: np.ndarray, timer: _Timer) -> tuple[np.ndarray, Any]:
        with timer.stage("read_preprocess"):
            prepared = prepare_for_model(rgb, self.predictor.input_size)
        with timer.stage("classify_gradcam"):
            prediction = self.predictor.predict(prepared, prepared=True, gradcam=True)
        return prepared, prediction

    def _run(self, source: str | Path | bytes | np.ndarray) -> PipelineResult:
        from .gradcam import overlay_heatmap, resize_heatmap
        from .overlays import segmentation_overlay

        timer = _Timer()
        with timer.stage("read_preprocess"):
            rgb = _checked_array(source) if isinstance(source, np.ndarray) else read_image(source)
        whole = None
        if whole_at_any_radius(rgb.shape, self.predictor.input_size):
            segmenting = self._segmenter.submit(self._segment, rgb)
            whole = self._classify_whole(rgb, timer)
            segmentation, seconds = segmenting.result()
            timer.add("segmentation_morphometrics", seconds)
        else:
            with timer.stage("segmentation_morphometrics"):
                segmentation = segment_cells(rgb, self.segmentation_params)
        height, width = rgb.shape[:2]
        # Otherwise the segmentation's radius decides whether the field is classified whole or in
        # views, so the model's input is prepared after it.
        views = field_views(rgb.shape, segmentation.cell_radius_px, self.predictor.input_size)
        if views:
            with timer.stage("read_preprocess"):
                batch = view_inputs(rgb, views, self.predictor.input_size)
            with timer.stage("classify_gradcam"):
                assessment, heatmap, view_maps = self._classify_views(rgb.shape, views, batch)
            with timer.stage("per_cell_classification"):
                cell_logits = self.cell_logits(rgb, segmentation, views, view_maps)
        else:
            prepared, prediction = whole or self._classify_whole(rgb, timer)
            with timer.stage("per_cell_classification"):
                if self.cell_method == "roi":
                    features, cell_logits = self.roi_pass(prepared, segmentation, prediction.conv_maps)
                else:
                    crops = self.crops(rgb, segmentation)
                    batch = np.concatenate([prepared[None], crops]) if len(crops) else prepared[None]
                    all_features, logits = self.predictor.features_and_logits(batch)
                    features, cell_logits = all_features[0], logits[1:]
                assessment = self._assess_image(np.asarray(prediction.logits), features, prepared)
            assert prediction.gradcam is not None
            heatmap = prediction.gradcam.heatmap
        with timer.stage("per_cell_classification"):
            image_call = ImageCall(assessment)
            segmentation = _with_acquisition_caution(segmentation, assessment)
            cells = self._cell_calls(segmentation, cell_logits)
        with timer.stage("overlays"):
            heatmap = resize_heatmap(heatmap, height, width)
            cam_overlay = overlay_heatmap(rgb, heatmap)
            seg_overlay = segmentation_overlay(rgb, segmentation)
        return PipelineResult(
            image_shape=(int(height), int(width)),
            classification=image_call,
            gradcam_heatmap=heatmap,
            gradcam_overlay=cam_overlay,
            segmentation=segmentation,
            segmentation_overlay=seg_overlay,
            cells=cells,
            model=dict(self.model_facts),  # its own: a caller annotating one result changes no other
            timings_ms=timer.ms,
            stain_correction={
                "hue_shift": self.segmentation_params.stain_hue_shift,
                "chroma_gain": self.segmentation_params.stain_chroma_gain,
            },
            scale_range_px=self.segmentation_params.radius_range,
        )

    def _classify_views(
        self, shape: tuple[int, ...], views: list[View], batch: np.ndarray
    ) -> tuple[Assessment, np.ndarray, list[np.ndarray]]:
        """The pooled call of a field of `shape` too large to classify whole, from its `views`
        (`field_views`) prepared as `batch`; its Grad-CAM heatmap at the field's size, each view's map
        of the pooled class on one scale (its raw peak over the strongest view's) and averaged where
        views overlap (`pool_view_heatmaps`); and each view's last convolutional maps (for the
        per-cell calls)."""
        from .gradcam import pool_view_heatmaps

        features, logits = self.predictor.features_and_logits(batch)
        pooled = pooled_assessment(
            [
                self._assess_image(row, feature, image)
                for row, feature, image in zip(logits, features, batch, strict=True)
            ]
        )
        heatmaps, peaks, view_maps = [], [], []
        for image in batch:
            explained = self.predictor.predict(image, prepared=True, class_index=pooled.predicted_index)
            assert explained.gradcam is not None
            assert explained.conv_maps is not None
            heatmaps.append(explained.gradcam.heatmap)
            peaks.append(explained.gradcam.peak)
            view_maps.append(np.asarray(explained.conv_maps, dtype=np.float64))
        heat = pool_view_heatmaps(shape, [view.area for view in views], heatmaps, peaks)
        return pooled, heat, view_maps

    def cell_logits(
        self,
        rgb: np.ndarray,
        segmentation: SegmentationResult,
        views: list[View] | None = None,
        view_maps: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Per-cell logits (N, C) by `cell_method`. `crops`: each cell's crop, sized to the cell.
        `roi`: each cell's region of the last convolutional maps, of the whole field, or with `views`
        (`field_views`) of the view whose centre is nearest the cell's, so that the cell is seen at
        the training scale; `view_maps` are those views' maps when already at hand."""
        if self.cell_method != "roi":
            crops = self.crops(rgb, segmentation)
            return self.predictor.logits_batch(crops) if len(crops) else np.zeros((0, len(CLASS_CODES)))
        if not views:
            return self.roi_pass(prepare_for_model(rgb, self.predictor.input_size), segmentation)[1]
        roi = self._roi_head()
        if view_maps is None:
            view_maps = [roi.maps(image) for image in view_inputs(rgb, views, self.predictor.input_size)]
        centres = np.array([(v.top + v.height / 2, v.left + v.width / 2) for v in views])
        boxes = find_objects(segmentation.labels, max_label=segmentation.n_nucleated)
        pooled = []
        for cell_id, box in enumerate(boxes, start=1):
            middle = (
                (0.0, 0.0)
                if box is None
                else ((box[0].start + box[0].stop) / 2, (box[1].start + box[1].stop) / 2)
            )
            nearest = int(np.argmin(np.hypot(centres[:, 0] - middle[0], centres[:, 1] - middle[1])))
            view = views[nearest]
            pooled.append(_region_features(view_maps[nearest], segmentation.labels[view.area] == cell_id))
        if not pooled:
            return np.zeros((0, len(CLASS_CODES)))
        return roi.head(np.stack(pooled))[1]

    def _roi_head(self) -> _RoiHead:
        if self._roi is None:
            self._roi = _RoiHead(self.predictor.model, self.predictor.last_conv_layer)
        return self._roi

    def roi_pass(
        self, prepared: np.ndarray, segmentation: SegmentationResult, maps: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(field features (D,), per-cell logits (N, C)) from the last conv maps (h, w, K): those of
        the Grad-CAM pass when given, else from a pass of their own."""
        roi = self._roi_head()
        maps = roi.maps(prepared) if maps is None else np.asarray(maps, dtype=np.float64)
        pooled = [maps.mean(axis=(0, 1))]
        for cell_id in range(1, segmentation.n_nucleated + 1):
            pooled.append(_region_features(maps, segmentation.labels == cell_id))
        features, logits = roi.head(np.stack(pooled))
        return features[0], logits[1:]

    def _cell_calls(self, segmentation: SegmentationResult, logits: np.ndarray) -> list[CellCall]:
        if len(logits) == 0:
            return []
        temperature = self.trust.temperature if self.trust is not None else self.predictor.temperature
        probs = softmax(logits, temperature)
        ids = [cell.id for cell in segmentation.nucleated_cells] or list(range(1, len(probs) + 1))
        # NaN (a diverged network) has no largest class; argmax would call it the first, benign, and
        # the blast percentage would count it as a cell called benign.
        return [
            CellCall(
                cell_id=int(cell_id),
                predicted=CLASS_CODES[int(p.argmax())],
                confidence=float(p.max()),
                probabilities=tuple(float(x) for x in p),
            )
            if np.isfinite(p).all()
            else CellCall(cell_id=int(cell_id), predicted=None, confidence=None, probabilities=None)
            for cell_id, p in zip(ids, probs, strict=True)
        ]


def _checked_array(rgb: np.ndarray) -> np.ndarray:
    """An array handed to `run`, refused unless RGB uint8 (H, W, 3) with pixels. Not converted: an array
    does not say its channel order or the bits its values use, which a file's header tells the reader
    (`read_image` converts grey, 16-bit and RGBA pictures from their files). One too small to segment is
    refused by the segmentation, as the same picture from a file is."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UnsupportedImageError(
            f"An image array must be RGB uint8 of shape (H, W, 3); this one is {rgb.dtype} of shape "
            f"{rgb.shape}. Grey, 16-bit and RGBA pictures are converted when read from a file (read_image)."
        )
    if rgb.size == 0:
        raise NotAnImageError(f"The image array of shape {rgb.shape} has no pixels.")
    return rgb


def _with_acquisition_caution(segmentation: SegmentationResult, assessment: Assessment) -> SegmentationResult:
    """A field referred for its focus or noise is counted short too: its counts carry the caution."""
    if REASON_ACQUISITION not in assessment.reasons:
        return segmentation
    return dataclasses.replace(segmentation, cautions=(*segmentation.cautions, CAUTION_ACQUISITION))


def _region_features(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The conv maps (h, w, K) pooled over `mask` (a boolean image of the maps' field, any size);
    the whole maps' mean where the mask shrinks to nothing."""
    import cv2

    h, w = maps.shape[:2]
    weight = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    total = float(weight.sum())
    return (maps * weight[..., None]).sum(axis=(0, 1)) / total if total > 0 else maps.mean(axis=(0, 1))


class _RoiHead:
    """The classifier cut at its last conv layer, and its dense head applied in NumPy to pooled maps."""

    def __init__(self, model: Any, layer_name: str) -> None:
        import keras
        import tensorflow as tf

        from .classifier import FEATURES_LAYER, LOGITS_LAYER

        conv = keras.Model(model.inputs, model.get_layer(layer_name).output)
        size = int(model.inputs[0].shape[1])
        spec = tf.TensorSpec([None, size, size, 3], tf.float32)
        self._maps = tf.function(lambda x: conv(x, training=False), input_signature=[spec])
        self._w1, self._b1 = (
            np.asarray(a, np.float64) for a in model.get_layer(FEATURES_LAYER).get_weights()
        )
        self._w2, self._b2 = (np.asarray(a, np.float64) for a in model.get_layer(LOGITS_LAYER).get_weights())
        self._lock = threading.Lock()

    def maps(self, prepared: np.ndarray) -> np.ndarray:
        with self._lock:
            out = self._maps(prepared[None].astype(np.float32))
        return np.asarray(out.numpy()[0], dtype=np.float64)

    def head(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global-average-pooled vectors (n, K) -> (features (n, D), logits (n, C)); ReLU features."""
        features = np.maximum(pooled @ self._w1 + self._b1, 0.0)
        return features, features @ self._w2 + self._b2


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def _as_any_thread(change: Callable[[], Any]) -> Any:
    """Make a change of the BLAS limit take effect from the calling thread, whichever it is.

    threadpoolctl 3.8 lets only its "controlling thread" change OpenBLAS: the first thread to set a
    limit, until it leaves a `with threadpool_limits` block (one that set a limit without `with` keeps
    control while it lives). From any other thread a change silently did nothing: runs on a worker
    thread went unlimited, and the restore by the last of overlapping runs, when another thread had set
    the limit, left the process on one thread for good. So control is taken for this one change, even
    from a thread that kept it, and given up at once; `_BLAS_LOCK` keeps our changes one at a time."""
    from threadpoolctl import OpenBLASController

    OpenBLASController.clear_controlling_thread(force=True)
    try:
        return change()
    finally:
        OpenBLASController.clear_controlling_thread()


_BLAS_LOCK = threading.Lock()
_blas_users = 0
_blas_restore: Any = None


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """NumPy's BLAS on one thread for the duration of an image's analysis.

    OpenBLAS threads spin-wait after each call and take the cores from the next TensorFlow pass:
    after the per-cell head's matrix product, the ResNet50's classify + Grad-CAM pass took 86-95 ms
    instead of 55 ms (measured on the 2-core machine). The per-image NumPy work is too small to gain
    from threads. A BLAS library has one setting for the process, so overlapping analyses share one
    limit: set by the first to start, restored by the last to finish, on whatever threads they run
    (each restoring its own left the process on one thread for good).
    """
    global _blas_users, _blas_restore
    with _BLAS_LOCK:
        if _blas_users == 0:
            _blas_restore = _as_any_thread(lambda: _blas_controller().limit(limits=1))
        _blas_users += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_users -= 1
            if _blas_users == 0:
                _as_any_thread(_blas_restore.restore_original_limits)
                _blas_restore = None


_PIPELINES: dict[str, Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def get_pipeline(model_dir: str | Path) -> Pipeline:
    """The process-wide pipeline of a model folder (the model is loaded once per process), built
    again when the folder's predictor was (its model.json changed: new weights, a trust refitted)."""
    from .predictor import get_predictor

    key = str(Path(model_dir).resolve())
    with _PIPELINES_LOCK:
        cached = _PIPELINES.get(key)
        if cached is None or cached.predictor is not get_predictor(model_dir):
            cached = _PIPELINES[key] = Pipeline(model_dir)
        return cached


def analyse_image(model_dir: str | Path, source: str | Path | bytes | np.ndarray) -> PipelineResult:
    """Analyse one image with the process-wide pipeline of `model_dir`."""
    return get_pipeline(model_dir).run(source)
