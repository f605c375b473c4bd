"""Shared fixtures (helpers that are not fixtures are in tests/support/). Every test that trains
uses experiments/smoke.yaml, overridden as needed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.paths import SMOKE, STYLE2PAINTS_SMOKE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `make test` runs the files on two pytest-xdist processes, one file at a time each, in this
# order: the files that take minutes start first, so neither process is left alone at the end
# with one of them.
LONGEST_FILES = (  # measured with --durations=0 at 839fd83
    "test_sweep.py",
    "test_every_family.py",
    "test_distributed.py",
    "test_compare.py",
    "test_style2paints.py",
    "test_train.py",
    "test_precision.py",
    "test_reference_methods.py",
    "test_style2paints_release.py",
    "test_compare_resume.py",
    "test_registry.py",
    "test_metrics.py",
    "test_evaluate_command.py",
    "test_gpu_check.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files keep order


def pytest_sessionfinish(session: pytest.Session) -> None:
    """This process's Ray cluster, if a test started it, stops with the session."""
    from tests.support.ray_cluster import stop_shared_cluster

    stop_shared_cluster()


@pytest.fixture(autouse=True)
def _no_mlflow_state_between_tests():
    """MLflow's fluent API keeps a tracking URI and an active run per process: a test that sets
    them must not hand them to the next one (whose store is another temporary file).
    set_tracking_uri also writes $MLFLOW_TRACKING_URI, so that is put back as it was."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # unsets $MLFLOW_TRACKING_URI too
    if saved is not None:
        os.environ["MLFLOW_TRACKING_URI"] = saved


@pytest.fixture(autouse=True)
def no_imagenet_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs like this machine: no ImageNet weights in an empty Keras cache, so metrics
    come from the seeded stand-in backbone where the config allows it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("GANIME_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private MLflow store (SQLite) for every test; $MLFLOW_TRACKING_URI points at it, so a
    `ganime train` a test starts never writes the working folder's mlflow.db."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache (generated data, scan results) so tests never share state."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GANIME_CACHE_DIR", str(path))
    return path


@pytest.fixture
def smoke_config(tmp_path: Path, cache_dir: Path):
    """Load experiments/smoke.yaml with outputs under tmp_path and no evaluations, plus any
    overrides."""
    from ganime_core.config import load_config

    def load(*overrides: str):
        # Evaluations off unless a test asks for them (train.eval_every, train.eval_epochs):
        # most tests are about something else, and each would build InceptionV3 for nothing.
        defaults = [f"train.output_dir={tmp_path / 'runs'}", "train.eval_every=0"]
        return load_config(SMOKE, [*defaults, *overrides])

    return load


@pytest.fixture
def style2paints_config(tmp_path: Path, cache_dir: Path):
    """experiments/style2paints_smoke.yaml (32 px, stand-in VGG19) with outputs under
    tmp_path, plus any overrides."""
    from ganime_core.config import load_config

    def load(*overrides: str):
        return load_config(
            STYLE2PAINTS_SMOKE, [f"train.output_dir={tmp_path / 'runs'}", *overrides]
        )

    return load
