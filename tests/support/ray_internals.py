"""Every use the tests make of Ray's private API, in one module (the product's are in
orchestration/ray_internals.py): what a Ray upgrade must check, against the same
CHECKED_AGAINST version. Each says why the public API does not suffice. Ray is imported inside
each function, so a test that calls none of them never imports it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def actor_table() -> list[dict[str, Any]]:
    """Every actor the connected cluster has had, dead ones too. The public state API
    (ray.util.state) needs the dashboard, which the tests' clusters do not start."""
    import ray

    return list(ray._private.state.actors().values())


def session_dir() -> Path:
    """The connected local cluster's session folder, where Train controllers write their logs.
    No public API names it."""
    import ray

    return Path(ray._private.worker._global_node.get_session_dir_path())


def prepared_cluster_config(config: dict[str, Any]) -> dict[str, Any]:
    """A cluster file as `ray up` holds it before it calls the cloud (defaults filled in).
    `ray up` offers no dry run that stops before the provider."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(config)


def validate_cluster_config(config: dict[str, Any]) -> None:
    """Ray's own schema check of a prepared cluster file (raises on an invalid one)."""
    from ray.autoscaler._private.util import validate_config

    validate_config(config)


def new_auth_token() -> str:
    """A token as `ray get-auth-token --generate` makes one (without writing it anywhere)."""
    from ray._private.authentication.authentication_token_generator import (
        generate_new_authentication_token,
    )

    return generate_new_authentication_token()


def default_auth_token_path() -> Path:
    """Where Ray reads its token from by default ($HOME-relative)."""
    from ray._private.authentication.authentication_token_setup import _get_default_token_path

    return Path(_get_default_token_path())


def train_controller_env() -> dict[str, str]:
    """The environment Ray Train propagates to its controller."""
    from ray.train.v2._internal.constants import get_env_vars_to_propagate

    return get_env_vars_to_propagate()


def train_worker_runtime_env(worker_runtime_env: Any) -> dict[str, Any]:
    """The runtime_env Ray Train gives each worker for a run configured with
    `worker_runtime_env`."""
    from ray.train.v2._internal.execution.worker_group.worker_group import WorkerGroup

    return WorkerGroup._get_worker_runtime_env(worker_runtime_env)


def unwanted_train_callbacks() -> tuple[type, ...]:
    """The default Train callbacks GANime's trainer must leave out, named here on their own so
    a test does not take the product's list for the truth: the placement group cleaner (it
    removes live runs' groups) and Ray Data's callback (an actor for runs without datasets)."""
    from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
    from ray.train.v2._internal.callbacks.placement_group_callback import (
        PlacementGroupCleanerCallback,
    )

    return (PlacementGroupCleanerCallback, DatasetsCallback)


def train_callbacks(trainer: Any) -> tuple[list[Any], list[Any]]:
    """The default callbacks `trainer` sets up, and those Ray's own DataParallelTrainer would
    set up for the same run. No public API lists a trainer's callbacks."""
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    return trainer._create_default_callbacks(), DataParallelTrainer._create_default_callbacks(
        trainer
    )


# Ray's AWS bootstrap, the code `ray up` runs before it launches anything (test_cluster drives
# its private functions with every AWS call replaced): no public API runs it without a cloud.
AWS_BOOTSTRAP_MODULE = "ray.autoscaler._private.aws.config"


def after_each_trial_checkpoint(hook: Callable[[Any], None]) -> None:
    """Call `hook(trial)` in this driver each time Tune has registered one of a trial's
    checkpoints (and with it deleted the oldest beyond `num_to_keep`), before Tune saves its
    experiment state again: the moment a test kills a driver at. Tune's public callbacks run
    before the registration (`on_checkpoint`) or after that save (`on_step_end`)."""
    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

    registered = _ExperimentCheckpointManager.on_trial_checkpoint

    def then_hook(manager: Any, trial: Any) -> None:
        registered(manager, trial)
        hook(trial)

    _ExperimentCheckpointManager.on_trial_checkpoint = then_hook


def exploits_decided(pbt: Any) -> int:
    """How many exploits a PopulationBasedTraining scheduler has decided (its private count;
    Tune reports none)."""
    return pbt._num_perturbations
