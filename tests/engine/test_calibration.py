"""Temperature scaling recovers a known over-confidence and lowers the calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.calibration import fit_temperature, negative_log_likelihood, softmax
from inference.engine.errors import ModelArtifactError
from inference.engine.metrics import expected_calibration_error


def _calibrated_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true label distribution, and labels drawn from it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(n, 4))
    probs = softmax(logits)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    return logits, labels


def test_softmax_is_stable_and_normalised() -> None:
    p = softmax(np.array([[1000.0, 1000.0], [0.0, -1000.0]]))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[0] == pytest.approx([0.5, 0.5])
    assert softmax(np.array([[2.0, 0.0]]), temperature=2.0)[0] == pytest.approx(
        softmax(np.array([[1.0, 0.0]]))[0]
    )


def test_recovers_an_over_confident_temperature() -> None:
    logits, labels = _calibrated_sample(4000)
    t = fit_temperature(3.0 * logits, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(labels, softmax(3.0 * logits))
    after = expected_calibration_error(labels, softmax(3.0 * logits, t))
    assert after < before / 3
    assert negative_log_likelihood(3.0 * logits, labels, t) < negative_log_likelihood(3.0 * logits, labels)


def test_a_network_of_huge_logits_is_not_cut_short_by_the_search_bound() -> None:
    logits, labels = _calibrated_sample(4000)
    assert fit_temperature(40.0 * logits, labels) == pytest.approx(40.0, rel=0.1)


def test_calibrated_logits_keep_a_temperature_near_one() -> None:
    logits, labels = _calibrated_sample(4000, seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.1)


def test_empty_input_is_identity() -> None:
    assert fit_temperature(np.zeros((0, 4)), []) == 1.0


def test_a_validation_set_without_errors_keeps_the_model_scale() -> None:
    # Every arg-max right: NLL falls all the way to the search bound (T = 0.05, a sharpening to
    # certainty) unless the fit refuses; one error gives the NLL a minimum again.
    logits, _ = _calibrated_sample(500, seed=2)
    labels = logits.argmax(axis=1)
    assert fit_temperature(logits, labels) == 1.0
    labels[0] = (labels[0] + 1) % 4
    assert 0.05 < fit_temperature(logits, labels) < 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_logits_that_are_not_finite_are_refused(bad: float) -> None:
    # A NaN among the logits gave T = 0.31, a number that means nothing, without a word.
    logits, labels = _calibrated_sample(200, seed=3)
    logits[5, 1] = bad
    with pytest.raises(ModelArtifactError, match="1 of 200 validation rows"):
        fit_temperature(logits, labels)
