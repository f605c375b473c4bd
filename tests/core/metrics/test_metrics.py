"""FID, KID and SSIM: closed forms, the paper's sqrtm formula, streaming merges, backbones."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from ganime_core.assets import INCEPTION_V3
from ganime_core.config import AssetsConfig, MetricsConfig
from ganime_core.errors import MetricsError
from ganime_core.metrics import (
    FeatureStatistics,
    frechet_distance,
    frechet_distance_sqrtm,
    kid,
    load_backbone,
    ssim,
    ssim_per_pair,
)
from ganime_core.metrics.backbone import untrained_inception_v3
from ganime_core.pretrained import INCEPTION_WEIGHTS_ENV, inception_standin
from tests.support.asset_server import pin_stand_in
from tests.support.tolerances import assert_close_in_norm, forward_rtol

# --- Fréchet distance ----------------------------------------------------------------------------


def random_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    """Correlated, non-negative-ish features like pooled ReLU activations."""
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.abs(rng.normal(size=(n, d)) @ mixing + 0.5) + shift


def test_distance_of_identical_statistics_is_zero() -> None:
    stats = FeatureStatistics.of(random_features(np.random.default_rng(0), 500, 64))
    distance = frechet_distance(stats.mean, stats.covariance, stats.mean, stats.covariance)
    assert distance == pytest.approx(0.0, abs=1e-9 * np.trace(stats.covariance))


def test_distance_equals_the_closed_form_of_two_gaussians() -> None:
    """Sigma1 = c I commutes with anything: Tr sqrt(c Sigma2) = sqrt(c) * sum sqrt(eig(Sigma2))."""
    rng = np.random.default_rng(1)
    d, c = 40, 2.5
    a = rng.normal(size=(d, d))
    sigma2 = a @ a.T / d + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = (
        np.sum((mu1 - mu2) ** 2)
        + c * d
        + np.trace(sigma2)
        - 2 * np.sqrt(c) * np.sqrt(np.linalg.eigvalsh(sigma2)).sum()
    )
    assert frechet_distance(mu1, c * np.eye(d), mu2, sigma2) == pytest.approx(expected, rel=1e-10)
    # Diagonal covariances: sum of per-dimension 1-d distances.
    v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    per_dimension = (mu1 - mu2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(
        per_dimension.sum(), rel=1e-10
    )


@pytest.mark.slow  # scipy's sqrtm of a 2048 x 2048 matrix: half a minute on 2 cores
def test_eigen_form_agrees_with_the_papers_sqrtm_formula_at_2048_dimensions() -> None:
    rng = np.random.default_rng(2)
    real = FeatureStatistics.of(random_features(rng, 3000, 2048))
    fake = FeatureStatistics.of(random_features(rng, 3000, 2048, shift=0.05))
    ours = frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)
    paper = frechet_distance_sqrtm(real.mean, real.covariance, fake.mean, fake.covariance)
    assert ours == pytest.approx(paper, rel=1e-6)
    assert ours > 0


def test_singular_covariances_give_the_distance_of_their_subspace() -> None:
    """Rank-k data embedded in d > n dimensions: the covariances are singular, the distance is
    the one computed in the k-dimensional subspace, where everything is full rank."""
    rng = np.random.default_rng(3)
    k, d, n = 20, 300, 150
    basis, _ = np.linalg.qr(rng.normal(size=(d, k)))  # (d, k), orthonormal columns
    low_a, low_b = random_features(rng, n, k), random_features(rng, n, k, shift=0.2)
    a, b = FeatureStatistics.of(low_a @ basis.T), FeatureStatistics.of(low_b @ basis.T)
    assert np.linalg.matrix_rank(a.covariance) == k < d
    subspace_a, subspace_b = FeatureStatistics.of(low_a), FeatureStatistics.of(low_b)
    expected = frechet_distance_sqrtm(
        subspace_a.mean, subspace_a.covariance, subspace_b.mean, subspace_b.covariance
    )
    assert np.isfinite(a.distance(b))
    assert a.distance(b) == pytest.approx(expected, rel=1e-6)
    assert a.distance(a) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_fewer_samples_than_dimensions_is_finite_and_zero_against_itself() -> None:
    rng = np.random.default_rng(4)
    a = FeatureStatistics.of(random_features(rng, 50, 2048))
    b = FeatureStatistics.of(random_features(rng, 50, 2048, shift=0.1))
    assert np.isfinite(a.distance(b)) and a.distance(b) > 0
    assert a.distance(a) == pytest.approx(0.0, abs=1e-6 * np.trace(a.covariance))


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
@pytest.mark.parametrize(("generated", "dim"), [(40, 2048), (300, 64)])
def test_a_fixed_reference_gives_the_distance_of_the_two_sets_statistics(generated, dim) -> None:
    """Training evaluations keep the reference's root; fewer images than dimensions take the
    n x n route. Both must equal the plain two-statistics distance."""
    from ganime_core.metrics import FrechetReference

    rng = np.random.default_rng(3)
    real = rng.normal(size=(60, dim))
    fake = rng.normal(0.2, 1.3, size=(generated, dim))
    expected = FeatureStatistics.of(fake).distance(FeatureStatistics.of(real))
    reference = FrechetReference(FeatureStatistics.of(real))
    assert reference.distance(fake) == pytest.approx(expected, rel=1e-6)
    assert reference.distance(real) == pytest.approx(0.0, abs=1e-6)


def test_streaming_and_merged_statistics_equal_one_shot_statistics() -> None:
    features = random_features(np.random.default_rng(5), 1000, 32) * 10 + 100  # large mean
    whole = FeatureStatistics.of(features)
    streamed = FeatureStatistics.empty(32)
    for start, stop in [(0, 1), (1, 300), (300, 301), (301, 1000)]:
        streamed.update(features[start:stop])
    shards = [FeatureStatistics.of(features[i::3]) for i in range(3)]
    merged = shards[0].merge(shards[1]).merge(shards[2]).merge(FeatureStatistics.empty(32))
    for stats in (streamed, merged):
        assert stats.count == whole.count
        np.testing.assert_allclose(stats.mean, whole.mean, rtol=1e-12)
        np.testing.assert_allclose(stats.covariance, whole.covariance, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(whole.covariance, np.cov(features, rowvar=False), rtol=1e-9)
    assert shards[0].count == 334  # merge never changed an operand


def test_statistics_refuse_what_they_cannot_describe() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        _ = FeatureStatistics.of(np.ones((1, 4))).covariance
    with pytest.raises(ValueError, match="cannot merge"):
        FeatureStatistics.empty(4).merge(FeatureStatistics.empty(5))
    with pytest.raises(ValueError, match=r"\(d,\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --- KID -----------------------------------------------------------------------------------------


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shifted_one() -> None:
    rng = np.random.default_rng(6)
    a, b = random_features(rng, 400, 64), random_features(rng, 400, 64)
    same = kid(a[:200], a[200:], subsets=50, subset_size=100)
    shifted = kid(a, b + 0.3, subsets=50, subset_size=100)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert shifted.mean > 10 * shifted.std > 0
    assert kid(a, b + 0.3, subsets=50, subset_size=100) == shifted  # seeded


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel() -> None:
    """One subset holding all samples: the statistic itself, written out longhand."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 1

    def k(u, v):
        return (u @ v / 3 + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    result = kid(x, y, subsets=1, subset_size=m)
    assert result.mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert result.std == 0.0


# --- SSIM ----------------------------------------------------------------------------------------


def test_ssim_is_the_papers_tf_image_ssim_call() -> None:
    rng = np.random.default_rng(8)
    a = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    expected = tf.image.ssim(
        tf.constant(a),
        tf.constant(b),
        max_val=255,
        filter_size=11,
        filter_sigma=1.5,
        k1=0.01,
        k2=0.03,
    ).numpy()
    np.testing.assert_allclose(ssim_per_pair(a, b), expected, rtol=1e-6)
    assert ssim(a, b) == pytest.approx(expected.mean(), rel=1e-6)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert 0 < ssim(a, b) < 0.99


def test_ssim_refuses_float_images() -> None:
    with pytest.raises(TypeError, match="uint8"):
        ssim(np.zeros((1, 16, 16, 3), np.float32), np.zeros((1, 16, 16, 3), np.float32))


# --- the InceptionV3 backbone --------------------------------------------------------------------

SMALL = 75  # InceptionV3's smallest input: the weights do not depend on the size, so tests use it


@pytest.fixture
def no_weights(tmp_path, monkeypatch) -> MetricsConfig:
    """A machine without the ImageNet weights: empty Keras cache, no environment variable."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    return MetricsConfig(backbone_size=SMALL)


def test_missing_weights_give_one_error_saying_how_to_provide_them(no_weights) -> None:
    with pytest.raises(MetricsError) as error:
        load_backbone(no_weights, AssetsConfig(auto_fetch=False))  # fetching: test_assets.py
    message = str(error.value)
    assert "\n" not in message
    for hint in (
        INCEPTION_V3.file_name,
        INCEPTION_WEIGHTS_ENV,
        "ganime assets fetch inception_v3",
        "allow_untrained",
    ):
        assert hint in message


def test_a_driver_knows_the_metric_names_before_loading_the_backbone(
    no_weights, tmp_path, monkeypatch
) -> None:
    """Sweeps pick their Tune metric (selection_fid or selection_fid_untrained_inception) without
    importing TensorFlow."""
    with pytest.raises(MetricsError, match="no InceptionV3 ImageNet weights"):
        inception_standin(no_weights, AssetsConfig(auto_fetch=False))
    assert not inception_standin(no_weights)  # the workers will fetch them
    allowed = no_weights.model_copy(update={"allow_untrained_backbone": True})
    assert inception_standin(allowed)
    weights = tmp_path / "inception.h5"
    weights.write_bytes(b"not read here")
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    assert not inception_standin(allowed)


def test_a_named_weights_file_that_does_not_exist_is_an_error(no_weights, monkeypatch) -> None:
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, "/nowhere/weights.h5")
    with pytest.raises(MetricsError, match=rf"\${INCEPTION_WEIGHTS_ENV}: no such file /nowhere"):
        load_backbone(no_weights)
    settings = no_weights.model_copy(update={"inception_weights": "/nowhere/x.h5"})
    with pytest.raises(MetricsError, match="metrics.inception_weights: no such file"):
        load_backbone(settings)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_untrained_backbone_is_seeded_and_named_apart(no_weights) -> None:
    settings = no_weights.model_copy(update={"allow_untrained_backbone": True})
    images = np.random.default_rng(9).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    first, second = load_backbone(settings), load_backbone(settings)
    features = first.features(images)
    assert features.shape == (3, 2048) and np.isfinite(features).all() and features.std() > 0
    np.testing.assert_array_equal(features, second.features(images))
    assert first.name == f"inception_v3/untrained-seed0@{SMALL}px"
    assert not first.pretrained


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_weights_are_found_in_the_keras_cache_and_in_an_explicit_file(
    no_weights, tmp_path, monkeypatch
) -> None:
    """Keras' download location holds a legacy-format .h5 file; an explicit path may be either."""
    # Keras' private writer of the legacy format its ImageNet downloads come in.
    from keras.src.legacy.saving import legacy_h5_format

    model = untrained_inception_v3(SMALL, seed=1)
    cache = tmp_path / "keras" / "models" / INCEPTION_V3.file_name
    cache.parent.mkdir(parents=True)
    with h5py.File(cache, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    pin_stand_in(monkeypatch, INCEPTION_V3.name, cache.read_bytes())  # cached files are checked
    images = np.random.default_rng(10).integers(0, 256, (2, SMALL, SMALL, 3), dtype=np.uint8)
    preprocessed = keras.applications.inception_v3.preprocess_input(images.astype("float32"))
    expected = model(preprocessed)

    # The backbone runs the same weights in a tf.function, whose graph rewrites (fused
    # convolutions) may sum in another order: within forward_rtol of the model's convolutions.
    kernels = [w for w in model.weights if w.ndim == 4]
    fan_in = max(int(np.prod(k.shape[:-1])) for k in kernels)
    rtol = forward_rtol(depth=len(kernels), fan_in=fan_in)  # 94 layers, 3 x 3 x 448: 0.023

    from_cache = load_backbone(no_weights)
    assert from_cache.pretrained and from_cache.name == f"inception_v3/imagenet@{SMALL}px"
    assert_close_in_norm(from_cache.features(images), expected, rtol, "from the Keras cache")

    explicit = tmp_path / "mine.weights.h5"
    model.save_weights(explicit)
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(explicit))
    from_env = load_backbone(no_weights)
    assert_close_in_norm(from_env.features(images), expected, rtol, "from an explicit file")
    other = untrained_inception_v3(SMALL, seed=2)(preprocessed)  # other weights: far outside
    assert np.linalg.norm(other - expected) > 10 * rtol * np.linalg.norm(expected)
    assert from_env.weights_id != from_cache.weights_id  # cache keys follow the file's bytes


def test_a_file_that_is_not_inception_weights_is_an_error(no_weights, tmp_path) -> None:
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    with pytest.raises(MetricsError, match="bogus.h5: not InceptionV3 no-top weights"):
        load_backbone(no_weights.model_copy(update={"inception_weights": bogus}))


def test_evaluation_caches_share_the_stand_in_but_load_weights_each(
    no_weights, tmp_path, monkeypatch
) -> None:
    """The stand-in reads no file: one process builds it once, whichever cache asks. A backbone
    with weights is loaded by each new cache, which checks its file again."""
    from ganime_core import evaluation

    loads = []
    monkeypatch.setattr(
        evaluation, "load_backbone", lambda settings, assets: loads.append(settings) or object()
    )
    monkeypatch.setattr(evaluation.EvaluationCache, "_standins", {})  # the process's stays as is
    allowed = no_weights.model_copy(update={"allow_untrained_backbone": True})
    assets = AssetsConfig(auto_fetch=False)
    first, second = evaluation.EvaluationCache(), evaluation.EvaluationCache()
    standin = first.backbone(allowed, assets)
    assert second.backbone(allowed, assets) is standin and len(loads) == 1
    assert first.backbone_builds == second.backbone_builds == 1

    weights = tmp_path / "inception.h5"
    weights.write_bytes(b"read by load_backbone only")
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    loaded = first.backbone(allowed, assets)
    assert loaded is not standin and first.backbone(allowed, assets) is loaded
    assert second.backbone(allowed, assets) is not loaded and len(loads) == 3
    assert first.backbone_builds == second.backbone_builds == 2
