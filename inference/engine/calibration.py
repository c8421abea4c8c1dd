"""Temperature scaling (Guo et al. 2017): one scalar T that divides the logits, fitted on validation data.

It leaves the arg-max, hence accuracy, unchanged and only makes the confidence honest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from .errors import ModelArtifactError

# ln T is searched, so T stays positive; e^-5..e^5 (0.007..148) covers every network we have met, and
# a network trained to huge logits too (at e^3 = 20 the bound cut such a fit short, unreported).
_LOG_T_BOUNDS = (-5.0, 5.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax of logits / temperature along the last axis."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1))


def negative_log_likelihood(
    logits: np.ndarray, y_true: Sequence[int] | np.ndarray, temperature: float = 1.0
) -> float:
    """Mean NLL of the true classes under softmax(logits / temperature)."""
    truth = np.asarray(y_true, dtype=np.int64).reshape(-1)
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)
    return float(-logp[np.arange(truth.size), truth].mean())


def fit_temperature(logits: np.ndarray, y_true: Sequence[int] | np.ndarray) -> float:
    """The temperature minimising validation NLL (bounded 1-D search on ln T); 1.0 without errors.

    Logits holding NaN or infinity are refused (`ModelArtifactError`): the search would return a
    number that means nothing.
    """
    logits = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(y_true, dtype=np.int64).reshape(-1)
    bad = int(np.count_nonzero(~np.isfinite(logits).all(axis=-1)))
    if bad:
        raise ModelArtifactError(
            f"{bad} of {len(logits)} validation rows have logits that are not finite numbers (NaN or "
            "infinity): the temperature cannot be fitted on them; the model's outputs need checking."
        )
    if truth.size == 0 or (logits.argmax(axis=1) == truth).all():
        # With no error on validation the NLL keeps falling as T -> 0: it would sharpen every
        # output to certainty and says nothing about calibration, so the model's own scale stays.
        return 1.0
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, truth, float(np.exp(log_t))),
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))
