"""Out-of-distribution scores from the classifier's penultimate features and logits.

Main score: the Mahalanobis distance (Lee et al. 2018) of an image's features to the nearest training
class mean, under one covariance shared by the classes. Penultimate features have more dimensions
than we have training images (2,048 for ResNet50 against ~1,900 images), so the covariance is the
probabilistic-PCA one (Tipping & Bishop 1999): the `k` leading within-class principal directions
with their own variances, and one isotropic variance (the mean of the rest) for everything off that
subspace. It is well conditioned, needs no matrix inverse at run time, and stays small to store
(D x k), while still scoring the off-subspace residual that a stain or laboratory shift produces.
A class without training rows has no mean (a row of NaN) and is infinitely far from everything: it
can never be the nearest class, so it cannot make a point between the real classes look familiar.

Also here: the energy score (Liu et al. 2020), `-logsumexp(logits)`, computed from logits alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

DEFAULT_COMPONENTS = 32
_EPS = 1e-6


@dataclass(frozen=True)
class MahalanobisModel:
    """Class means and a PPCA factor of the shared within-class covariance."""

    means: np.ndarray  # (C, D) training class means; a row of NaN for a class absent from training
    components: np.ndarray  # (D, k) orthonormal leading directions of the within-class scatter
    variances: np.ndarray  # (k,) variances along those directions
    residual_variance: float  # isotropic variance off the subspace

    @property
    def dimension(self) -> int:
        return int(self.means.shape[1])

    @property
    def present(self) -> np.ndarray:
        """(C,) bool: the classes that had training rows (a finite mean)."""
        return np.asarray(np.isfinite(self.means).all(axis=1))

    def class_distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row of `features` (n, D) to each class mean: (n, C);
        infinite to a class absent from training."""
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[1] != self.dimension:
            raise ValueError(f"Expected features of shape (n, {self.dimension}), got {feats.shape}.")
        present = self.present
        distances = np.full((feats.shape[0], self.means.shape[0]), np.inf)
        # A non-finite or huge feature gives NaN or infinity here, on purpose and without a warning:
        # `score` passes it on, and `TrustModel.assess` flags it.
        with np.errstate(invalid="ignore", over="ignore"):
            diff = feats[:, None, :] - self.means[None, present, :]  # (n, C present, D)
            proj = diff @ self.components  # (n, C present, k)
            in_subspace = (proj**2 / self.variances).sum(axis=-1)
            residual = (diff**2).sum(axis=-1) - (proj**2).sum(axis=-1)
            distances[:, present] = in_subspace + np.maximum(residual, 0.0) / self.residual_variance
        return distances

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance to the nearest class mean, square-rooted and divided by sqrt(D) (n,).

        The normalisation keeps the numbers readable whatever the backbone: an in-distribution image
        scores about 1 on average. A row with a non-finite feature scores NaN or infinity (never a
        small number): the caller must treat that as out of distribution (`TrustModel.assess` does).
        """
        d2 = self.class_distances(features).min(axis=1)
        return np.asarray(np.sqrt(d2 / self.dimension))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "means": self.means.astype(np.float32),
            "components": self.components.astype(np.float32),
            "variances": self.variances.astype(np.float32),
            "residual_variance": np.asarray([self.residual_variance], dtype=np.float32),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> MahalanobisModel:
        """Rebuild from `to_arrays`; ValueError, naming the array, for a state that cannot score."""
        model = cls(
            means=np.asarray(arrays["means"], dtype=np.float64),
            components=np.asarray(arrays["components"], dtype=np.float64),
            variances=np.asarray(arrays["variances"], dtype=np.float64).reshape(-1),
            residual_variance=float(np.asarray(arrays["residual_variance"]).reshape(-1)[0]),
        )
        model.check()
        return model

    def check(self) -> None:
        """ValueError unless the arrays fit together and can only give meaningful distances."""
        means, components = self.means, self.components
        if means.ndim != 2 or components.ndim != 2 or components.shape[0] != means.shape[1]:
            raise ValueError(f"means {means.shape} and components {components.shape} do not fit together.")
        if self.variances.shape != (components.shape[1],):
            raise ValueError(f"variances {self.variances.shape} do not fit components {components.shape}.")
        # Each class mean is finite, or all NaN for a class absent from training; one class at least.
        if not (np.isfinite(means) | np.isnan(means).all(axis=1, keepdims=True)).all():
            raise ValueError("means holds a non-finite number in a class that has a mean.")
        if not self.present.any():
            raise ValueError("means has no class with a mean.")
        if not np.isfinite(components).all():
            raise ValueError("components holds a non-finite number.")
        if not (np.isfinite(self.variances).all() and (self.variances > 0).all()):
            raise ValueError("variances must be positive finite numbers.")
        if not (math.isfinite(self.residual_variance) and self.residual_variance > 0):
            raise ValueError(
                f"residual_variance must be a positive finite number, not {self.residual_variance}."
            )


def fit_mahalanobis(
    features: np.ndarray, labels: np.ndarray, n_classes: int, n_components: int = DEFAULT_COMPONENTS
) -> MahalanobisModel:
    """Fit class means and the PPCA shared covariance on training features (n, D) and labels (n,).

    A class with no training row gets no mean (NaN), hence an infinite distance: it is never the
    nearest class. (A stand-in such as the global mean would lie between the real classes and make
    points there look in distribution.)
    """
    feats = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if feats.ndim != 2 or feats.shape[0] != y.size:
        raise ValueError("features must be (n, D) with one label per row.")
    if y.size == 0:
        raise ValueError("No training rows to fit the class means on.")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"Labels must be class indices in 0..{n_classes - 1}.")
    n, dim = feats.shape
    means = np.full((n_classes, dim), np.nan)
    for c in np.unique(y):
        means[c] = feats[y == c].mean(axis=0)
    centred = feats - means[y]
    k = int(max(1, min(n_components, dim - 1, n - 1)))
    # SVD of the centred data gives the within-class covariance eigen-pairs without forming D x D.
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    eigen = singular**2 / max(n - 1, 1)
    total = float(centred.var(axis=0, ddof=1).sum()) if n > 1 else 0.0
    rest = max(total - float(eigen[:k].sum()), 0.0) / max(dim - k, 1)
    floor = max(total / dim, _EPS) * 1e-3
    residual_variance = max(rest, floor)
    variances = np.maximum(eigen[:k], residual_variance)
    return MahalanobisModel(
        means=means, components=vt[:k].T, variances=variances, residual_variance=residual_variance
    )


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Energy, -T * logsumexp(logits / T): higher means less like the training data (n,)."""
    z = np.asarray(logits, dtype=np.float64)
    return np.asarray(-temperature * logsumexp(z / temperature, axis=-1))
