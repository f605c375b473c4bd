"""Fréchet distance between Gaussians fitted to features, and the streaming statistics behind it.

The paper computes FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) with scipy.linalg.sqrtm.
S1 S2 is not symmetric, so sqrtm runs a Schur decomposition in complex arithmetic: slow at 2048-d,
and complex or NaN when a covariance is singular. Only the trace of the root is
needed, and S1 S2 is similar to the symmetric positive semi-definite A S2 A with A = S1^(1/2), so

    Tr sqrtm(S1 S2) = sum_i sqrt(lambda_i(A S2 A)),

which two symmetric eigendecompositions give in real arithmetic, several times faster, and with
tiny negative eigenvalues from rounding clipped to zero, finite for singular covariances.

Training evaluations compare many generated sets with one reference: `FrechetReference` keeps
A = S_ref^(1/2), leaving one eigendecomposition per evaluation. With n generated images fewer
than the d feature dimensions, S2 = C^T C / (n - 1) for the centered features C, and the nonzero
eigenvalues of A S2 A are those of the n x n matrix (C A)(C A)^T / (n - 1): the same trace
from an n x n problem instead of a d x d one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), via symmetric eigensolvers."""
    mu1, mu2, sigma1, sigma2 = _checked(mu1, sigma1, mu2, sigma2)
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)  # symmetrized against rounding
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))  # >= 0 in exact arithmetic; rounding may dip below


def frechet_distance_sqrtm(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The paper's formula with scipy.linalg.sqrtm, as in pytorch-fid; the reference that
    `frechet_distance` is checked against. Slow, and unreliable for singular covariances."""
    mu1, mu2, sigma1, sigma2 = _checked(mu1, sigma1, mu2, sigma2)
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root).real)


def _checked(mu1, sigma1, mu2, sigma2) -> tuple[np.ndarray, ...]:
    mu1, mu2 = (np.atleast_1d(np.asarray(mu, np.float64)) for mu in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(sigma, np.float64)) for sigma in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"need two means of shape (d,) and covariances of shape (d, d); got {mu1.shape}, "
            f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    return mu1, mu2, sigma1, sigma2


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


class FrechetReference:
    """The Gaussian of a reference set with its covariance's square root computed once, for the
    Fréchet distance of many generated sets to it."""

    def __init__(self, statistics: FeatureStatistics) -> None:
        self.mean = statistics.mean
        self.covariance = statistics.covariance
        self.root = _psd_sqrt(self.covariance)
        self.trace = float(np.trace(self.covariance))

    def distance(self, features: np.ndarray) -> float:
        """Fréchet distance from the Gaussian fitted to `features` (n, d) to this one; equals
        `frechet_distance` on the two sets' statistics."""
        features = np.asarray(features, np.float64)
        n, d = features.shape
        if n < 2 or d != self.mean.shape[0]:
            raise ValueError(f"need (n >= 2, {self.mean.shape[0]}) features, got {features.shape}")
        mean = features.mean(axis=0)
        centered = features - mean
        if n <= d:
            projected = centered @ self.root  # (n, d): C A
            middle = projected @ projected.T / (n - 1)  # (n, n), same nonzero spectrum as A S2 A
            trace2 = float(np.einsum("ij,ij->", centered, centered)) / (n - 1)
        else:
            covariance = centered.T @ centered / (n - 1)
            middle = self.root @ covariance @ self.root
            trace2 = float(np.trace(covariance))
        eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
        trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
        diff = mean - self.mean
        distance = diff @ diff + trace2 + self.trace - 2.0 * trace_sqrt
        return float(max(distance, 0.0))


@dataclass
class FeatureStatistics:
    """Count, mean and covariance of feature vectors, accumulated batch by batch in float64.

    Memory is O(d^2) whatever the number of samples. Two accumulators merge exactly (Chan et al.'s
    pairwise update), so shards computed on different workers combine into the statistics of all
    their samples: `a.merge(b)` equals the statistics of a's and b's samples together up to float
    rounding.
    """

    count: int
    mean: np.ndarray  # (d,)
    comoment: np.ndarray  # (d, d): sum over samples of (x - mean)(x - mean)^T

    @classmethod
    def empty(cls, dim: int) -> FeatureStatistics:
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStatistics:
        """Statistics of a (n, d) batch of feature vectors."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise ValueError(f"features must be (n, d), got shape {features.shape}")
        mean = features.mean(axis=0)
        centered = features - mean
        return cls(len(features), mean, centered.T @ centered)

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased sample covariance (ddof=1), as numpy.cov and the reference FID code use."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples, have {self.count}")
        return self.comoment / (self.count - 1)

    def update(self, features: np.ndarray) -> FeatureStatistics:
        """Add a (n, d) batch in place; returns self."""
        merged = self.merge(FeatureStatistics.of(features))
        self.count, self.mean, self.comoment = merged.count, merged.mean, merged.comoment
        return self

    def merge(self, other: FeatureStatistics) -> FeatureStatistics:
        """Statistics of both sets of samples; neither operand changes."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge {self.dim}-d and {other.dim}-d statistics")
        if other.count == 0:
            return FeatureStatistics(self.count, self.mean.copy(), self.comoment.copy())
        if self.count == 0:
            return FeatureStatistics(other.count, other.mean.copy(), other.comoment.copy())
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        weight = self.count * other.count / count
        comoment = self.comoment + other.comoment + np.outer(delta, delta) * weight
        return FeatureStatistics(count, mean, comoment)

    def distance(self, other: FeatureStatistics) -> float:
        """Fréchet distance between the Gaussians fitted to the two sets."""
        return frechet_distance(self.mean, self.covariance, other.mean, other.covariance)
