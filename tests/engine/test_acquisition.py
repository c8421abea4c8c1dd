"""The focus and noise check: what the descriptor reads, how its threshold spends the budget, and how
the trust state applies and stores it."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from inference.engine.acquisition import DESCRIPTOR_SIZE, acquisition_descriptor, acquisition_descriptors
from inference.engine.acquisition_check import threshold_within_budget, with_acquisition_check
from inference.engine.errors import EngineError
from inference.engine.preprocess import prepare_for_model
from inference.engine.trust import REASON_ACQUISITION, TrustModel, fit_trust_arrays
from tests.engine.synthetic import touching_field


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_the_noise_estimate_reads_the_sensor_s_noise(sigma: float) -> None:
    flat = np.full((224, 224, 3), 128.0)
    noisy = np.clip(flat + np.random.default_rng(1).normal(0, sigma, (224, 224, 1)), 0, 255).astype(np.uint8)
    # Read at half size, where each pixel is the mean of four: white noise is half as strong there.
    assert math.exp(acquisition_descriptor(noisy)[2]) == pytest.approx(sigma / 2, rel=0.1)


def test_edges_and_shading_are_not_taken_for_noise() -> None:
    ramp = np.tile(np.linspace(60, 200, 224), (224, 1))
    image = np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)
    cv2.circle(image, (112, 112), 40, (90, 40, 140), -1)
    assert math.exp(acquisition_descriptor(image)[2]) < 1.0


def test_blur_lowers_the_detail_and_noise_raises_it() -> None:
    field = prepare_for_model(touching_field(radius=8).rgb)
    sharp = acquisition_descriptor(field)
    blurred = acquisition_descriptor(cv2.GaussianBlur(field, (0, 0), 2.0))
    noise = np.random.default_rng(2).normal(0, 12, field.shape)
    noisy = acquisition_descriptor(np.clip(field + noise, 0, 255).astype(np.uint8))
    assert blurred[0] < sharp[0] - 1.0  # the Laplacian's energy, in natural logarithms
    assert blurred[1] < sharp[1]
    assert noisy[0] > sharp[0] + 0.5
    assert noisy[2] > sharp[2] + 0.5
    assert acquisition_descriptors([field, field]).shape == (2, DESCRIPTOR_SIZE)
    assert acquisition_descriptors([]).shape == (0, DESCRIPTOR_SIZE)


def test_the_threshold_spends_only_what_the_other_checks_left() -> None:
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    # Budget 3, one row (score 4) already flagged: 5 and 3 can be added, 2 cannot.
    threshold = threshold_within_budget(scores, np.array([False, True, False, False, False]), 3)
    assert threshold == pytest.approx(2.5)
    # The budget is spent already: the threshold lies above every score.
    spent = np.array([False, True, False, False, False])
    assert threshold_within_budget(scores, spent, 1) > 5.0
    # Rows already flagged cost nothing when the new check flags them too.
    top_flagged = np.array([True, False, False, False, False])
    assert threshold_within_budget(scores, top_flagged, 1) == pytest.approx(4.5)
    assert threshold_within_budget(scores, top_flagged | spent, 2) == pytest.approx(3.5)


def _features() -> tuple[np.ndarray, ...]:
    """Generated penultimate features and logits: train, labels, val, val logits, val labels."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 60)
    val_labels = np.repeat(np.arange(4), 50)
    centres = rng.normal(0, 3, (4, 16))
    train = centres[labels] + rng.normal(size=(240, 16))
    val = centres[val_labels] + rng.normal(size=(200, 16))
    val_logits = 6.0 * np.eye(4)[val_labels] + rng.normal(size=(200, 4))
    return train, labels, val, val_logits, val_labels


