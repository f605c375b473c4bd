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

A reference of m <= d images (tests, smoke runs, small splits) needs no d x d work at all.
With Y the reference's centered features, S_ref = Y^T Y / (m - 1) has rank at most m - 1, and
the eigenvalues of S_ref^(1/2) S2 S_ref^(1/2) are the squared singular values of the n x m
matrix M = C Y^T / sqrt((n - 1)(m - 1)), so

    Tr sqrtm(S_ref S2) = ||M||_* (the sum of M's singular values),

the nuclear-norm identity bootstrap.py uses. `FrechetReference.of(features)` keeps Y and costs
O(m d) to build; an evaluation costs O(n m d) for M plus O(min(n, m)^2 max(n, m)) for its SVD,
against O(d^3) once (A's eigendecomposition, ~10 d^3 flops) and O(n d^2) per evaluation for the
d x d route. The cost rule: keep the rows when m <= d (cheaper in every term), the root when
m > d (then n d^2 < n m d per evaluation, and d^3 is paid once). The low-rank route also takes
no square root of a rounding error: the d x d eigendecomposition leaves d - m + 1 eigenvalues
of S_ref that are zero in exact arithmetic at O(d eps ||S_ref||), whose roots (O(sqrt(d eps)))
the d x d route carries into A; the two routes agree within that.
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
    """The Gaussian of a reference set, kept in the form that makes the Fréchet distance of many
    generated sets to it cheap: its covariance's square root A (built from statistics, or from
    more rows than dimensions), or its centered rows (from m <= d rows; see the module)."""

    def __init__(self, statistics: FeatureStatistics) -> None:
        covariance = statistics.covariance
        self.mean: np.ndarray = statistics.mean
        self.trace = float(np.trace(covariance))
        self._covariance: np.ndarray | None = covariance
        self._root: np.ndarray | None = _psd_sqrt(covariance)
        self._rows: np.ndarray | None = None  # Y / sqrt(m - 1): S_ref = rows^T rows

    @classmethod
    def of(cls, features: np.ndarray) -> FrechetReference:
        """The reference of a (m, d) set of feature vectors: its centered rows when m <= d,
        no d x d work; else `FrechetReference(FeatureStatistics.of(features))`."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"need (m >= 2, d) features, got shape {features.shape}")
        m, d = features.shape
        if m > d:
            return cls(FeatureStatistics.of(features))
        reference = cls.__new__(cls)
        reference.mean = features.mean(axis=0)
        rows = (features - reference.mean) / np.sqrt(m - 1)
        reference.trace = float(np.einsum("ij,ij->", rows, rows))
        reference._covariance = None
        reference._root = None
        reference._rows = rows
        return reference

    @property
    def covariance(self) -> np.ndarray:
        """S_ref, (d, d); formed on first use when the reference keeps its rows."""
        if self._covariance is None:
            assert self._rows is not None
            self._covariance = self._rows.T @ self._rows
        return self._covariance

    @property
    def root(self) -> np.ndarray:
        """A = S_ref^(1/2), (d, d); from the rows' SVD on first use when it keeps its rows:
        rows = U diag(s) V^T gives A = V diag(s) V^T."""
        if self._root is None:
            assert self._rows is not None
            _, singular, right = np.linalg.svd(self._rows, full_matrices=False)
            self._root = (right.T * singular) @ right
        return self._root

    def distance(self, features: np.ndarray) -> float:
        """Fréchet distance from the Gaussian fitted to `features` (n, d) to this one; equals
        `frechet_distance` on the two sets' statistics."""
        features = np.asarray(features, np.float64)
        n, d = features.shape
        if n < 2 or d != self.mean.shape[0]:
            raise ValueError(f"need (n >= 2, {self.mean.shape[0]}) features, got {features.shape}")
        mean = features.mean(axis=0)
        centered = features - mean
        trace2 = float(np.einsum("ij,ij->", centered, centered)) / (n - 1)
        if self._rows is not None:
            cross = centered @ self._rows.T  # (n, m): C Y^T / sqrt(m - 1)
            trace_sqrt = np.linalg.svd(cross, compute_uv=False).sum() / np.sqrt(n - 1)
        else:
            if n <= d:
                projected = centered @ self.root  # (n, d): C A
                middle = projected @ projected.T / (n - 1)  # (n, n): A S2 A's nonzero spectrum
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
