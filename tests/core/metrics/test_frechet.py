"""FrechetReference of fewer real images than feature dimensions: its low-rank route (the
reference's centered rows, the nuclear norm of an n x m cross product) against the d x d route
(the covariance's square root), with tolerances derived from the two routes' rounding. NumPy
only: no TensorFlow here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganime_core.metrics.frechet import FeatureStatistics, FrechetReference
from tests.support.features import EPS, C, fid_scale, random_features


def low_rank_tolerance(n: int, m: int, d: int, scale: float) -> float:
    """The low-rank route takes no square root of a rounding error: the cross product's entries
    are sums of d products, recentred over n and m rows, and each of its <= min(n, m) singular
    values is off by at most C (n + m + d) EPS S / 2 (||C_x||^1/2 ||C_ref||^1/2 <= S / 2);
    twice their sum, the traces and the mean gap adding as much again."""
    return 2.0 * C * min(n, m) * (n + m + d) * EPS * scale


def d_by_d_tolerance(n: int, d: int, scale: float) -> float:
    """The d x d route takes square roots of eigenvalues that are zero in exact arithmetic.

    1. eigh leaves the reference's d - m + 1 null directions at up to C d EPS ||C_ref||, and
       the matrix square root is 1/2-Hoelder with constant 1: A is off by sqrt(C d EPS
       ||C_ref||) in norm. Tr sqrt(A C_x A) = ||X_c A||_* / sqrt(n - 1) then moves by at most
       sqrt(k) ||X_c||_F ||dA|| / sqrt(n - 1) <= sqrt(k C d EPS) S / 2, k = min(n, d) the rank
       (nuclear norm <= sqrt(rank) x Frobenius norm).
    2. The k eigenvalues of A C_x A (eigvalsh, backward error E with ||E||_F <= C k EPS
       ||A C_x A||_F <= C k EPS (S / 2)^2) move by delta_i with sum delta_i^2 <= ||E||_F^2
       (Hoffman-Wielandt), their roots by sqrt|delta_i|, which sum to at most
       k^(3/4) (sum delta_i^2)^(1/4) <= k^(5/4) sqrt(C EPS) S / 2 (Hoelder).

    Twice the sum (FID holds -2 Tr sqrt), plus the linear rounding of the sums."""
    k = min(n, d)
    roots = math.sqrt(C * EPS) * (math.sqrt(k * d) + k**1.25) * scale
    return roots + low_rank_tolerance(n, n, d, scale)


@pytest.mark.parametrize(
    ("m", "n", "d"),
    [
        (24, 24, 512),
        (80, 24, 512),
        (80, 600, 512),
        pytest.param(24, 40, 2048, marks=pytest.mark.slow),  # 2048-d: over 4 s
    ],
)
def test_a_reference_of_fewer_images_than_dimensions_agrees_with_the_d_by_d_route(m, n, d) -> None:
    """Both routes of FrechetReference.distance: n <= d (the n x n eigvalsh) and n > d."""
    rng = np.random.default_rng(m + n + d)
    real, generated = random_features(rng, m, d), random_features(rng, n, d, shift=0.05)
    statistics = FeatureStatistics.of(real)
    d_by_d = FrechetReference(statistics).distance(generated)
    low_rank = FrechetReference.of(real).distance(generated)
    scale = fid_scale(generated, real)
    tolerance = d_by_d_tolerance(n, d, scale) + low_rank_tolerance(n, m, d, scale)
    assert low_rank == pytest.approx(d_by_d, abs=tolerance)
    assert low_rank > 0
    # The bound is loose against rounding, not against mistakes: the covariance divided by m
    # instead of m - 1 (a plausible slip) moves the distance far outside it.
    slip = FeatureStatistics(m, statistics.mean, statistics.comoment * (m - 1) / m)
    slipped = FrechetReference(slip).distance(generated)
    assert abs(slipped - d_by_d) > 10 * tolerance


def test_a_reference_is_at_distance_zero_from_its_own_rows() -> None:
    """C Y^T is then Y Y^T, positive semi-definite: its singular values are its eigenvalues,
    which sum to its trace, and the distance is zero up to linear rounding, far below the d x d
    route's square roots of rounding errors."""
    rng = np.random.default_rng(11)
    m, d = 40, 1024
    real = random_features(rng, m, d)
    scale = fid_scale(real, real)
    assert FrechetReference.of(real).distance(real) <= low_rank_tolerance(m, m, d, scale)


def test_more_images_than_dimensions_keep_the_d_by_d_route() -> None:
    rng = np.random.default_rng(12)
    real, generated = random_features(rng, 90, 64), random_features(rng, 30, 64, shift=0.1)
    expected = FrechetReference(FeatureStatistics.of(real)).distance(generated)
    assert FrechetReference.of(real).distance(generated) == expected  # the same arithmetic


def test_a_low_rank_reference_still_gives_its_covariance_and_root() -> None:
    """`covariance` and `root` are formed on request from the rows (rows^T rows, and the
    rows' SVD): sums of m products, and an SVD off by C (m + d) EPS ||rows||^2."""
    rng = np.random.default_rng(13)
    m, d = 20, 128
    real = random_features(rng, m, d)
    reference = FrechetReference.of(real)
    covariance = FeatureStatistics.of(real).covariance
    assert np.linalg.norm(reference.covariance - covariance) <= C * m * EPS * np.trace(covariance)
    squared = reference.root @ reference.root
    assert np.linalg.norm(squared - covariance) <= C * (m + d) * EPS * np.trace(covariance)
    assert reference.trace == pytest.approx(np.trace(covariance), rel=C * m * EPS)


def test_a_reference_refuses_what_it_cannot_describe() -> None:
    with pytest.raises(ValueError, match="m >= 2"):
        FrechetReference.of(np.ones((1, 8)))
    with pytest.raises(ValueError, match=r"\(n >= 2, 8\)"):
        FrechetReference.of(np.ones((3, 8))).distance(np.ones((3, 9)))