def _trust_with_check() -> tuple[TrustModel, np.ndarray, np.ndarray, np.ndarray]:
    """A trust state fitted on `_features`, with acquisition descriptors spread like all4 fields'."""
    rng = np.random.default_rng(4)
    typical = np.array([6.7, 9.9, 1.0])
    spread = np.array([0.6, 0.36, 0.34])
    train_acquisition = typical + spread * rng.normal(size=(240, 3))
    val_acquisition = typical + spread * rng.normal(size=(200, 3))
    train, labels, val, val_logits, val_labels = _features()
    trust = fit_trust_arrays(
        train,
        labels,
        val,
        val_logits,
        val_labels,
        n_components=4,
        train_acquisition=train_acquisition,
        val_acquisition=val_acquisition,
    )
    return trust, val, val_logits, val_acquisition


def test_a_blurred_field_is_referred_for_its_focus_and_the_budget_holds() -> None:
    trust, val, val_logits, val_acquisition = _trust_with_check()
    without = fit_trust_arrays(*_features(), n_components=4)
    # The other checks keep the thresholds they would have had alone.
    assert (trust.confidence_threshold, trust.ood_threshold) == (
        without.confidence_threshold,
        without.ood_threshold,
    )
    rows = trust.assess(val_logits, val, acquisition=val_acquisition)
    assert np.mean([r.flagged for r in rows]) == pytest.approx(trust.val_flagged_rate)
    assert without.val_flagged_rate <= trust.val_flagged_rate <= 0.02
    blurred = val_acquisition[:1] - np.array([[2.5, 0.8, 1.0]])  # what 2 px of blur did to val
    call = trust.assess(val_logits[:1], val[:1], acquisition=blurred)[0]
    assert call.flagged
    assert REASON_ACQUISITION in call.reasons
    assert call.acquisition_score > trust.acquisition_threshold
    with pytest.raises(EngineError, match="acquisition descriptors"):
        trust.assess(val_logits[:1], val[:1])


def test_the_check_is_stored_and_an_older_state_loads_without_it() -> None:
    trust, val, val_logits, val_acquisition = _trust_with_check()
    state = json.loads(json.dumps(trust.to_dict()))
    again = TrustModel.from_dict(state)
    assert again.acquisition_threshold == pytest.approx(trust.acquisition_threshold)
    scores = [
        r.acquisition_score for r in trust.assess(val_logits[:5], val[:5], acquisition=val_acquisition[:5])
    ]
    again_scores = [
        r.acquisition_score for r in again.assess(val_logits[:5], val[:5], acquisition=val_acquisition[:5])
    ]
    assert again_scores == pytest.approx(scores, rel=1e-4)
    del state["acquisition"]
    older = TrustModel.from_dict(state)
    assert older.acquisition is None
    assert math.isnan(older.assess(val_logits[:1], val[:1])[0].acquisition_score)


def test_fitting_again_replaces_the_check_without_touching_the_rest() -> None:
    trust, val, val_logits, val_acquisition = _trust_with_check()
    flagged = [
        r.flagged for r in trust.assess(val_logits, val, acquisition=np.zeros_like(val_acquisition) + 6.0)
    ]
    assert all(flagged)  # far from every training field
    refitted = with_acquisition_check(
        trust, val_acquisition, np.repeat(np.arange(4), 50), val_acquisition, [False] * 200
    )
    assert refitted.confidence_threshold == trust.confidence_threshold
    assert refitted.ood_threshold == trust.ood_threshold
    assert round(refitted.val_flagged_rate * 200) == 4  # the whole 2 % budget, nothing else flagged


def test_resampling_a_field_is_not_read_as_blur() -> None:
    # The model's input is a resized field: a resize near 1 must cost far less detail than real blur.
    rgb = touching_field(radius=8).rgb
    sharp = acquisition_descriptor(prepare_for_model(rgb))
    resized = acquisition_descriptor(prepare_for_model(cv2.resize(rgb, None, fx=0.8, fy=0.8)))
    blurred = acquisition_descriptor(prepare_for_model(cv2.GaussianBlur(rgb, (0, 0), 1.0)))
    assert sharp[0] - resized[0] < 0.4 * (sharp[0] - blurred[0])
