"""Out-of-distribution scores from the classifier's penultimate features and logits.

Main score: the Mahalanobis distance (Lee et al. 2018) of an image's features to the nearest training
class mean, under one covariance shared by the classes. Penultimate features have more dimensions
than we have training images (2,048 for ResNet50 against ~1,900 images), so the covariance is the
probabilistic-PCA one (Tipping & Bishop 1999): the `k` leading within-class principal directions
with their own variances, and one isotropic variance (the mean of the rest) for everything off that
subspace. It is well conditioned, needs no matrix inverse at run time, and stays small to store
(D x k), while still scoring the off-subspace residual that a stain or laboratory shift produces.

Also here: the energy score (Liu et al. 2020), `-logsumexp(logits)`, computed from logits alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

DEFAULT_COMPONENTS = 32
_EPS = 1e-6


@dataclass(frozen=True)
class MahalanobisModel:
    """Class means and a PPCA factor of the shared within-class covariance."""

    means: np.ndarray  # (C, D) training class means
    components: np.ndarray  # (D, k) orthonormal leading directions of the within-class scatter
    variances: np.ndarray  # (k,) variances along those directions
    residual_variance: float  # isotropic variance off the subspace

    @property
    def dimension(self) -> int:
        return int(self.means.shape[1])

    def class_distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row of `features` (n, D) to each class mean: (n, C)."""
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[1] != self.dimension:
            raise ValueError(f"Expected features of shape (n, {self.dimension}), got {feats.shape}.")
        diff = feats[:, None, :] - self.means[None, :, :]  # (n, C, D)
        proj = diff @ self.components  # (n, C, k)
        in_subspace = (proj**2 / self.variances).sum(axis=-1)
        residual = (diff**2).sum(axis=-1) - (proj**2).sum(axis=-1)
        return np.asarray(in_subspace + np.maximum(residual, 0.0) / self.residual_variance)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance to the nearest class mean, square-rooted and divided by sqrt(D) (n,).

        The normalisation keeps the numbers readable whatever the backbone: an in-distribution image
        scores about 1 on average.
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
        return cls(
            means=np.asarray(arrays["means"], dtype=np.float64),
            components=np.asarray(arrays["components"], dtype=np.float64),
            variances=np.asarray(arrays["variances"], dtype=np.float64).reshape(-1),
            residual_variance=float(np.asarray(arrays["residual_variance"]).reshape(-1)[0]),
        )


def fit_mahalanobis(
    features: np.ndarray, labels: np.ndarray, n_classes: int, n_components: int = DEFAULT_COMPONENTS
) -> MahalanobisModel:
    """Fit class means and the PPCA shared covariance on training features (n, D) and labels (n,)."""
    feats = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if feats.ndim != 2 or feats.shape[0] != y.size:
        raise ValueError("features must be (n, D) with one label per row.")
    n, dim = feats.shape
    means = np.zeros((n_classes, dim))
    for c in range(n_classes):
        rows = feats[y == c]
        # A class missing from the training features keeps the global mean, so it never wins unfairly.
        means[c] = rows.mean(axis=0) if len(rows) else feats.mean(axis=0)
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
