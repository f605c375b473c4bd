"""Ray Train's TensorFlow backend, without importing TensorFlow where no model runs.

What Ray's TensorflowConfig does for a worker group: give every worker a free port on its node and
set TF_CONFIG to the whole group's addresses and the worker's rank, from which
MultiWorkerMirroredStrategy builds its cluster. Ray's own class sits in `ray.train.tensorflow`,
whose package imports TensorFlow on import: the driver, each Train controller and each sweep
trial would then pay TensorFlow's import (seconds of CPU) only to unpickle a config.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import ray
from ray.train import BackendConfig
from ray.train.backend import Backend


class TensorflowBackendConfig(BackendConfig):
    """Pass as `backend_config` to a Train V2 DataParallelTrainer."""

    @property
    def backend_cls(self) -> type[Backend]:
        return _TensorflowBackend


class _TensorflowBackend(Backend):
    def on_start(self, worker_group: Any, backend_config: TensorflowBackendConfig) -> None:
        addresses = worker_group.execute(_free_address)
        ray.get(
            [
                worker_group.execute_single_async(rank, _set_tf_config, addresses, rank)
                for rank in range(len(worker_group))
            ]
        )


def _free_address() -> str:
    """host:port this worker's collective server will listen on."""
    host = ray.util.get_node_ip_address()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"


def _set_tf_config(addresses: list[str], rank: int) -> None:
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}}
    )
