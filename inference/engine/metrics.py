"""Classification metrics for the evaluation report: plain numpy and scikit-learn, no TensorFlow.

Every function takes integer class indices (`y_true`, `y_pred`) in the order of `CLASS_CODES`, and
probabilities of shape (n, n_classes) where needed. Results are JSON-ready Python numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

ECE_BINS = 15


class ClassMetrics(TypedDict):
    precision: float | None  # None for a class neither in the sample nor called
    recall: float | None
    f1: float | None
    auc: float | None
    support: int


class ClassificationMetrics(TypedDict):
    n: int
    accuracy: float
    accuracy_95ci: list[float] | None
    weighted_f1: float
    macro_f1: float
    cohen_kappa: float
    ece: float
    labels: list[str]
    confusion_matrix: list[list[int]]
    per_class: dict[str, ClassMetrics]


def _as_indices(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def expected_calibration_error(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Top-label ECE over `n_bins` equal-width confidence bins: sum_b |B|/n * |acc(B) - conf(B)|.

    Bins are (lo, hi], the first one [0, 1/n_bins], so a confidence of exactly 1.0 lands in the last.
    """
    truth = _as_indices(y_true)
    probs = np.asarray(probabilities, dtype=np.float64)
    if truth.size == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64)
    # Bin index: ceil(conf * n_bins) - 1, clipped, gives (lo, hi] bins with 0 in the first one.
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        count = int(in_bin.sum())
        if count:
            ece += count / truth.size * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def ece_sampling_floor(
    probabilities: np.ndarray, n_bins: int = ECE_BINS, draws: int = 200, seed: int = 0
) -> dict[str, float]:
    """The ECE that sampling noise alone gives: labels drawn from `probabilities` themselves.

    A perfectly calibrated model with these confidences, scored on this many images, shows this ECE
    (mean, and 5th-95th percentiles), so a measured ECE inside that range is as good as the sample can
    tell. With a few hundred images and confidences well below 1 it is often above 0.02.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.size == 0:
        return {"mean": 0.0, "p05": 0.0, "p95": 0.0}
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probs, axis=1)
    values = []
    for _ in range(draws):
        u = rng.random((len(probs), 1))
        labels = np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)
        values.append(expected_calibration_error(labels, probs, n_bins))
    return {
        "mean": float(np.mean(values)),
        "p05": float(np.percentile(values, 5)),
        "p95": float(np.percentile(values, 95)),
    }


def reliability_bins(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> dict[str, list[float]]:
    """Per-bin mean confidence, accuracy and count, for the reliability diagram (same bins as the ECE)."""
    truth = _as_indices(y_true)
    probs = np.asarray(probabilities, dtype=np.float64)
    confidence = probs.max(axis=1) if truth.size else np.zeros(0)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64) if truth.size else np.zeros(0)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    out: dict[str, list[float]] = {"lower": [], "upper": [], "confidence": [], "accuracy": [], "count": []}
    for b in range(n_bins):
        in_bin = bins == b
        count = int(in_bin.sum())
        out["lower"].append(b / n_bins)
        out["upper"].append((b + 1) / n_bins)
        out["confidence"].append(float(confidence[in_bin].mean()) if count else float("nan"))
        out["accuracy"].append(float(correct[in_bin].mean()) if count else float("nan"))
        out["count"].append(float(count))
    return out


def one_vs_rest_auc(y_true: Sequence[int] | np.ndarray, scores: np.ndarray, class_index: int) -> float | None:
    """ROC AUC of one class against the rest; None when the class is absent or is everything."""
    truth = _as_indices(y_true) == class_index
    if truth.all() or not truth.any():
        return None
    return float(roc_auc_score(truth, np.asarray(scores)[:, class_index]))


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    labels: Sequence[str],
    y_pred: Sequence[int] | np.ndarray | None = None,
) -> ClassificationMetrics:
    """Every figure of the evaluation report from true indices and (calibrated) probabilities.

    `y_pred` defaults to the arg-max of `probabilities`; pass it to score another decision rule.
    Per-class and confusion entries cover all `labels`, also those absent from this sample.
    """
    truth = _as_indices(y_true)
    probs = np.asarray(probabilities, dtype=np.float64)
    pred = _as_indices(y_pred) if y_pred is not None else probs.argmax(axis=1)
    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=indices, zero_division=0
    )
    # A class neither in the sample nor called has no scores: a test set without it says nothing of
    # it, and a zero there took a perfect model's macro F1 to 0.75 on a set lacking one class of four.
    seen = [i for i in indices if support[i] > 0 or (pred == i).any()]
    per_class: dict[str, ClassMetrics] = {
        label: {
            "precision": float(precision[i]) if i in seen else None,
            "recall": float(recall[i]) if i in seen else None,
            "f1": float(f1[i]) if i in seen else None,
            "auc": one_vs_rest_auc(truth, probs, i),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "n": int(truth.size),
        "accuracy": float(accuracy_score(truth, pred)) if truth.size else 0.0,
        "accuracy_95ci": wilson_interval(int((truth == pred).sum()), int(truth.size)),
        "weighted_f1": float(f1_score(truth, pred, labels=indices, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(truth, pred, labels=seen, average="macro", zero_division=0))
        if seen
        else 0.0,
        "cohen_kappa": cohen_kappa(truth, pred, indices),
        "ece": expected_calibration_error(truth, probs),
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(truth, pred, labels=indices).astype(int).tolist(),
        "per_class": per_class,
    }


def wilson_interval(successes: int, n: int, z: float = 1.96) -> list[float] | None:
    """The Wilson score interval (95% by default) of a proportion, [low, high]; None for n = 0.

    A sample of a few hundred says little near 1: 483 of 483 right gives [0.9921, 1.0], so an
    accuracy of 1.000 on val does not show an accuracy of 0.995 or more. Wilson's interval, unlike
    the normal approximation, stays inside [0, 1] and does not shrink to nothing at 0 or n successes.
    """
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def cohen_kappa(truth: np.ndarray, pred: np.ndarray, indices: list[int]) -> float:
    """Cohen's kappa over the class `indices`, a number in every case (0 for no images)."""
    if truth.size == 0:
        return 0.0
    # Kappa is undefined (nan) when chance agreement is 1 (one class everywhere); agreement is then perfect.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = cohen_kappa_score(truth, pred, labels=indices)
    return 1.0 if np.isnan(kappa) and np.array_equal(truth, pred) else float(np.nan_to_num(kappa))
