"""How sure a compare's numbers are: bootstrap replicates of FID, KID, SSIM and the colour
metrics over the test images, a confidence interval that combines them with the spread over
seeds, and the test of a difference between two methods with Holm's correction over all
pairs. NumPy and SciPy only.

**Replicates.** Every seed of every method is measured on the same n test images, so the spread
over seeds says nothing about which images the test set happened to hold. Replicate b resamples
the n images with replacement (an image is the unit: the same row indices pick the generated
outputs, the real images and the per-image SSIMs) and recomputes each metric. The indices come
from `resample_indices(n, B, seed)`, the same for every method and seed of a compare: a paired
bootstrap, so two methods' replicate b are measured on the same resample.

**FID per replicate, cheaply.** FID = |mu_x - mu_y|^2 + tr C_x + tr C_y - 2 tr sqrt(C_x^1/2 C_y
C_x^1/2). With X_c, Y_c the centred feature rows of n generated and m real images, C_x = X_c^T
X_c / (n-1) and C_y = Y_c^T Y_c / (m-1), the eigenvalues of C_x^1/2 C_y C_x^1/2 are the squared
singular values of M = X_c Y_c^T / sqrt((n-1)(m-1)), so the trace term is M's nuclear norm (the
sum of its singular values): an n x m problem instead of a d x d one (d = 2048), and no square
root of a rounding error. A resample holds u ~ 0.63 n distinct images, image i c_i times; with
R the u distinct rows centred by the resample's mean, X_c Y_c^T = E (R_x R_y^T) E^T for the
n x u selection E, E^T E = diag(c), so M has the singular values of diag(sqrt c) R_x R_y^T
diag(sqrt c) / (n-1), a u x u matrix. R_x R_y^T is the distinct rows' block of one n x n cross
product X0 Y0^T computed once (X0, Y0 centred by the full set's means), recentred with the
resample's weights in O(u^2): a replicate costs one u x u SVD.

**KID per replicate** is the unbiased MMD^2 (KID's cubic kernel) over all n resampled images:
what `kid` returns when its subsets hold every image (its subset mean estimates the same
quantity), from the three n x n kernel matrices computed once: O(n^2) a replicate. **SSIM,
part_delta_e and ab_distance per replicate** are the means of the resampled per-image values
(images without a value left out); **swap per replicate** is the ratio of the resampled sums
of its per-image numerator and denominator, as the metric itself is.

**A method's interval.** With k seeds, values v_1..v_k and replicates r_sb (seed s, resample
b): the estimate is the mean over seeds, v̄; its variance is

    V = s^2 / k + Var_b(r̄_b),   r̄_b = mean over seeds of r_sb,

the seed term (s the standard deviation over seeds; test-set sampling is common to the seeds
and absent from it) plus the bootstrap term (the test-set sampling of the seed mean; every seed
resampled alike). Only the bootstrap's variance is used, not its mean: a resample holds fewer
distinct images and FID is biased upwards with fewer images, so FID's replicates sit above
the estimate. The 95% interval is v̄ ± t(0.975, nu) sqrt(V), nu the Welch-Satterthwaite
degrees of freedom of V's terms (as in the GUM's effective degrees of freedom): k - 1 for the
seed term, n - 1 for the bootstrap term (a variance estimated from n images),

    nu = V^2 / ((s^2/k)^2 / (k - 1) + Var_b^2 / (n - 1)).

With the bootstrap term 0 this is Student's t with k - 1; with one seed (no seed term) or seeds
that agree exactly it is t with n - 1 (about normal), without a jump between the two.

**A difference.** Methods A and B, d = v̄_A - v̄_B, se^2 = s_A^2/k_A + s_B^2/k_B + Var_b(r̄_A,b -
r̄_B,b) (the paired bootstrap's variance of the difference: what the two methods' test-set
sampling shares cancels), Welch's t = d / se with nu by Welch-Satterthwaite over the same
three terms (k_A - 1, k_B - 1, n - 1), two-sided p = 2 P(T_nu > |t|); across all pairs of a
metric the p-values are adjusted by Holm's step-down method (family-wise error at 0.05).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from ganime_core.metrics.kernel_distance import polynomial_kernel

RESAMPLE_SEED = 20_250_920  # every compare's resamples: paired across methods and seeds
CONFIDENCE = 0.95
ALPHA = 0.05  # a difference is significant when its Holm-adjusted p is at most this


def resample_indices(n: int, replicates: int, seed: int = RESAMPLE_SEED) -> np.ndarray:
    """(replicates, n) row indices, each row n draws with replacement from 0..n-1: resample b
    takes image indices[b] (generated, real and SSIM alike). The same (n, replicates, seed)
    gives the same indices on any machine (NumPy's PCG64)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(replicates, n))


class PairedFeatures:
    """The backbone features of n generated images and of the n real images they are measured
    against, row i of both the same test image, with the n x n products every replicate reuses.
    `fid(counts)` and `kid(counts)` are the metrics of the resample that holds image i counts[i]
    times (counts summing to n)."""

    def __init__(self, generated: np.ndarray, real: np.ndarray) -> None:
        x = np.asarray(generated, np.float64)
        y = np.asarray(real, np.float64)
        if x.ndim != 2 or x.shape != y.shape:
            raise ValueError(
                f"need generated and real features of one (n, d) shape, row i the same image; "
                f"got {x.shape} and {y.shape}"
            )
        self.n, self.d = x.shape
        if self.n < 2:
            raise ValueError(f"a resample needs at least 2 images, got {self.n}")
        # Centred by the full set's means before any product: the resample's own centring then
        # moves the rows by little, so it cancels few digits.
        self._x0 = x - x.mean(axis=0)
        self._y0 = y - y.mean(axis=0)
        self._mean_gap = x.mean(axis=0) - y.mean(axis=0)
        self._x0_norms = np.einsum("ij,ij->i", self._x0, self._x0)
        self._y0_norms = np.einsum("ij,ij->i", self._y0, self._y0)
        self._cross = self._x0 @ self._y0.T  # (n, n) X0 Y0^T
        self._kernel_xx = polynomial_kernel(x, x)
        self._kernel_yy = polynomial_kernel(y, y)
        self._kernel_xy = polynomial_kernel(x, y)

    def _checked(self, counts: np.ndarray) -> np.ndarray:
        counts = np.asarray(counts)
        if counts.shape != (self.n,) or counts.sum() != self.n or (counts < 0).any():
            raise ValueError(f"counts must be {self.n} non-negative integers summing to {self.n}")
        return counts

    def fid(self, counts: np.ndarray) -> float:
        """FID between the resample's generated and real images (each Gaussian fitted with the
        resample's duplicates, covariances with n - 1), as `FrechetReference.distance` computes
        it on the resampled rows."""
        counts = self._checked(counts)
        n = self.n
        rows = np.flatnonzero(counts)
        weights = counts[rows].astype(np.float64)
        share = weights / n
        x0, y0 = self._x0[rows], self._y0[rows]
        mean_x0, mean_y0 = share @ x0, share @ y0  # the resample's means, less the full set's
        gap = self._mean_gap + mean_x0 - mean_y0
        trace_x = (weights @ self._x0_norms[rows] - n * (mean_x0 @ mean_x0)) / (n - 1)
        trace_y = (weights @ self._y0_norms[rows] - n * (mean_y0 @ mean_y0)) / (n - 1)
        # (x0_i - mean_x0) . (y0_j - mean_y0) from the stored x0_i . y0_j
        block = self._cross[np.ix_(rows, rows)]
        row_terms = block @ share  # x0_i . mean_y0
        column_terms = share @ block  # mean_x0 . y0_j
        centred = block - row_terms[:, None] - column_terms[None, :] + share @ row_terms
        root = np.sqrt(weights)
        middle = root[:, None] * centred * root[None, :] / (n - 1)
        nuclear = np.linalg.svd(middle, compute_uv=False).sum()
        distance = gap @ gap + trace_x + trace_y - 2.0 * nuclear
        return float(max(distance, 0.0))  # >= 0 in exact arithmetic, as frechet.py clips

    def kid(self, counts: np.ndarray) -> float:
        """The unbiased MMD^2 of `kid` between the resample's generated and real images, all n
        of them in one subset (a resampled image and its duplicate are two samples)."""
        counts = self._checked(counts).astype(np.float64)
        n = self.n

        def within(kernel: np.ndarray) -> float:
            # All ordered pairs of the n resampled positions but a position with itself.
            return (counts @ kernel @ counts - counts @ np.diag(kernel)) / (n * (n - 1))

        between = counts @ self._kernel_xy @ counts / (n * n)
        return float(within(self._kernel_xx) + within(self._kernel_yy) - 2.0 * between)


@dataclass(frozen=True)
class Replicates:
    """A run's bootstrap replicates: each metric's value on each of the compare's resamples of
    its n test images, drawn from `seed`. Runs whose replicates share (seed, n, count) were
    resampled alike: their replicate b pairs."""

    seed: int
    n: int
    # objective (fid, kid, ssim, part_delta_e, ...) -> one value per resample; a metric the run
    # did not measure (SSIM on unpaired files) is absent
    values: dict[str, tuple[float, ...]]
    seconds: float = 0.0  # what computing them took

    @property
    def count(self) -> int:
        return len(self.values["fid"])

    def of(self, objective: str) -> tuple[float, ...]:
        """The replicates of `objective`; () if the run did not measure it."""
        return self.values.get(objective, ())

    def pairs_with(self, other: Replicates) -> bool:
        """Whether replicate b of both came from the same resample."""
        return (self.seed, self.n, self.count) == (other.seed, other.n, other.count)

    def to_record(self) -> dict[str, Any]:
        values = {objective: list(values) for objective, values in self.values.items()}
        return {"seed": self.seed, "n": self.n, "values": values, "seconds": self.seconds}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Replicates:
        values = {
            objective: tuple(map(float, replicates))
            for objective, replicates in record["values"].items()
        }
        return cls(int(record["seed"]), int(record["n"]), values, float(record["seconds"]))


def bootstrap_replicates(
    generated: np.ndarray,
    real: np.ndarray,
    replicates: int,
    seed: int = RESAMPLE_SEED,
    *,
    per_image: dict[str, np.ndarray] | None = None,
    ratios: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Replicates:
    """FID, KID and per-image metrics on `replicates` resamples of the n test images:
    `generated` and `real` their (n, d) features; `per_image`: metrics that are a mean over
    images (SSIM, part_delta_e, ...), each (n,), NaN where an image has no value (its resampled
    copies are left out of the mean); `ratios`: metrics that are a ratio of sums over images
    (swap: sum moved / sum differ), each a (numerator, denominator) pair of (n,). An empty array
    is a metric not measured."""
    started = time.perf_counter()
    paired = PairedFeatures(generated, real)
    means = {k: _per_image(k, v, paired.n) for k, v in (per_image or {}).items() if np.size(v)}
    quotients = {
        k: (_per_image(k, top, paired.n), _per_image(k, bottom, paired.n))
        for k, (top, bottom) in (ratios or {}).items()
        if np.size(top)
    }
    values: dict[str, list[float]] = {key: [] for key in ("fid", "kid", *means, *quotients)}
    for indices in resample_indices(paired.n, replicates, seed):
        counts = np.bincount(indices, minlength=paired.n)
        values["fid"].append(paired.fid(counts))
        values["kid"].append(paired.kid(counts))
        for key, x in means.items():
            finite = np.isfinite(x)
            weights = counts * finite
            total = weights.sum()
            values[key].append(
                float(weights @ np.where(finite, x, 0.0) / total) if total else math.nan
            )
        for key, (top, bottom) in quotients.items():
            finite = np.isfinite(top) & np.isfinite(bottom)
            weights = counts * finite
            below = float(weights @ np.where(finite, bottom, 0.0))
            above = float(weights @ np.where(finite, top, 0.0))
            values[key].append(above / below if below > 0 else math.nan)
    seconds = time.perf_counter() - started
    return Replicates(seed, paired.n, {k: tuple(v) for k, v in values.items()}, seconds)


def _per_image(name: str, values: np.ndarray, n: int) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if values.shape != (n,):
        raise ValueError(f"need one {name} per image ({n}), got shape {values.shape}")
    return values


# --- A method's interval and a difference's test ------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A metric of one method over k seeds, with the variance of its mean from the spread over
    seeds and (when given) the bootstrap over test images; see the module's formulas."""

    values: tuple[float, ...]  # one per seed
    replicate_means: tuple[float, ...] = ()  # r̄_b: mean over the seeds of replicate b
    images: int = 0  # n, the test images resampled (the bootstrap term's n - 1 df)

    @property
    def k(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation over seeds (None below two)."""
        return float(np.std(self.values, ddof=1)) if self.k >= 2 else None

    @property
    def bootstrap_variance(self) -> float | None:
        """Var_b(r̄_b): the test-set sampling variance of the mean over seeds."""
        return _variance(self.replicate_means)

    def _terms(self) -> list[tuple[float, float]]:
        return _terms([(self.std, self.k)], self.bootstrap_variance, self.images)

    @property
    def standard_error(self) -> float | None:
        """sqrt(s^2/k + Var_b); None when neither term is known (one seed, no bootstrap)."""
        terms = self._terms()
        return math.sqrt(sum(v for v, _ in terms)) if terms and self.mean is not None else None

    @property
    def df(self) -> float:
        return satterthwaite(self._terms())

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% interval v̄ ± t(0.975, nu) se; None without a standard error."""
        se = self.standard_error
        if se is None or self.mean is None:
            return None
        half = quantile(self.df) * se
        return self.mean - half, self.mean + half

    @property
    def source(self) -> str:
        """What the interval covers, for a table's note."""
        if self.bootstrap_variance is not None:
            return "seeds and test images" if self.std is not None else "test images only"
        return "seeds only" if self.std is not None else "nothing (one seed)"


def _variance(values: Sequence[float]) -> float | None:
    return float(np.var(values, ddof=1)) if len(values) >= 2 else None


def _terms(
    seeds: list[tuple[float | None, int]], bootstrap: float | None, images: int
) -> list[tuple[float, float]]:
    """(variance, degrees of freedom) of each known term: s^2/k with k - 1 for each seed term
    with a std, and the bootstrap's with n - 1."""
    terms = [(std**2 / k, float(k - 1)) for std, k in seeds if std is not None and k >= 2]
    if bootstrap is not None:
        terms.append((bootstrap, float(max(images - 1, 1))))
    return terms


def satterthwaite(terms: list[tuple[float, float]]) -> float:
    """Welch-Satterthwaite: the degrees of freedom of a sum of variance estimates, each with its
    own; at least 1, infinite when every term is 0."""
    total = sum(v for v, _ in terms)
    denominator = sum(v * v / df for v, df in terms)
    if denominator == 0.0:
        return math.inf
    return max(1.0, total * total / denominator)


def quantile(df: float) -> float:
    """The two-sided 95% quantile of Student's t with `df` (normal when infinite)."""
    upper = 0.5 + CONFIDENCE / 2
    return float(scipy.stats.norm.ppf(upper) if math.isinf(df) else scipy.stats.t.ppf(upper, df))


@dataclass(frozen=True)
class Difference:
    """Welch's t over seeds for A - B, the paired bootstrap's variance of the difference added
    to its standard error (module docstring)."""

    difference: float
    standard_error: float
    df: float
    p: float
    seed_terms: int  # how many methods' seed spreads entered (a method with one seed has none)
    bootstrap: bool  # whether the paired bootstrap's term entered

    @property
    def t(self) -> float:
        if self.standard_error == 0.0:
            return 0.0 if self.difference == 0.0 else math.copysign(math.inf, self.difference)
        return self.difference / self.standard_error


def difference_test(a: Estimate, b: Estimate) -> Difference | None:
    """The test of mean_A = mean_B; None when nothing measures its uncertainty (one seed each
    and no paired bootstrap). `a` and `b` must have been resampled alike (their replicate b on
    the same resample) for their bootstrap terms to pair; pass replicate_means=() otherwise."""
    if a.mean is None or b.mean is None:
        return None
    paired = len(a.replicate_means) == len(b.replicate_means) >= 2
    gaps = np.subtract(a.replicate_means, b.replicate_means) if paired else ()
    terms = _terms(
        [(a.std, a.k), (b.std, b.k)], _variance(gaps) if paired else None, min(a.images, b.images)
    )
    if not terms:
        return None
    difference = a.mean - b.mean
    variance = sum(v for v, _ in terms)
    df = satterthwaite(terms)
    if variance == 0.0:  # nothing varies: equal is equal, different is different
        p = 1.0 if difference == 0.0 else 0.0
    else:
        statistic = abs(difference) / math.sqrt(variance)
        tail = scipy.stats.norm.sf(statistic) if math.isinf(df) else scipy.stats.t.sf(statistic, df)
        p = float(min(1.0, 2.0 * tail))
    seed_terms = sum(1 for e in (a, b) if e.std is not None)
    return Difference(difference, math.sqrt(variance), df, p, seed_terms, paired)


def holm_adjusted(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order: the i-th smallest of m is
    multiplied by m - i + 1, capped at 1 and made non-decreasing in that order. Rejecting
    where adjusted p <= alpha keeps the family-wise error rate at alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted
