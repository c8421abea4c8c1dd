"""Fitting the focus and noise check (`acquisition.py`) into a trust state (`trust.py`): at the end of
training (`fit_trust_arrays`), or afterwards for an artifact made before the check existed
(`manage.py fit_acquisition_check`). Its threshold spends what the other checks left of the
validation budget, so they stay as they were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .acquisition import acquisition_descriptor
from .classes import CLASS_CODES
from .ood import MahalanobisModel, fit_mahalanobis
from .trust import (
    ACQUISITION_COMPONENTS,
    MAX_FLAGGED_RATE,
    FeatureExtractor,
    TrustModel,
    checked_on_validation,
    collect_features,
    labelled_folders,
    progress_bar,
)


def threshold_within_budget(scores: np.ndarray, already_flagged: np.ndarray, budget: int) -> float:
    """The lowest threshold on `scores` (flag above) such that these rows flagged by it or already
    (`already_flagged`) are at most `budget`: it spends what the other checks left of the budget, on
    the most extreme rows first, at a value strictly between two observed scores."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = np.asarray(already_flagged, dtype=bool).copy()
    ordered = np.argsort(-scores, kind="stable")
    taken = 0
    for row in ordered:
        if not flagged[row]:
            if int(flagged.sum()) + 1 > budget:
                break
            flagged[row] = True
        taken += 1
    if taken == len(scores):
        return -math.inf
    if taken == 0:
        top = float(scores[ordered[0]])
        return top + 1e-6 * abs(top) + 1e-9
    return float((scores[ordered[taken - 1]] + scores[ordered[taken]]) / 2.0)


def with_acquisition_check(
    trust: TrustModel,
    train_acquisition: np.ndarray,
    train_labels: Sequence[int] | np.ndarray,
    val_acquisition: np.ndarray,
    val_flagged: Sequence[bool] | np.ndarray,
    max_flagged_rate: float = MAX_FLAGGED_RATE,
    n_classes: int = len(CLASS_CODES),
) -> TrustModel:
    """`trust` with the focus and noise check (`acquisition.py`): a Mahalanobis model of the training
    fields' descriptors, and a threshold that spends what the other checks left of the validation
    budget (`val_flagged`: the validation rows they flag), so those checks stay as they were."""
    fitted = fit_mahalanobis(train_acquisition, np.asarray(train_labels), n_classes, ACQUISITION_COMPONENTS)
    # Scored as it will be stored (float32 arrays): a threshold just above a score must stay above it.
    model = MahalanobisModel.from_arrays(fitted.to_arrays())
    scores = model.score(val_acquisition)
    flagged = np.asarray(val_flagged, dtype=bool)
    threshold = threshold_within_budget(scores, flagged, int(np.floor(max_flagged_rate * len(scores))))
    return replace(
        trust,
        acquisition=model,
        acquisition_threshold=threshold,
        val_flagged_rate=float((flagged | (scores > threshold)).mean()),
    )


def fit_acquisition_check(
    predictor: FeatureExtractor,
    trust: TrustModel,
    train_dir: str | Path,
    val_dir: str | Path,
    *,
    batch_size: int = 32,
    show_progress: bool = False,
) -> TrustModel:
    """`trust` with the focus and noise check fitted on these folders, for an artifact made before the
    check existed; its other thresholds stay as they are. Fitted again, the check replaces the old one.
    """
    from .evaluation import iter_prepared

    train, val = labelled_folders(train_dir, val_dir)
    bar = progress_bar(len(train) + len(val), show_progress)
    train_acquisition = []
    for image in iter_prepared(train):
        train_acquisition.append(acquisition_descriptor(image))
        if bar is not None:
            bar(1)
    val_set = collect_features(predictor, iter_prepared(val), batch_size, bar)
    without = replace(trust, acquisition=None, acquisition_threshold=math.inf)
    flagged = [row.flagged for row in without.assess(val_set.logits, val_set.features, val_set.colours)]
    fitted = with_acquisition_check(
        without, np.stack(train_acquisition), [label for _, label in train], val_set.acquisition, flagged
    )
    # As every trust fit ends: the accepted calls' accuracy recorded, or the fit refused.
    return checked_on_validation(
        fitted,
        val_set.logits,
        val_set.features,
        [label for _, label in val],
        val_set.colours,
        val_set.acquisition,
    )
