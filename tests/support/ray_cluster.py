"""One Ray cluster per pytest process, joined by each test that needs Ray as a job of its own.

Starting a local cluster takes 5-10 s here and stopping it 2 s more; the suite's Ray tests
used to start one each. The cluster is started (`ray start --head`) the first time a test asks
for it and stopped when the process's session ends (tests/conftest.py). A test joins it with
`local_ray_cluster()`: `ray.init` as a new driver, whose job's workers get this test's
environment explicitly (its private caches, MLflow store and Keras folder: a shared cluster's
workers would otherwise inherit the environment of the test that started it), through Ray's
RAY_RUNTIME_ENV_HOOK, which every `ray.init` of the test's process and of the `ganime`
commands it starts applies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

# What a test's Ray workers take from the test's environment: GANIME's settings and caches,
# MLflow's store, Keras' weights folder, TensorFlow's log level. Nothing else (no credential).
FORWARDED = ("GANIME_", "MLFLOW_", "KERAS_HOME", "TF_CPP_MIN_LOG_LEVEL")
RUNTIME_ENV_HOOK = "RAY_RUNTIME_ENV_HOOK"  # Ray's: a "module.function" that rewrites runtime_env
# Without Ray 2.60's token authentication: the cluster listens on 127.0.0.1 only, and a process
# reads RAY_AUTH_MODE once, when it imports Ray, so a test process could not turn tokens on
# later to join. (The cluster files' token set-up is tested in test_cluster.py.)
AUTH = {"RAY_AUTH_MODE": "disabled"}
CLUSTER_CPUS = 2
STARTED = "Ray runtime started"
START_TIMEOUT_S = 120


def forwarded_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith(FORWARDED)}


def with_this_environment(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """RAY_RUNTIME_ENV_HOOK's function: the job's runtime_env, its workers given the forwarded
    part of this process's environment (a value the job sets itself wins)."""
    runtime_env = dict(runtime_env or {})
    runtime_env["env_vars"] = {**forwarded_environment(), **runtime_env.get("env_vars", {})}
    return runtime_env


class SharedCluster:
    """A local Ray head node (CLUSTER_CPUS, no dashboard) in its own process group, so that
    stopping it stops every process it started."""

    def __init__(self) -> None:
        with socket.socket() as probe:  # a free port for the GCS
            probe.bind(("", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", RUNTIME_ENV_HOOK)}
        env.update(AUTH)
        # Its own temporary folder (short: Ray's sockets live in it): `ray start` names the
        # machine's "current cluster" in its temp folder, which a plain `ray.init()` elsewhere
        # (the other pytest process's tests, a `ganime` command meant to start its own Ray)
        # would otherwise join.
        self.folder = Path(tempfile.mkdtemp(prefix="ganime-ray-", dir="/tmp"))
        env["RAY_TMPDIR"] = str(self.folder)  # Ray's temp root, for the head and its processes
        ray = Path(sys.executable).parent / "ray"
        self.process = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={CLUSTER_CPUS}",
                "--num-gpus=0",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ],  # fmt: skip
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError("Ray's head did not start:\n" + "".join(self.output[-40:]))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if STARTED in line:
                self.ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)  # nothing in a test's cluster needs a clean stop
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # what the head left behind
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


_cluster: SharedCluster | None = None
_actors_before: set[str] = set()  # the actors earlier jobs left in the cluster's table


def shared_cluster() -> SharedCluster:
    global _cluster
    if _cluster is None or _cluster.process.poll() is not None:
        _cluster = SharedCluster()
    return _cluster


def stop_shared_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


@contextlib.contextmanager
def local_ray_cluster() -> Iterator[None]:
    """This process's Ray cluster, joined as a new job; RAY_ADDRESS names it for the `ganime`
    commands the test starts, which join it too (their workers get their own environment)."""
    import ray

    from tests.support.ray_internals import actor_table

    global _actors_before
    cluster = shared_cluster()
    keys = ("RAY_ADDRESS", RUNTIME_ENV_HOOK, "PYTHONPATH", *AUTH)
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(AUTH)
    os.environ["RAY_ADDRESS"] = cluster.address
    os.environ[RUNTIME_ENV_HOOK] = f"{__name__}.{with_this_environment.__name__}"
    # The hook is imported by every driver that joins, in whatever folder it runs.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        _actors_before = {actor["ActorID"] for actor in actor_table()}
        yield
    finally:
        ray.shutdown()  # the job ends: Ray stops its workers, its CPUs are free again
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ray_actors(class_name: str) -> list[dict]:
    """The actors of class `class_name` the test's jobs created in the cluster (dead ones too),
    from its own actor table: no dashboard needed."""
    from tests.support.ray_internals import actor_table

    return [
        actor
        for actor in actor_table()
        if actor["ActorClassName"] == class_name and actor["ActorID"] not in _actors_before
    ]
