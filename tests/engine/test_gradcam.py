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
