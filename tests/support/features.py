"""Feature sets like InceptionV3's, and the float64 rounding scale FID's tests bound errors by."""

from __future__ import annotations

import numpy as np

from ganime_core.metrics.frechet import FeatureStatistics

EPS = np.finfo(np.float64).eps
# A margin over the backward-error constants of the BLAS sums and LAPACK's eigh and SVD, which
# the bounds take as (number of terms) x EPS.
C = 10.0


def random_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    """Correlated, non-negative-ish features like pooled ReLU activations."""
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.abs(rng.normal(size=(n, d)) @ mixing + 0.5) + shift


def fid_scale(generated: np.ndarray, real: np.ndarray) -> float:
    """S = |mu_x - mu_y|^2 + tr C_x + tr C_y: every term of FID is at most S (the trace term is
    at most sqrt(tr C_x tr C_y) <= S / 2), so rounding errors are relative to S, not to FID."""
    x, y = FeatureStatistics.of(generated), FeatureStatistics.of(real)
    gap = x.mean - y.mean
    return float(gap @ gap + np.trace(x.covariance) + np.trace(y.covariance))
