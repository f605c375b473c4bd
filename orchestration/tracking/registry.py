"""The MLflow side of `ganime promote`: runs and the models they logged, and the Model Registry's
versions, their tags, descriptions and aliases. This module reads and writes; what to promote,
and why, is decided in release/promote.py.
"""

from __future__ import annotations

import mlflow
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.tracking import tags


class Registry:
    """One tracking store: its runs, and its Model Registry."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = MlflowClient(uri)

    # --- runs and their models -----------------------------------------------------------------

    def run(self, run_id: str) -> Run | None:
        """The run `run_id`; None if the store has no such run."""
        try:
            return self.client.get_run(run_id)
        except Exception:  # MlflowException: RESOURCE_DOES_NOT_EXIST, or a malformed id
            return None

    def sweep_trial_runs(self, sweep: str) -> list[Run] | None:
        """The runs of `sweep`'s trials (its parent run excluded), from the experiment named
        after it; None if there is no such experiment."""
        experiment = self.client.get_experiment_by_name(sweep)
        if experiment is None:
            return None
        return self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{tags.SWEEP}` = '{sweep}' and tags.`{tags.TRIAL_ID}` != ''",
        )

    def sweep_parent_run(self, sweep: str) -> Run | None:
        """The parent run of `sweep` (its newest, if it was started more than once)."""
        experiment = self.client.get_experiment_by_name(sweep)
        if experiment is None:
            return None
        runs = self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{tags.SWEEP}` = '{sweep}'",
            order_by=["attributes.start_time DESC"],
        )
        return next((run for run in runs if tags.TRIAL_ID not in run.data.tags), None)

    def metric_history(self, run_id: str, key: str) -> list[float]:
        """Every value of metric `key` that run `run_id` logged, in step order."""
        return [metric.value for metric in self.client.get_metric_history(run_id, key)]

    def logged_models(self, run: Run) -> dict[str, str]:
        """The models `run` logged: name -> model id. A name logged more than once (a run logs
        best_generator again at each new best) maps to its newest model."""
        # The fluent search pages through every result; it reads the process's tracking URI.
        mlflow.set_tracking_uri(self.uri)
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
            output_format="list",
        )
        newest: dict[str, str] = {}
        for model in sorted(models, key=lambda m: m.creation_timestamp, reverse=True):
            newest.setdefault(model.name, model.model_id)
        return newest

    # --- registered models and their versions --------------------------------------------------

    def aliased_version(self, name: str, alias: str) -> ModelVersion | None:
        """The version of registered model `name` that `alias` points at; None if there is no
        such model or alias."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def version_of_model(self, name: str, model_id: str) -> str | None:
        """The version of `name` registered from the logged model `model_id`, if any."""
        try:
            versions = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return None
        found = [v.version for v in versions if v.tags.get(tags.MODEL_ID) == model_id]
        return str(found[0]) if found else None

    def register(self, model_uri: str, name: str, description: str) -> str:
        """Register `model_uri` as a new version of `name`; the registered model is created
        first, with `description`, if it does not exist. Returns the new version."""
        try:
            self.client.get_registered_model(name)
            new = False
        except MlflowException:
            new = True
        # The fluent register_model resolves a models:/<model id> URI and links the version to
        # its logged model; it reads the process's URI. It creates the registered model when
        # there is none (and says so: creating it first here made it print "already exists").
        mlflow.set_tracking_uri(self.uri)
        version = str(mlflow.register_model(model_uri, name).version)
        if new:
            self.client.update_registered_model(name, description=description)
        return version

    def set_version_tags(self, name: str, version: str, version_tags: dict[str, str]) -> None:
        for key, value in version_tags.items():
            self.client.set_model_version_tag(name, version, key, value)

    def set_version_description(self, name: str, version: str, description: str) -> None:
        """The version's description: markdown, shown on its page in the registry UI."""
        self.client.update_model_version(name, version, description=description)

    def move_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)
