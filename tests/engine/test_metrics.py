"""Evaluation metrics against values computed by hand on a six-image, three-class example."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.metrics import (
    classification_metrics,
    ece_sampling_floor,
    expected_calibration_error,
    one_vs_rest_auc,
    reliability_bins,
    wilson_interval,
)

# true 0,0,1,1,2,2; predicted 0,1,1,1,2,0 with confidences .9 .6 .7 .8 .8 .5
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
        [0.5, 0.1, 0.4],
    ]
)
LABELS = ["a", "b", "c"]


def test_headline_figures() -> None:
    m = classification_metrics(Y_TRUE, PROBS, LABELS)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # per-class F1: 0.5, 0.8, 2/3; equal supports, so weighted == macro
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx(m["macro_f1"])
    # p_o = 4/6; p_e = (2*2 + 2*3 + 2*1) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3)
    assert m["cohen_kappa"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["labels"] == LABELS
    assert m["accuracy_95ci"] == wilson_interval(4, 6)


def test_wilson_interval_by_hand() -> None:
    # 5 of 10: centre 0.5, half-width 1.96 * sqrt(0.025 + 1.96^2 / 400) / (1 + 1.96^2 / 10).
    assert wilson_interval(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    # All of val right does not show 0.995: the interval reaches down to 0.9921.
    assert wilson_interval(483, 483) == pytest.approx([0.9921, 1.0], abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx([0.0, 0.1611], abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_per_class() -> None:
    per = classification_metrics(Y_TRUE, PROBS, LABELS)["per_class"]
    assert per["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "auc": 7 / 8, "support": 2})
    assert per["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "auc": 1.0, "support": 2})
    assert per["c"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "auc": 1.0, "support": 2})


def test_ece_by_hand() -> None:
    # bins: {.9 right} .1, {.6 wrong} .6, {.7 right} .3, {.8 .8 right} .2 x2, {.5 wrong} .5
    assert expected_calibration_error(Y_TRUE, PROBS) == pytest.approx((0.1 + 0.6 + 0.3 + 0.4 + 0.5) / 6)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = np.tile([0.75, 0.25], (4, 1))
    assert expected_calibration_error([0, 0, 0, 1], probs) == pytest.approx(0.0)
    assert expected_calibration_error([1, 0], np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(0.0)
    assert expected_calibration_error([], np.zeros((0, 2))) == 0.0


def test_reliability_bins_match_ece_bins() -> None:
    bins = reliability_bins(Y_TRUE, PROBS)
    assert len(bins["count"]) == 15
    assert sum(bins["count"]) == 6
    assert bins["lower"][0] == 0.0
    assert bins["upper"][-1] == pytest.approx(1.0)


def test_absent_class_has_no_scores_and_leaves_the_macro_f1_alone() -> None:
    m = classification_metrics(
        [0, 1, 0], np.array([[0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.6, 0.4, 0.0]]), LABELS
    )
    assert m["per_class"]["c"] == {"precision": None, "recall": None, "f1": None, "auc": None, "support": 0}
    assert m["accuracy"] == 1.0
    assert m["macro_f1"] == 1.0
    # A class called but absent from the sample keeps its zero: those calls were wrong.
    called = classification_metrics([0, 1], np.array([[0.8, 0.2, 0.0], [0.1, 0.2, 0.7]]), LABELS)
    assert called["per_class"]["c"]["precision"] == 0.0
    assert called["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)
    assert one_vs_rest_auc([0, 0], np.array([[1.0, 0.0], [0.9, 0.1]]), 0) is None


def test_explicit_predictions_override_argmax() -> None:
    m = classification_metrics(Y_TRUE, PROBS, LABELS, y_pred=Y_TRUE)
    assert m["accuracy"] == 1.0
    assert m["cohen_kappa"] == pytest.approx(1.0)


def test_kappa_of_a_single_class_that_is_always_right() -> None:
    m = classification_metrics([1, 1], np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0]]), LABELS)
    assert m["cohen_kappa"] == 1.0


def test_ece_floor_shrinks_with_confidence_and_sample_size() -> None:
    unsure = ece_sampling_floor(np.tile([0.7, 0.1, 0.1, 0.1], (200, 1)), draws=100)
    sure = ece_sampling_floor(np.tile([0.999, 0.001 / 3, 0.001 / 3, 0.001 / 3], (200, 1)), draws=100)
    bigger = ece_sampling_floor(np.tile([0.7, 0.1, 0.1, 0.1], (5000, 1)), draws=100)
    # one bin of 200 Bernoulli(0.7): E|mean - 0.7| is about sqrt(0.21 / 200) * 0.8
    assert unsure["mean"] == pytest.approx(0.026, abs=0.006)
    assert sure["mean"] < 0.005
    assert bigger["mean"] < unsure["mean"] / 3
    assert unsure["p05"] <= unsure["mean"] <= unsure["p95"]
