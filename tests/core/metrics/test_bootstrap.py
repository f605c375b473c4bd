"""Bootstrap replicates over test images, a method's interval and the corrected test of a
difference: the FID identity against frechet.py, KID against kid(), and the statistics on
numbers worked by hand. NumPy and SciPy only: no TensorFlow here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from ganime_core.metrics.bootstrap import (
    Estimate,
    PairedFeatures,
    Replicates,
    bootstrap_replicates,
    difference_test,
    holm_adjusted,
    resample_indices,
    satterthwaite,
)
from ganime_core.metrics.frechet import FeatureStatistics, FrechetReference
from ganime_core.metrics.kernel_distance import kid
from tests.support.features import EPS, C, fid_scale, random_features


def linear_tolerance(n: int, d: int, scale: float) -> float:
    """Rounding of sums and singular values, no square roots: each of the <= n singular values
    of the n x n cross product (entries sums of d products, recentred with n terms) is off by
    at most C (n + d) EPS scale; twice their sum."""
    return 2.0 * C * n * (n + d) * EPS * scale


def frechet_tolerance(n: int, d: int, scale: float) -> float:
    """frechet.py takes square roots of eigenvalues that are zero in exact arithmetic (the
    resample's duplicates and centring leave the covariances singular): an eigenvalue off by
    delta moves its root by up to sqrt(delta) (the square root, of numbers and of PSD matrices,
    is 1/2-Hoelder with constant 1). The reference's root (d x d eigh, delta <= C d EPS
    ||C_ref||) and its n x n eigvalsh (delta <= C n EPS ||A C_x A||) each move the <= min(n, d)
    roots by at most sqrt(C d EPS) S / 2 and sqrt(C n EPS) S / 2; twice their sum, plus the
    linear rounding of both computations."""
    roots = min(n, d) * math.sqrt(C * EPS) * (math.sqrt(d) + math.sqrt(n)) * scale
    return roots + 2.0 * linear_tolerance(n, d, scale)


def resampled(n: int, seed: int = 7) -> list[np.ndarray]:
    """The identity (no resampling) and three resamples with duplicates."""
    return [np.arange(n), *resample_indices(n, 3, seed)]


@pytest.mark.parametrize(("n", "d"), [(48, 64), (40, 300), (200, 16)])
def test_a_replicates_fid_is_the_fid_frechet_py_gives_the_resampled_rows(n, d) -> None:
    """Fewer images than dimensions (the compare's case: 48 x 2048), and more (d x d route)."""
    rng = np.random.default_rng(n + d)
    generated, real = random_features(rng, n, d, shift=0.1), random_features(rng, n, d)
    paired = PairedFeatures(generated, real)
    for indices in resampled(n):
        counts = np.bincount(indices, minlength=n)
        x, y = generated[indices], real[indices]
        expected = FrechetReference(FeatureStatistics.of(y)).distance(x)  # as Evaluator scores
        scale = fid_scale(x, y)
        assert paired.fid(counts) == pytest.approx(expected, abs=frechet_tolerance(n, d, scale))
        # The identity itself, without frechet.py's square roots: the nuclear norm of
        # X_c Y_c^T / (n - 1) on the resampled rows, duplicates and all.
        xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
        nuclear = np.linalg.svd(xc @ yc.T / (n - 1), compute_uv=False).sum()
        gap = x.mean(axis=0) - y.mean(axis=0)
        direct = gap @ gap + (np.sum(xc**2) + np.sum(yc**2)) / (n - 1) - 2 * nuclear
        assert paired.fid(counts) == pytest.approx(direct, abs=linear_tolerance(n, d, scale))


def test_the_tolerance_would_catch_a_wrong_formula() -> None:
    """The bound is loose against rounding, not against mistakes: covariances divided by n
    instead of n - 1 move FID by far more than it allows."""
    from ganime_core.metrics.frechet import frechet_distance

    rng = np.random.default_rng(0)
    n, d = 48, 64
    generated, real = random_features(rng, n, d, shift=0.1), random_features(rng, n, d)
    right = FrechetReference(FeatureStatistics.of(real)).distance(generated)
    x, y = FeatureStatistics.of(generated), FeatureStatistics.of(real)
    wrong = frechet_distance(
        x.mean, x.comoment / n, y.mean, y.comoment / n
    )  # ddof=0, a plausible slip
    assert abs(wrong - right) > 100 * frechet_tolerance(n, d, fid_scale(generated, real))


def test_a_replicates_kid_is_kid_on_the_resampled_rows_in_one_subset() -> None:
    rng = np.random.default_rng(1)
    n, d = 40, 32
    generated, real = random_features(rng, n, d, shift=0.1), random_features(rng, n, d)
    paired = PairedFeatures(generated, real)
    for indices in resampled(n):
        x, y = generated[indices], real[indices]
        expected = kid(x, y, subsets=1, subset_size=n).mean  # one subset: every row, permuted
        # Sums of n^2 kernel values, each a d-term product cubed: relative to their size.
        size = np.mean([np.abs((a @ b.T / d + 1) ** 3).mean() for a, b in ((x, x), (y, y), (x, y))])
        tolerance = C * (n * n + d) * EPS * 4 * size
        counts = np.bincount(indices, minlength=n)
        assert paired.kid(counts) == pytest.approx(expected, abs=tolerance)


def test_replicates_resample_images_alike_for_every_run() -> None:
    rng = np.random.default_rng(2)
    n, d = 30, 16
    generated, real = random_features(rng, n, d, shift=0.2), random_features(rng, n, d)
    ssims = rng.uniform(0.3, 0.9, n)
    errors = rng.uniform(5.0, 40.0, n)
    errors[4] = np.nan  # an image without a measurable part: out of every mean it lands in
    moved, differ = rng.uniform(0.0, 10.0, n), rng.uniform(5.0, 20.0, n)
    first = bootstrap_replicates(
        generated,
        real,
        replicates=20,
        seed=5,
        per_image={"ssim": ssims, "part_delta_e": errors},
        ratios={"swap": (moved, differ)},
    )
    again = bootstrap_replicates(generated, real, 20, 5, per_image={"ssim": ssims})
    assert first.of("fid") == again.of("fid") and first.count == 20 and first.pairs_with(again)
    indices = resample_indices(n, 20, seed=5)
    # Float64 means of 30 values: a few ulps of the values.
    assert first.of("ssim") == pytest.approx([ssims[i].mean() for i in indices], rel=1e-12)
    assert first.of("part_delta_e") == pytest.approx(
        [np.nanmean(errors[i]) for i in indices], rel=1e-12
    )
    assert first.of("swap") == pytest.approx(
        [moved[i].sum() / differ[i].sum() for i in indices], rel=1e-12
    )
    assert first.of("fid")[3] == pytest.approx(
        FrechetReference(FeatureStatistics.of(real[indices[3]])).distance(generated[indices[3]]),
        abs=frechet_tolerance(n, d, fid_scale(generated[indices[3]], real[indices[3]])),
    )
    other = bootstrap_replicates(generated, real, 20, 6, per_image={"ssim": np.zeros(0)})
    assert other.of("ssim") == () and not other.pairs_with(first)
    assert Replicates.from_record(first.to_record()) == first
    with pytest.raises(ValueError, match="one part_delta_e per image"):
        bootstrap_replicates(generated, real, 2, per_image={"part_delta_e": errors[:-1]})
    with pytest.raises(ValueError, match="row i the same image"):
        PairedFeatures(generated, real[:-1])


# --- intervals and tests on numbers worked by hand ------------------------------------------------


def test_an_interval_over_seeds_alone_is_students_t() -> None:
    estimate = Estimate((1.0, 2.0, 3.0))
    assert estimate.mean == 2.0 and estimate.std == pytest.approx(1.0)
    assert estimate.df == 2.0 and estimate.source == "seeds only"
    half = scipy.stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # 4.303 / sqrt(3)
    assert estimate.interval == pytest.approx((2.0 - half, 2.0 + half))


def test_the_bootstrap_term_adds_to_the_seed_term_with_welch_satterthwaite_df() -> None:
    replicate_means = (1.8, 2.2, 2.0, 1.6, 2.4)  # Var_b = 0.1
    estimate = Estimate((1.0, 2.0, 3.0), replicate_means, images=48)
    seed_term, boot_term = 1.0 / 3, 0.1
    variance = seed_term + boot_term
    df = variance**2 / (seed_term**2 / 2 + boot_term**2 / 47)
    assert estimate.bootstrap_variance == pytest.approx(0.1)
    assert estimate.standard_error == pytest.approx(math.sqrt(variance))
    assert estimate.df == pytest.approx(df) and 2 < estimate.df < 47
    half = scipy.stats.t.ppf(0.975, df) * math.sqrt(variance)
    assert estimate.interval == pytest.approx((2.0 - half, 2.0 + half))
    assert estimate.source == "seeds and test images"
    # One seed: the bootstrap alone, t with n - 1 (about normal).
    single = Estimate((2.0,), replicate_means, images=48)
    assert single.df == 47 and single.source == "test images only"
    assert single.interval[1] - 2.0 == pytest.approx(scipy.stats.t.ppf(0.975, 47) * 0.1**0.5)
    # Nothing to measure the uncertainty by: no interval.
    assert Estimate((2.0,)).interval is None


def test_welch_satterthwaite_is_at_least_one_and_infinite_without_variance() -> None:
    assert satterthwaite([(1.0, 2.0), (1.0, 2.0)]) == pytest.approx(4.0)
    assert satterthwaite([(1.0, 1.0), (1e-9, math.inf)]) == pytest.approx(1.0)
    assert satterthwaite([(0.0, 2.0), (0.0, 2.0)]) == math.inf


def test_identical_methods_are_not_significantly_different() -> None:
    values, replicates = (0.40, 0.42, 0.41), (0.39, 0.43, 0.41, 0.40)
    a = Estimate(values, replicates, images=48)
    b = Estimate(values, replicates, images=48)
    test = difference_test(a, b)
    assert test.difference == 0.0 and test.p == 1.0
    # Seeds that agree exactly and replicates that pair exactly: no variance, still p = 1.
    flat = Estimate((0.4, 0.4, 0.4), (0.4, 0.4), images=48)
    assert difference_test(flat, flat).p == 1.0


def test_a_large_shift_is_significant_and_the_test_is_welchs() -> None:
    a_values, b_values = (0.40, 0.42, 0.41), (0.80, 0.83, 0.79)
    a_boot, b_boot = (0.40, 0.43, 0.41, 0.39), (0.81, 0.82, 0.80, 0.78)
    a = Estimate(a_values, a_boot, images=48)
    b = Estimate(b_values, b_boot, images=48)
    test = difference_test(a, b)
    gaps = np.subtract(a_boot, b_boot)
    terms = [(np.var(a_values, ddof=1) / 3, 2), (np.var(b_values, ddof=1) / 3, 2),
             (np.var(gaps, ddof=1), 47)]  # fmt: skip
    se = math.sqrt(sum(v for v, _ in terms))
    df = sum(v for v, _ in terms) ** 2 / sum(v * v / f for v, f in terms)
    assert test.difference == pytest.approx(np.mean(a_values) - np.mean(b_values))
    assert test.standard_error == pytest.approx(se) and test.df == pytest.approx(df)
    assert test.p == pytest.approx(2 * scipy.stats.t.sf(abs(test.difference) / se, df))
    assert test.p < 0.001
    # Without a bootstrap the test is Welch's over seeds, as scipy computes it.
    welch = scipy.stats.ttest_ind(a_values, b_values, equal_var=False)
    assert difference_test(Estimate(a_values), Estimate(b_values)).p == pytest.approx(welch.pvalue)


def test_the_paired_bootstrap_cancels_what_the_methods_test_images_share() -> None:
    """Two methods whose replicates move together (an easy resample is easy for both) differ
    by a constant on every resample: the bootstrap term of the difference is 0."""
    shared = np.array([0.1, -0.2, 0.3, 0.0, -0.1])
    a = Estimate((1.0, 1.01, 0.99), tuple(1.0 + shared), images=48)
    b = Estimate((1.1, 1.11, 1.09), tuple(1.1 + shared), images=48)
    test = difference_test(a, b)
    assert test.standard_error == pytest.approx(math.sqrt(2 * 0.01**2 / 3))
    assert test.p < 0.01  # unpaired, the bootstrap's spread (0.2) would swamp the 0.1 gap


def test_one_seed_each_without_a_bootstrap_is_not_tested() -> None:
    assert difference_test(Estimate((1.0,)), Estimate((2.0,))) is None


def test_holm_adjusts_step_down() -> None:
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm_adjusted([0.4, 0.6]) == pytest.approx([0.8, 0.8])  # capped, monotone
    assert holm_adjusted([]) == []
