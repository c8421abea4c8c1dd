"""Classifying images with a model artifact: loaded once per process, compiled once.

One compiled pass gives the probabilities and the Grad-CAM of the predicted class with its raw peak
(the Grad-CAM model shares the classifier's layers, so the logits it returns are the classifier's).
Batches go through fixed-signature `tf.function`s in chunks, never eager `model.predict`, so worker
memory stays flat. If `model.json` carries a fitted temperature (`trust.temperature`), probabilities are
`softmax(logits / T)`; the raw logits are returned too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import LoadedArtifact, load_artifact
from .backbones import get_backbone
from .classifier import head_outputs_model
from .gradcam import GradCam, explain, make_gradcam_fn
from .preprocess import prepare_for_model

DEFAULT_BATCH = 32


@dataclass(frozen=True)
class Prediction:
    class_index: int
    class_code: str
    probabilities: np.ndarray  # (C,) float64, calibrated when a temperature is fitted
    logits: np.ndarray  # (C,) float32
    gradcam: GradCam | None  # at the prepared image's size (224x224)
    conv_maps: np.ndarray | None = None  # (h, w, K) last conv maps, from the Grad-CAM pass

    def as_dict(self, classes: Sequence[str]) -> dict[str, float]:
        return {code: float(p) for code, p in zip(classes, self.probabilities, strict=True)}


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Predictor:
    """Thread-safe wrapper of one classifier: call `predict`, `classify_batch`, `features_and_logits`."""

    def __init__(self, model: Any, info: dict[str, Any]) -> None:
        import tensorflow as tf

        self.model = model
        self.info = info
        self.classes: tuple[str, ...] = tuple(info["classes"])
        self.input_size = int(info["architecture"].get("input_size", 224))
        backbone = info.get("backbone", {})
        self.last_conv_layer = str(
            backbone.get("last_conv_layer") or get_backbone(info["architecture"]["backbone"]).last_conv_layer
        )
        self._lock = threading.Lock()
        spec = tf.TensorSpec([None, self.input_size, self.input_size, 3], tf.float32)
        self._gradcam = make_gradcam_fn(model, self.last_conv_layer)
        heads = head_outputs_model(model)

        @tf.function(input_signature=[spec], reduce_retracing=True)
        def logits_fn(images: Any) -> Any:
            return heads(images, training=False)[1]

        @tf.function(input_signature=[spec], reduce_retracing=True)
        def features_fn(images: Any) -> Any:
            return heads(images, training=False)

        self._logits_fn = logits_fn
        self._features_fn = features_fn

    @classmethod
    def from_artifact(cls, folder: str | Path) -> Predictor:
        loaded = load_artifact(folder)
        return cls.from_loaded(loaded)

    @classmethod
    def from_loaded(cls, loaded: LoadedArtifact) -> Predictor:
        return cls(loaded.model, loaded.info)

    @property
    def temperature(self) -> float:
        trust = self.info.get("trust") or {}
        value = trust.get("temperature") if isinstance(trust, dict) else None
        return float(value) if value else 1.0

    @property
    def weights_sha256(self) -> str:
        return str(self.info["weights"]["sha256"])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 of any size -> the model's (S, S, 3) uint8 input (CLAHE + resize)."""
        return prepare_for_model(image, self.input_size)

    def _as_batch(self, images: np.ndarray | Sequence[np.ndarray], prepared: bool) -> np.ndarray:
        if isinstance(images, np.ndarray) and images.ndim == 4:
            batch = images if prepared else np.stack([self.prepare(image) for image in images])
        else:
            batch = np.stack([image if prepared else self.prepare(image) for image in images])
        if batch.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(
                f"Expected images of shape ({self.input_size}, {self.input_size}, 3), got {batch.shape[1:]}."
            )
        return batch.astype(np.float32, copy=False)

    def predict(
        self,
        image: np.ndarray,
        *,
        prepared: bool = False,
        gradcam: bool = True,
        class_index: int | None = None,
    ) -> Prediction:
        """Classify one RGB uint8 image; Grad-CAM of `class_index` (default: the predicted class)."""
        import tensorflow as tf

        model_input = image if prepared else self.prepare(image)
        batch = self._as_batch([model_input], prepared=True)
        with self._lock:
            if gradcam:
                index = tf.constant([-1 if class_index is None else class_index], dtype=tf.int32)
                cams, peaks, logits, maps = self._gradcam(tf.constant(batch), index)
                cam, peak, conv_maps = cams.numpy()[0], float(peaks.numpy()[0]), maps.numpy()[0]
            else:
                logits, cam, peak, conv_maps = self._logits_fn(tf.constant(batch)), None, 0.0, None
        logit_row = logits.numpy()[0]
        probabilities = softmax(logit_row, self.temperature)
        predicted = int(np.argmax(logit_row))
        explained = None
        if cam is not None:
            explained = explain(model_input, cam, predicted if class_index is None else class_index, peak)
        return Prediction(
            class_index=predicted,
            class_code=self.classes[predicted],
            probabilities=probabilities,
            logits=logit_row,
            gradcam=explained,
            conv_maps=conv_maps,
        )

    def gradcam(self, image: np.ndarray, class_index: int, *, prepared: bool = False) -> GradCam:
        """Grad-CAM of any class for one image."""
        result = self.predict(image, prepared=prepared, gradcam=True, class_index=class_index)
        assert result.gradcam is not None
        return result.gradcam

    def logits_batch(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        *,
        prepared: bool = True,
        batch_size: int = DEFAULT_BATCH,
    ) -> np.ndarray:
        """Logits (N, C) in chunks of `batch_size`; no Grad-CAM (e.g. per-cell crops)."""
        import tensorflow as tf

        batch = self._as_batch(images, prepared)
        out = []
        for start in range(0, len(batch), batch_size):
            with self._lock:
                out.append(self._logits_fn(tf.constant(batch[start : start + batch_size])).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def classify_batch(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        *,
        prepared: bool = True,
        batch_size: int = DEFAULT_BATCH,
    ) -> np.ndarray:
        """Probabilities (N, C) for a batch of images (prepared 224x224 by default)."""
        return softmax(self.logits_batch(images, prepared=prepared, batch_size=batch_size), self.temperature)

    def features_and_logits(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        *,
        prepared: bool = True,
        batch_size: int = DEFAULT_BATCH,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features (N, 256), logits (N, C)) as NumPy arrays, for OOD scoring and calibration."""
        import tensorflow as tf

        batch = self._as_batch(images, prepared)
        features, logits = [], []
        for start in range(0, len(batch), batch_size):
            with self._lock:
                f, z = self._features_fn(tf.constant(batch[start : start + batch_size]))
            features.append(f.numpy())
            logits.append(z.numpy())
        if not features:
            units = int(self.model.get_layer("features").units)
            return np.zeros((0, units), np.float32), np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate(features), np.concatenate(logits)


# Per model folder: the fingerprint of its model.json when loaded, and the predictor.
_CACHE: dict[str, tuple[str, Predictor]] = {}
_CACHE_LOCK = threading.Lock()


def get_predictor(folder: str | Path) -> Predictor:
    """The process-wide predictor of a model folder, loaded (and verified) on first use, and again when
    its model.json has changed (new weights, or a trust state fitted again: `fit_acquisition_check`)."""
    from .artifact import model_json_sha256, read_model_info

    resolved = Path(folder).resolve()
    fingerprint = model_json_sha256(read_model_info(resolved))
    with _CACHE_LOCK:
        cached = _CACHE.get(str(resolved))
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, Predictor.from_artifact(resolved))
            _CACHE[str(resolved)] = cached
        return cached[1]
