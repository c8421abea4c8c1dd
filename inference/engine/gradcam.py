"""Grad-CAM (Selvaraju et al. 2017) on the classifier's last convolutional layer.

For class c: gradients of the class score (the pre-softmax logit) with respect to the last conv
feature maps, averaged per channel, give channel weights; the weighted sum of the maps, ReLU,
normalised to 0..1 and resized to the image is the heatmap; a jet colour map blended at alpha 0.4
over the image is the overlay shown to people. The TensorFlow part is built by `make_gradcam_fn`
and compiled once by the predictor; the NumPy/OpenCV part below it is shared.

The map's raw peak (its largest value before normalisation) is kept beside it, from the same pass:
- maps of one field's views are pooled on one scale (`pool_view_heatmaps`), so a view with weak
  evidence is not drawn as hot as the strongest;
- a peak of 0 means no region is positive evidence for the class (common for a class that was not
  predicted): the map is all zero, drawn as a plain blue overlay, and is reported as `empty`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .classifier import LOGITS_LAYER

OVERLAY_ALPHA = 0.4


@dataclass(frozen=True)
class GradCam:
    class_index: int
    heatmap: np.ndarray  # float32 (H, W) in 0..1, at the size of the image it explains
    overlay: np.ndarray  # uint8 RGB (H, W, 3)
    # The ReLU'd map's largest value before it was normalised (in the class score's units per
    # activation): compares maps of one class on different images; 0 when it is all zero.
    peak: float

    @property
    def empty(self) -> bool:
        """No region is positive evidence for the class: the heatmap is all zero."""
        return not self.peak > 0.0


def gradcam_model(model: Any, layer_name: str) -> Any:
    """A model giving (last conv maps, logits) from the classifier's own input."""
    import keras

    return keras.Model(
        model.inputs,
        [model.get_layer(layer_name).output, model.get_layer(LOGITS_LAYER).output],
        name=f"{model.name}_gradcam",
    )


def gradcam_maps(cam_model: Any, images: Any, class_indices: Any) -> tuple[Any, Any, Any, Any]:
    """TensorFlow core: (cams (N, h, w) normalised 0..1, their raw peaks (N,) before normalisation,
    logits (N, C), the conv maps (N, h, w, K)); trace it in a tf.function. The maps come back so
    per-cell calls need no second pass.

    `class_indices` (N,) int32; a negative index means "the predicted class".
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        conv, logits = cam_model(images, training=False)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        chosen = tf.where(class_indices < 0, predicted, class_indices)
        scores = tf.gather(logits, chosen, axis=1, batch_dims=1)
    grads = tape.gradient(scores, conv)
    weights = tf.reduce_mean(grads, axis=(1, 2))  # (N, K)
    cams = tf.nn.relu(tf.einsum("nhwk,nk->nhw", conv, weights))
    peaks = tf.reduce_max(cams, axis=(1, 2))
    cams = tf.math.divide_no_nan(cams, peaks[:, None, None])
    return cams, peaks, logits, conv


def make_gradcam_fn(model: Any, layer_name: str) -> Any:
    """A compiled function (images float32 (N,S,S,3), class_indices int32 (N,)) -> (cams, peaks,
    logits, maps), as `gradcam_maps`."""
    import tensorflow as tf

    cam_model = gradcam_model(model, layer_name)
    size = int(model.inputs[0].shape[1])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ],
        reduce_retracing=True,
    )
    def run(images: Any, class_indices: Any) -> tuple[Any, Any, Any, Any]:
        return gradcam_maps(cam_model, images, class_indices)

    return run


def resize_heatmap(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 0..1 map to (height, width), clipped back to 0..1."""
    resized = cv2.resize(cam.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend a jet-coloured 0..1 heatmap (same H, W) over an RGB uint8 image."""
    if heatmap.shape[:2] != image.shape[:2]:
        heatmap = resize_heatmap(heatmap, image.shape[0], image.shape[1])
    colour = cv2.applyColorMap((heatmap * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(colour, alpha, image, 1.0 - alpha, 0.0)


def explain(
    image: np.ndarray, cam: np.ndarray, class_index: int, peak: float, alpha: float = OVERLAY_ALPHA
) -> GradCam:
    """Turn a conv-resolution map (normalised; `peak` its raw peak) into the heatmap and overlay at
    the image's own size."""
    heatmap = resize_heatmap(cam, image.shape[0], image.shape[1])
    return GradCam(
        class_index=class_index,
        heatmap=heatmap,
        overlay=overlay_heatmap(image, heatmap, alpha),
        peak=float(peak),
    )


def pool_view_heatmaps(
    shape: tuple[int, ...],
    areas: Sequence[tuple[slice, slice]],
    heatmaps: Sequence[np.ndarray],
    peaks: Sequence[float],
) -> np.ndarray:
    """One heatmap float32 (H, W) of a field of `shape` from its views' maps of one class: each view's
    normalised map (any size) resized to its `area` of the field and scaled by its raw peak over the
    largest of the views' peaks, then averaged where views overlap. The field's map is so on one
    scale: 1 is the strongest view's peak, and a view with half its evidence peaks at 0.5. All zero
    when no view has any evidence."""
    top = max((float(p) for p in peaks), default=0.0)
    heat = np.zeros(shape[:2], np.float32)
    cover = np.zeros(shape[:2], np.float32)
    for area, heatmap, peak in zip(areas, heatmaps, peaks, strict=True):
        height, width = heat[area].shape
        scale = float(peak) / top if top > 0.0 else 0.0
        heat[area] += resize_heatmap(heatmap, height, width) * np.float32(scale)
        cover[area] += 1.0
    return heat / np.maximum(cover, 1.0)


def compute_gradcam(
    model: Any, image: np.ndarray, class_index: int | None = None, layer_name: str | None = None
) -> GradCam:
    """Grad-CAM of one prepared image (S, S, 3) uint8; convenient, but compiles each call.

    Services should use `Predictor`, which compiles once per process.
    """
    import tensorflow as tf

    if layer_name is None:
        from .backbones import get_backbone

        layer_name = get_backbone(model.name.removeprefix("marrowfind_")).last_conv_layer
    cam_model = gradcam_model(model, layer_name)
    batch = tf.convert_to_tensor(image[None].astype(np.float32))
    indices = tf.constant([-1 if class_index is None else class_index], dtype=tf.int32)
    cams, peaks, logits, _ = gradcam_maps(cam_model, batch, indices)
    chosen = int(np.argmax(logits.numpy()[0])) if class_index is None else class_index
    return explain(image, cams.numpy()[0], chosen, float(peaks.numpy()[0]))
