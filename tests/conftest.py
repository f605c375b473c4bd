"""Shared fixtures. Every test that trains uses experiments/smoke.yaml, overridden as needed."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"
SMOKE = EXPERIMENTS / "smoke.yaml"
STYLE2PAINTS_SMOKE = EXPERIMENTS / "style2paints_smoke.yaml"


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


def _kind(path: Path) -> str:
    import yaml

    raw = yaml.safe_load(path.read_text()) or {}
    return "compare" if "methods" in raw else "sweep" if "experiment" in raw else "experiment"


# experiments/ holds three kinds: a sweep file names its base experiment, a compare file its
# methods.
SWEEP_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "sweep")
COMPARE_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "compare")
EXPERIMENT_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "experiment")


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


def sample_steps(client, run_id: str) -> list[int]:
    """The epochs of a run's sample grids, logged as MLflow images with key `samples`."""
    names = [a.path.rpartition("/")[2] for a in client.list_artifacts(run_id, "images")]
    return sorted(int(n.split("+")[2]) for n in names if n.startswith("samples+") and ".png" in n)


@contextlib.contextmanager
def local_ray_cluster():
    """A private local Ray cluster (2 CPUs, no dashboard) that its own processes can find.

    Ray Train's PlacementGroupCleaner asks the state API whether its controller is alive and,
    with no RAY_ADDRESS, looks for "the" local cluster. With two test processes each running a
    cluster, it once found the other one, which did not know the controller, and removed a
    healthy run's placement group (its workers died mid-epoch; CI, 2026-11-23). So the GCS
    port is chosen here and RAY_ADDRESS names it for every process the cluster starts.
    """
    import socket

    import ray

    with socket.socket() as probe:  # a free port for the GCS
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    address = f"{ray.util.get_node_ip_address()}:{port}"
    saved = {key: os.environ.get(key) for key in ("RAY_GCS_SERVER_PORT", "RAY_ADDRESS")}
    os.environ["RAY_GCS_SERVER_PORT"] = str(port)
    os.environ["RAY_ADDRESS"] = address
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
    finally:
        ray.shutdown()
        for key, value in saved.items():  # later `ganime` runs start or find their own
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ray_actors(class_name: str) -> list[dict]:
    """The actors of class `class_name` the connected Ray cluster has ever had (dead ones too),
    from its own actor table: no dashboard needed."""
    from tests.support.ray_internals import actor_table

    return [actor for actor in actor_table() if actor["ActorClassName"] == class_name]


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


TWO_LOGICAL_CPUS = """
import tensorflow as tf

# Two replicas on one machine: the CPU split into two logical devices, which TensorFlow allows
# only before it starts (hence a fresh process).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
"""


def run_on_two_cpus(script: str, *args: str, folder: Path) -> str:
    """Run `script` (Python source) in a fresh interpreter whose CPU is two logical devices, for
    a tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]); its stdout, or AssertionError with
    its stderr's end."""
    import subprocess

    path = folder / "on_two_cpus.py"
    path.write_text(TWO_LOGICAL_CPUS + script)
    done = subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def ganime_command() -> list[str]:
    """The installed console script's interpreter and module, for subprocess tests."""
    return [sys.executable, "-m", "orchestration.cli"]
