"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel.

FID's estimator is biased upwards at the few hundred images a sweep evaluates on, by an amount that
depends on the sample size; KID's is unbiased, so trials evaluated on different numbers of images
can still be ranked. Reported as the mean and standard deviation over random subsets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class KernelDistance(NamedTuple):
    mean: float
    std: float


def kid(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KernelDistance:
    """Unbiased MMD^2 between two (n, d) feature sets with k(x, y) = (x.y / d + 1)^3.

    Each of `subsets` rounds draws min(subset_size, n_a, n_b) rows from each set without
    replacement (seeded); the result is the mean and standard deviation over rounds.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (n, d) feature sets of equal d; got {a.shape} and {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set; got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    estimates = np.array(
        [
            _mmd2_unbiased(
                a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
            )
            for _ in range(subsets)
        ]
    )
    return KernelDistance(float(estimates.mean()), float(estimates.std()))


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's kernel between the rows of a and b: k(x, y) = (x.y / d + 1)^3."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    # Within-set sums leave out the diagonal (a sample against itself): that is the unbiasing.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())
