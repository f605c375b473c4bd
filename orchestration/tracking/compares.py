"""A compare in MLflow: one experiment named after it, a parent run holding the table, and one
nested child run per method and seed holding that run's models, its metrics under the protocol
and two files the table is made from (`compare/result.json`, and `compare/samples.npz` with the
held-out sketches' images for the grid). The compare code decides what happened; this module
writes it down and reads back finished children, which a rerun reuses.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.tracking import MlflowClient

from ganime_core.config import ExperimentConfig
from orchestration.tracking import tags
from orchestration.tracking.runs import RunLogger, find_or_create_run, git_commit

RESULT_FILE = "compare/result.json"
SAMPLES_FILE = "compare/samples.npz"
COMPARE_SOURCE = "ganime compare"


def open_compare_run(uri: str, compare: str, job: str, params: dict[str, Any]) -> str:
    """The compare's parent run, found again by `job` (the compare's name and content)."""
    return find_or_create_run(
        uri,
        compare,
        job,
        params=params,
        run_tags={
            tags.COMPARE: compare,
            tags.GIT_COMMIT: git_commit(),
            tags.SOURCE_NAME: COMPARE_SOURCE,
        },
        run_name=f"{compare}-compare-{time.strftime('%Y%m%d-%H%M%S')}",
    )


def method_job(compare: str, method: str, seed: int, key: str) -> str:
    """The job tag a method's run at a seed is found by: its key, so a changed run is a new one."""
    return f"compare {compare} {method} seed {seed} {key}"


def open_method_run(
    uri: str,
    compare: str,
    config: ExperimentConfig,
    *,
    method: str,
    seed: int,
    key: str,
    parent_run_id: str,
) -> str:
    """A method's run at a seed, to be run: found again by its job (a failed or killed run is
    continued in the same run), else created with every config value as a param."""
    run_id = find_or_create_run(
        uri,
        compare,
        method_job(compare, method, seed, key),
        params=config.flat(),
        run_tags={
            tags.COMPARE: compare,
            tags.METHOD: method,
            tags.SEED: str(seed),
            tags.RUN_KEY: key,
            tags.FAMILY: config.model.family,
            tags.GIT_COMMIT: git_commit(),
            tags.SOURCE_NAME: COMPARE_SOURCE,
        },
        run_name=f"{method} seed {seed}",
        parent_run_id=parent_run_id,
    )
    adopt(uri, run_id, parent_run_id)
    return run_id


def adopt(uri: str, run_id: str, parent_run_id: str) -> None:
    """Nest a run under this compare's parent: a run made under an earlier parent (the compare
    file changed elsewhere, so its parent is another) is shown under the newest."""
    MlflowClient(uri).set_tag(run_id, tags.PARENT_RUN, parent_run_id)


def find_finished(uri: str, compare: str, job: str) -> tuple[str, dict[str, Any]] | None:
    """(run id, result) of the finished run of `job`, or None: none, or it never finished
    (killed, failed), or it holds no result (finished by hand or an older GANime)."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(compare)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tags.JOB}` = '{job}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if not runs:
        return None
    run_id = runs[0].info.run_id
    try:
        with tempfile.TemporaryDirectory(prefix="ganime-compare-") as folder:
            path = client.download_artifacts(run_id, RESULT_FILE, folder)
            return run_id, json.loads(Path(path).read_text())
    except Exception:
        return None


def read_samples(uri: str, run_id: str) -> dict[str, np.ndarray]:
    """The held-out sketches' images a run logged: uint8 (k, h, w, 3) by column."""
    with tempfile.TemporaryDirectory(prefix="ganime-compare-") as folder:
        path = MlflowClient(uri).download_artifacts(run_id, SAMPLES_FILE, folder)
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}


def record_result(
    uri: str,
    run_id: str,
    result: dict[str, Any],
    metrics: dict[str, float],
    samples: dict[str, np.ndarray],
    step: int,
) -> None:
    """A run's measurement under the protocol: its metrics at `step` (the epochs trained), the
    result the table reads and the grid's images; then the run is FINISHED."""
    logger = RunLogger(uri, run_id)
    logger.log_batch("protocol metrics", metrics, step=step)
    client = logger.client
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **samples)
    with tempfile.TemporaryDirectory(prefix="ganime-compare-") as folder:
        folder_path = Path(folder) / "compare"
        folder_path.mkdir()
        (folder_path / "result.json").write_text(json.dumps(result, indent=2))
        (folder_path / "samples.npz").write_bytes(buffer.getvalue())
        logger.retrying(
            "compare result", lambda: client.log_artifacts(run_id, str(folder_path), "compare")
        )
    logger.set_status("FINISHED")


def record_failure(uri: str, run_id: str, reason: str) -> None:
    logger = RunLogger(uri, run_id)
    logger.log_batch("failure", run_tags={tags.STOP_REASON: f"failed: {reason}"[:5000]})
    logger.set_status("FAILED")


def log_compare_summary(
    uri: str,
    parent_run_id: str,
    *,
    files: list[Path],
    description: str,
    metrics: dict[str, float],
    status: str | None,
) -> None:
    """The table on the parent run: its files as artifacts, as the run's description, and the
    methods' means as metrics; `status` None leaves the run RUNNING (an interrupted compare)."""
    logger = RunLogger(uri, parent_run_id)
    client = logger.client
    for file in files:
        logger.retrying(
            f"compare {file.name}", lambda f=file: client.log_artifact(parent_run_id, str(f))
        )
    logger.log_batch("compare table", metrics, run_tags={tags.RUN_NOTE: description})
    if status is not None:
        logger.set_status(status)
