"""Grad-CAM: shape, 0..1 range, class dependence, overlay, and the predictor's single compiled pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.engine.gradcam import compute_gradcam, overlay_heatmap
from inference.engine.predictor import Predictor, get_predictor

from .conftest import smear_image


@pytest.fixture(scope="module")
def predictor(tiny_artifact_dir: Path) -> Predictor:
    return get_predictor(tiny_artifact_dir)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smear_image(np.random.default_rng(5), 2, size=150)


def test_prediction_has_probabilities_and_gradcam(predictor: Predictor, image: np.ndarray) -> None:
    result = predictor.predict(image)
    assert result.probabilities.shape == (4,)
    assert result.probabilities.sum() == pytest.approx(1.0)
    assert result.class_code == predictor.classes[int(np.argmax(result.probabilities))]
    assert result.gradcam is not None
    heatmap = result.gradcam.heatmap
    assert heatmap.shape == (224, 224)
    assert heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0
    assert heatmap.max() <= 1.0
    assert heatmap.max() > 0.9  # normalised at conv resolution, then bilinearly resized
    assert result.gradcam.overlay.shape == (224, 224, 3)
    assert result.gradcam.overlay.dtype == np.uint8
    assert result.gradcam.class_index == result.class_index


def test_gradcam_differs_between_classes(predictor: Predictor, image: np.ndarray) -> None:
    maps = [predictor.gradcam(image, class_index).heatmap for class_index in range(4)]
    assert any(not np.allclose(maps[0], other, atol=1e-3) for other in maps[1:])


def test_compiled_and_eager_gradcam_agree(predictor: Predictor, image: np.ndarray) -> None:
    prepared = predictor.prepare(image)
    eager = compute_gradcam(predictor.model, prepared, class_index=1)
    compiled = predictor.gradcam(prepared, 1, prepared=True)
    np.testing.assert_allclose(eager.heatmap, compiled.heatmap, atol=1e-4)


def test_batch_paths_agree_with_single(predictor: Predictor, image: np.ndarray) -> None:
    prepared = np.stack([predictor.prepare(image), predictor.prepare(image[::-1])])
    probs = predictor.classify_batch(prepared, batch_size=1)
    features, logits = predictor.features_and_logits(prepared)
    assert probs.shape == (2, 4)
    assert features.shape == (2, 16)
    assert logits.shape == (2, 4)
    single = predictor.predict(image, gradcam=False)
    np.testing.assert_allclose(single.probabilities, probs[0], atol=1e-5)
    np.testing.assert_allclose(single.logits, logits[0], atol=1e-5)


def test_overlay_blends_at_alpha() -> None:
    image = np.zeros((10, 12, 3), np.uint8)
    overlay = overlay_heatmap(image, np.ones((5, 6), np.float32), alpha=0.4)
    assert overlay.shape == (10, 12, 3)
    # jet(1.0) is dark red (128, 0, 0): 0.4 of it over black.
    np.testing.assert_allclose(overlay[5, 5], (51, 0, 0), atol=2)


def eager_raw_peak(predictor: Predictor, prepared: np.ndarray, class_index: int) -> float:
    """The largest value of the ReLU'd Grad-CAM before normalisation, computed eagerly here."""
    import tensorflow as tf

    from inference.engine.gradcam import gradcam_model

    cam_model = gradcam_model(predictor.model, predictor.last_conv_layer)
    with tf.GradientTape() as tape:
        conv, logits = cam_model(tf.constant(prepared[None].astype(np.float32)), training=False)
        score = logits[:, class_index]
    weights = tf.reduce_mean(tape.gradient(score, conv), axis=(1, 2))
    return float(tf.reduce_max(tf.nn.relu(tf.einsum("nhwk,nk->nhw", conv, weights))))


def test_the_compiled_pass_keeps_the_raw_peak(predictor: Predictor, image: np.ndarray) -> None:
    # The heatmap is normalised to its own peak; the peak itself is kept, so maps can be compared.
    prepared = predictor.prepare(image)
    for class_index in range(4):
        cam = predictor.gradcam(prepared, class_index, prepared=True)
        expected = eager_raw_peak(predictor, prepared, class_index)
        assert cam.peak == pytest.approx(expected, rel=1e-4, abs=1e-12)
        assert cam.empty == (expected == 0.0)
    eager = compute_gradcam(predictor.model, prepared, class_index=1)
    assert eager.peak == pytest.approx(predictor.gradcam(prepared, 1, prepared=True).peak, rel=1e-4)


def test_an_all_zero_gradcam_is_empty(predictor: Predictor) -> None:
    # A black field gives the untrained tiny network (zero biases) no activation at all: no region is
    # evidence for any class. Its map is all zero, drawn as a plain blue overlay: it says so.
    black = np.zeros((224, 224, 3), np.uint8)
    result = predictor.predict(black, prepared=True)
    assert result.gradcam is not None
    assert not result.gradcam.heatmap.any()
    assert result.gradcam.peak == 0.0
    assert result.gradcam.empty
    assert len(np.unique(result.gradcam.overlay.reshape(-1, 3), axis=0)) == 1
    usual = predictor.predict(smear_image(np.random.default_rng(5), 2, size=150)).gradcam
    assert usual is not None
    assert usual.peak > 0.0
    assert not usual.empty


def test_view_maps_are_pooled_on_one_scale() -> None:
    from inference.engine.gradcam import pool_view_heatmaps

    # Two views side by side and one over both: each view's normalised map is scaled by its peak
    # over the largest peak, then views are averaged where they overlap.
    ones = np.ones((4, 4), np.float32)
    areas = [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(8, 16)), (slice(0, 8), slice(4, 12))]
    heat = pool_view_heatmaps((8, 16), areas, [ones, ones, ones], [2.0, 0.5, 1.0])
    assert heat.shape == (8, 16)
    assert heat.dtype == np.float32
    np.testing.assert_allclose(heat[:, :4], 1.0)  # the strongest view alone
    np.testing.assert_allclose(heat[:, 4:8], (1.0 + 0.5) / 2)
    np.testing.assert_allclose(heat[:, 8:12], (0.25 + 0.5) / 2)
    np.testing.assert_allclose(heat[:, 12:], 0.25)  # the weakest view alone: a quarter of the strongest
    # No view with any evidence: all zero, not a division by zero.
    empty = pool_view_heatmaps((8, 16), areas[:2], [np.zeros((4, 4), np.float32)] * 2, [0.0, 0.0])
    assert not empty.any()
    assert not np.isnan(empty).any()
