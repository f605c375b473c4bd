"""Hyperparameter sweeps: Ray Tune + Optuna (TPE) + ASHA, each trial a Ray Train run, in MLflow.

The driver (`run_sweep`) opens the sweep's parent MLflow run and starts a Tuner whose trainable
`run_trial` is a Train driver (the Train V2 pattern): it opens the trial's child run and fits a
Train V2 trainer from `orchestration.distributed`, whose workers forward each evaluated epoch
to Tune. A trial therefore spans as many workers and GPUs as `trial:` asks for. Neither
TensorFlow nor the trial's work runs in the driver.

Storage: Tune's state lives in STORAGE/NAME, each trial's Train checkpoints in
STORAGE/NAME/trials/TRIAL_ID, the resolved sweep in STORAGE/NAME/ganime-sweep.json, so
`ganime sweep --resume NAME` needs only the name (and the same storage).
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganime_core.errors import GanimeError
from ganime_core.pretrained import UNTRAINED_SUFFIX
from orchestration.distributed import last_line
from orchestration.sweep_config import Sweep, SweepConfig

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "runs/ray"
SWEEP_FILE = "ganime-sweep.json"
SWEEP_TAG = "ganime.sweep"  # on the parent and every child run
TRIAL_TAG = "ganime.trial_id"
STOP_TAG = "ganime.stop_reason"  # completed / stopped early by ASHA at epoch N / failed: why
# A trial's trainable only drives its Train run: it takes the memory its process uses and no CPU,
# so a trial's CPUs and GPUs are exactly its workers' (Tune refuses an empty request).
TRIAL_DRIVER_MEMORY = 512 * 1024**2
FINAL_METRICS = ("fid", "kid_mean", "kid_std", "ssim")  # with the backbone's suffix if any


# --- planning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a sweep asks of the cluster and how many of its trials fit at once."""

    trial_cpus: int
    trial_gpus: int
    cluster_cpus: float
    cluster_gpus: float
    cluster: str  # where the totals come from
    at_once: int  # 0: not even one trial fits now

    def lines(self, sweep: Sweep) -> list[str]:
        config = sweep.config
        trial = config.trial
        width = max(len(key) for key in config.search)
        rungs = ", ".join(map(str, config.asha.rungs())) or "none"
        limit = config.max_concurrent_trials
        return [
            f"sweep {sweep.name}: {sweep.source} (base experiment: {config.experiment})",
            f"search: Optuna TPE (seed {config.seed}), {config.num_samples} trials "
            f"({len(config.start_with)} given by start_with), on {sweep.metric_key} "
            f"({config.objective_mode})",
            *(f"  {key:<{width}}  {dimension}" for key, dimension in config.search.items()),
            f"scheduler: ASHA on epoch: grace period {config.asha.grace_period}, max "
            f"{config.asha.max_epochs} epochs, reduction factor {config.asha.reduction_factor} "
            f"(trials compared at epochs {rungs})",
            f"each trial: {trial.workers} Ray Train worker(s) x ({trial.cpus_per_worker} CPU, "
            f"{trial.gpus_per_worker} GPU) = {self.trial_cpus} CPU, {self.trial_gpus} GPU",
            f"cluster ({self.cluster}): {self.cluster_cpus:g} CPU, {self.cluster_gpus:g} GPU -> "
            f"{self.at_once} trial(s) at once"
            + (f" (max_concurrent_trials {limit})" if limit else ""),
        ]


def plan_sweep(sweep: Sweep, resources: dict[str, float], cluster: str) -> Plan:
    """Trials that fit at once in `resources` (Ray's cluster_resources()), capped by the sweep."""
    trial = sweep.config.trial
    cpus = trial.workers * trial.cpus_per_worker
    gpus = trial.workers * trial.gpus_per_worker
    total_cpus = resources.get("CPU", 0.0)
    total_gpus = resources.get("GPU", 0.0)
    fits = [int(total_cpus // cpus)]
    if gpus:
        fits.append(int(total_gpus // gpus))
    fits.append(sweep.config.num_samples)
    if sweep.config.max_concurrent_trials:
        fits.append(sweep.config.max_concurrent_trials)
    return Plan(cpus, gpus, total_cpus, total_gpus, cluster, max(0, min(fits)))


def local_resources() -> dict[str, float]:
    """What a local Ray started here would offer, without starting it."""
    gpus = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    else:
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
            gpus = listing.stdout.count("GPU ") if listing.returncode == 0 else 0
        except OSError:
            gpus = 0
    return {"CPU": float(len(os.sched_getaffinity(0))), "GPU": float(gpus)}


def cluster_resources(address: str | None) -> tuple[dict[str, float], str]:
    """The resources Ray offers now: the cluster's if connected, else this machine's."""
    import ray

    if ray.is_initialized() or address or os.environ.get("RAY_ADDRESS"):
        if not ray.is_initialized():
            ray.init(address=address)
        return ray.cluster_resources(), "Ray cluster, now"
    return local_resources(), "local Ray, not started"


# --- the sweep's storage -----------------------------------------------------------------------


def storage_root(storage: str | None) -> str:
    """--storage, else $GANIME_RAY_STORAGE, else runs/ray here; a local folder made absolute."""
    root = storage or os.environ.get("GANIME_RAY_STORAGE") or DEFAULT_STORAGE
    return root if "://" in root else str(Path(root).resolve())


def _filesystem(uri: str) -> tuple[Any, str]:
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else Path(uri).resolve().as_uri())


def save_sweep(sweep: Sweep, root: str, parent_run_id: str) -> None:
    fs, path = _filesystem(f"{root}/{sweep.name}")
    fs.create_dir(path, recursive=True)
    record = {**sweep.to_record(), "parent_run_id": parent_run_id}
    with fs.open_output_stream(f"{path}/{SWEEP_FILE}") as out:
        out.write(json.dumps(record, indent=2).encode())


def sweep_exists(name: str, root: str) -> bool:
    import pyarrow.fs

    fs, path = _filesystem(f"{root}/{name}")
    return fs.get_file_info(f"{path}/{SWEEP_FILE}").type != pyarrow.fs.FileType.NotFound


def load_saved_sweep(name: str, root: str) -> tuple[Sweep, str]:
    """The sweep NAME as it was started, and its parent run id; GanimeError if there is none."""
    import pyarrow.fs

    fs, path = _filesystem(f"{root}/{name}")
    try:
        with fs.open_input_stream(f"{path}/{SWEEP_FILE}") as stream:
            record = json.loads(stream.read())
    except (FileNotFoundError, pyarrow.lib.ArrowIOError):
        raise GanimeError(
            f"no sweep {name!r} in {root}; start it with ganime sweep SWEEP.yaml, or pass the "
            "--storage it was started with"
        ) from None
    return Sweep.from_record(record), record["parent_run_id"]


# --- the driver --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    parent_run_id: str
    experiment_id: str
    trials: list[dict[str, Any]]  # one row per trial, as in trials.csv
    best: dict[str, Any] | None  # the best row, None if no trial reported the metric


def run_sweep(
    sweep: Sweep,
    *,
    address: str | None = None,
    storage: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> SweepOutcome:
    """Run (or, with resume=True, continue) `sweep`; log it to MLflow; return its trials."""
    import ray
    from ray import tune

    from orchestration.distributed import reachable_from_workers
    from orchestration.sweep_callbacks import ProgressTable, TrialOutcomes
    from orchestration.tracking import tracking_uri

    root = storage_root(storage)
    if not resume and sweep_exists(sweep.name, root):
        raise GanimeError(
            f"sweep {sweep.name!r} already ran in {root}: ganime sweep --resume {sweep.name} "
            f"continues it (or shows its result); --set name=... starts another"
        )
    uri = tracking_uri()
    parent_run_id = _open_parent_run(sweep, uri, root)  # fails before Ray if unreachable
    if not ray.is_initialized():
        # The live table is the sweep's console; workers' logs stay in Ray's session folder.
        ray.init(address=address, log_to_driver=False)
    plan = plan_sweep(sweep, ray.cluster_resources(), "Ray cluster")
    if plan.at_once == 0 and address is None and not os.environ.get("RAY_ADDRESS"):
        raise GanimeError(
            f"a trial needs {plan.trial_cpus} CPU and {plan.trial_gpus} GPU but local Ray has "
            f"{plan.cluster_cpus:g} CPU and {plan.cluster_gpus:g} GPU; lower trial.workers or "
            "trial.cpus_per_worker"
        )
    save_sweep(sweep, root, parent_run_id)
    context = {
        **sweep.to_record(),
        "storage": root,
        "tracking_uri": reachable_from_workers(uri),
        "parent_run_id": parent_run_id,
    }
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, context=context), {"memory": TRIAL_DRIVER_MEMORY}
    )
    callbacks = [TrialOutcomes(uri, sweep.name, sweep.config.asha.max_epochs)]
    if progress:
        callbacks.append(ProgressTable(sweep))
    experiment_path = f"{root}/{sweep.name}"
    if resume:
        log.info("resuming sweep %s from %s", sweep.name, experiment_path)
        tuner = tune.Tuner.restore(experiment_path, trainable=trainable)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(sweep.config),
            tune_config=tune.TuneConfig(
                metric=sweep.metric_key,
                mode=sweep.config.objective_mode,
                search_alg=_searcher(sweep.config),
                scheduler=_scheduler(sweep.config),
                num_samples=sweep.config.num_samples,
                max_concurrent_trials=max(plan.at_once, 1),
                trial_name_creator=trial_name,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=sweep.name,
                storage_path=root,
                callbacks=callbacks,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
    results = tuner.fit()
    return _summarize(sweep, uri, parent_run_id, results)


def search_space(config: SweepConfig) -> dict[str, Any]:
    """Tune's domains for the searched keys (Optuna's sampler draws from them)."""
    from ray import tune

    space = {}
    for key, dimension in config.search.items():
        low_or_choices = dimension.extremes()
        if dimension.kind == "choice":
            space[key] = tune.choice(low_or_choices)
        elif dimension.kind == "integer":
            space[key] = tune.randint(low_or_choices[0], low_or_choices[1] + 1)  # high excluded
        else:
            space[key] = getattr(tune, dimension.kind)(*low_or_choices)  # loguniform, uniform
    return space


def _searcher(config: SweepConfig) -> Any:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(
        points_to_evaluate=[dict(point) for point in config.start_with] or None,
        sampler=optuna.samplers.TPESampler(seed=config.seed),
    )


def _scheduler(config: SweepConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="epoch",
        max_t=config.asha.max_epochs,
        grace_period=config.asha.grace_period,
        reduction_factor=config.asha.reduction_factor,
    )


def _trial_dirname(trial: Any) -> str:
    return trial.trial_id  # Tune's default folds every param into the folder name


def _open_parent_run(sweep: Sweep, uri: str, root: str) -> str:
    from orchestration.tracking import find_or_create_run, git_commit

    config = sweep.config
    params: dict[str, Any] = {
        "experiment": str(config.experiment),
        "num_samples": config.num_samples,
        "metric": sweep.metric_key,
        "mode": config.objective_mode,
        "sampler": f"optuna.TPESampler(seed={config.seed})",
        "scheduler": (
            f"ASHA(time_attr=epoch, grace_period={config.asha.grace_period}, "
            f"max_t={config.asha.max_epochs}, reduction_factor={config.asha.reduction_factor})"
        ),
        "trial_resources": (
            f"{config.trial.workers} workers x ({config.trial.cpus_per_worker} CPU, "
            f"{config.trial.gpus_per_worker} GPU)"
        ),
        "max_concurrent_trials": config.max_concurrent_trials or "cluster",
    }
    params.update({f"search.{key}": str(dimension) for key, dimension in config.search.items()})
    return find_or_create_run(
        uri,
        sweep.name,
        f"{root}/{sweep.name}",
        params=params,
        tags={
            SWEEP_TAG: sweep.name,
            "ganime.family": sweep.base.model.family,
            "ganime.git_commit": git_commit(),
            "mlflow.source.name": "ganime sweep",
        },
        run_name=f"{sweep.name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}",
    )


# --- one trial ---------------------------------------------------------------------------------


def run_trial(params: dict[str, Any], context: dict[str, Any]) -> None:
    """Tune's trainable: open this trial's child run and drive its Ray Train run.

    A restarted trial (sweep resumed) keeps its id, so it finds its MLflow run by the job tag and
    Ray Train resumes from the trial's newest checkpoint.
    """
    from ray import tune
    from ray.train import TrainingFailedError

    from orchestration.distributed import Scaling, failure_reason, make_trainer
    from orchestration.sweep_callbacks import ReportEvaluationsToTune
    from orchestration.tracking import EPOCH_METRIC, RunLogger, open_run

    sweep = Sweep.from_record(context)
    trial_id = tune.get_context().get_trial_id()
    config = sweep.trial_config(params)
    number = trial_number(tune.get_context().get_trial_name())
    uri = context["tracking_uri"]
    job = f"{context['storage']}/{sweep.name}/trials/{trial_id}"
    run_id = open_run(
        config,
        uri,
        job=job,
        run_name=trial_run_name(sweep.name, number, params),
        parent_run_id=context["parent_run_id"],
        tags={SWEEP_TAG: sweep.name, TRIAL_TAG: trial_id, "ganime.trial_number": str(number)},
    )
    done = RunLogger(uri, run_id).latest(EPOCH_METRIC)
    if done is not None and done >= config.train.epochs:
        return  # it finished before its driver was killed; Tune restarts what it had not saved
    trial = sweep.config.trial
    trainer = make_trainer(
        config,
        Scaling(trial.workers, trial.cpus_per_worker, trial.gpus_per_worker),
        storage=f"{context['storage']}/{sweep.name}/trials",
        name=trial_id,
        tracking_uri=uri,
        run_id=run_id,
        max_failures=trial.max_failures,
        callbacks=[ReportEvaluationsToTune(sweep.metric_key)],
    )
    try:
        trainer.fit()
    except TrainingFailedError as exc:
        reason = failure_reason(exc)
        close_trial_run(uri, run_id, sweep.config.asha.max_epochs, error=reason)
        raise TrialFailed(reason) from None


def find_trial_run(uri: str, sweep: str, trial_id: str) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{SWEEP_TAG}` = '{sweep}' and tags.`{TRIAL_TAG}` = '{trial_id}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def trial_outcome(epochs: int, max_epochs: int, error: str | None) -> tuple[str, str]:
    """(stop reason, MLflow status) of a trial whose run holds `epochs` epochs."""
    if error is not None:
        return f"failed: {last_line(error) or 'error'}", "FAILED"
    if epochs >= max_epochs:
        return "completed", "FINISHED"
    return f"stopped early by ASHA at epoch {epochs}", "KILLED"


def close_trial_run(
    uri: str, run_id: str, max_epochs: int, error: str | None = None, seconds: float | None = None
) -> None:
    """End a trial's run: its stop reason (unless it has one) and status, judged by the epochs
    the run holds, and the trial's wall time if known."""
    from orchestration.tracking import EPOCH_METRIC, RunLogger

    logger = RunLogger(uri, run_id)
    client = logger.client
    if seconds is not None:
        logger.retrying("trial time", lambda: client.log_metric(run_id, "trial_seconds", seconds))
    current = logger.retrying("read run", lambda: client.get_run(run_id))
    epochs = int(current.data.metrics.get(EPOCH_METRIC, 0)) if current else 0
    reason, status = trial_outcome(epochs, max_epochs, error)
    if current is None or STOP_TAG not in current.data.tags:
        logger.retrying("stop reason", lambda: client.set_tag(run_id, STOP_TAG, reason))
    logger.finish(status)


class TrialFailed(GanimeError):
    """A trial's Train run failed; the message is the failing worker's reason."""


def trial_name(trial: Any) -> str:
    """Tune's trial name, 't03-7fa96938': Tune's search generator tags each trial with its
    creation number (kept across a resume), ids alone are random."""
    number = trial.experiment_tag.partition("_")[0]
    return f"t{int(number) if number.isdigit() else 0:02d}-{trial.trial_id}"


def trial_number(name: str) -> int:
    """The creation number in a name made by trial_name(): 't03-7fa96938' -> 3."""
    head = name.partition("-")[0][1:]
    return int(head) if head.isdigit() else 0


def trial_run_name(sweep: str, number: int, params: dict[str, Any]) -> str:
    """e.g. 'quickstart-t03 lambda_tv=2.1e-05 lambda_l1=97.3 tv_norm=l2'."""
    shown = " ".join(
        f"{key.rpartition('.')[2]}={short_value(value)}" for key, value in params.items()
    )
    return f"{sweep}-t{number:02d} {shown}"


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


# --- the summary -------------------------------------------------------------------------------


def _summarize(sweep: Sweep, uri: str, parent_run_id: str, results: Any) -> SweepOutcome:
    """All trials as rows; the best one's params and metrics, a CSV, a markdown table and the
    metric-against-each-hyperparameter plot on the parent run."""
    from mlflow.tracking import MlflowClient

    from orchestration.tracking import EPOCH_METRIC

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep.name)
    children = {
        run.data.tags.get(TRIAL_TAG): run
        for run in client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
        )
    }
    key = sweep.metric_key
    better = min if sweep.config.objective_mode == "min" else max
    max_epochs = sweep.config.asha.max_epochs
    rows = []
    for result in results:
        trial_id = Path(result.path).name  # trial folders are named by id (_trial_dirname)
        run = children.get(trial_id)
        number = run.data.tags.get("ganime.trial_number", "0") if run else "0"
        row: dict[str, Any] = {"trial": int(number), "trial_id": trial_id}
        row.update({k: result.config.get(k) for k in sweep.config.search})
        # MLflow, not Tune's result files, is the record: it holds every epoch rank 0 logged,
        # also for trials that finished before a killed driver was resumed.
        row["epochs"] = int(run.data.metrics.get(EPOCH_METRIC, 0)) if run else 0
        if run is not None:
            row.update(_best_evaluation(client, run.info.run_id, key, better))
        if run is not None and run.info.status == "RUNNING":  # its driver was killed as it ended
            error = str(result.error) if result.error else None
            close_trial_run(uri, run.info.run_id, max_epochs, error)
            run = client.get_run(run.info.run_id)
        row["status"] = run.info.status if run else ("FAILED" if result.error else "UNKNOWN")
        row["stop_reason"] = run.data.tags.get(STOP_TAG, "") if run else str(result.error or "")
        row["run_id"] = run.info.run_id if run else ""
        rows.append(row)
    rows.sort(key=lambda r: r["trial"])
    scored_rows = [r for r in rows if key in r]
    best = better(scored_rows, key=lambda r: r[key]) if scored_rows else None
    _log_summary(client, sweep, parent_run_id, rows, best)
    return SweepOutcome(parent_run_id, experiment.experiment_id, rows, best)


def report_lines(sweep: Sweep, outcome: SweepOutcome) -> list[str]:
    """What the terminal shows at the end: the best trial, the tally, how to browse it."""
    from orchestration.tracking import browse_hint

    reasons = [row["stop_reason"].partition(":")[0].partition(" at ")[0] for row in outcome.trials]
    tally = ", ".join(f"{reasons.count(r)} {r}" for r in dict.fromkeys(reasons))
    lines = [f"sweep {sweep.name}: {len(outcome.trials)} trials ({tally})"]
    best = outcome.best
    if best is None:
        lines.append(f"no trial reported {sweep.metric_key}; see the trials' stop reasons")
    else:
        params = ", ".join(f"{key}={short_value(best[key])}" for key in sweep.config.search)
        metrics = ", ".join(
            f"{name} {best[name]:.4g}"
            for name in _final_metric_names(sweep.metric_key)
            if name in best and not name.startswith("kid_std")
        )
        lines += [
            f"best trial {best['trial']} (MLflow run {best['run_id']}): {params}",
            f"  at epoch {best['best_epoch']}: {metrics}",
        ]
    where = f"#/experiments/{outcome.experiment_id}/runs/{outcome.parent_run_id}"
    lines.append(f"browse it: {browse_hint(where)}")
    return lines


def _best_evaluation(client: Any, run_id: str, key: str, better: Any) -> dict[str, Any]:
    """The epoch with the best `key` in a trial's run, and every final metric at that epoch."""
    history = client.get_metric_history(run_id, key)
    if not history:
        return {}
    best = better(history, key=lambda m: m.value)
    found: dict[str, Any] = {"best_epoch": int(best.step)}
    for name in _final_metric_names(key):
        values = [m.value for m in client.get_metric_history(run_id, name) if m.step == best.step]
        if values and not _is_nan(values[-1]):
            found[name] = values[-1]
    return found


def _final_metric_names(metric_key: str) -> list[str]:
    suffix = UNTRAINED_SUFFIX if metric_key.endswith(UNTRAINED_SUFFIX) else ""
    return [f"{name}{suffix}" if name != "ssim" else name for name in FINAL_METRICS]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _log_summary(
    client: Any, sweep: Sweep, parent_run_id: str, rows: list[dict], best: dict | None
) -> None:
    import tempfile

    from orchestration.tracking import RunLogger

    logger = RunLogger(client.tracking_uri, parent_run_id)
    with tempfile.TemporaryDirectory(prefix="ganime-sweep-") as folder:
        out = Path(folder)
        write_csv(rows, out / "trials.csv")
        (out / "trials.md").write_text(markdown_table(rows))
        files = [out / "trials.csv", out / "trials.md"]
        if plot_metric(sweep, rows, out / f"{sweep.metric_key}_vs_params.png"):
            files.append(out / f"{sweep.metric_key}_vs_params.png")
        for file in files:
            logger.retrying(
                f"sweep {file.name}", lambda f=file: client.log_artifact(parent_run_id, str(f))
            )
    if best is not None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        batch = {
            "tags": [
                RunTag("ganime.best_trial_run_id", best["run_id"]),
                RunTag("ganime.best_trial", str(best["trial"])),
            ],
            "params": [Param(f"best.{key}", str(best[key])) for key in sweep.config.search],
            "metrics": [
                Metric(f"best_{name}", best[name], now, 0)
                for name in _final_metric_names(sweep.metric_key)
                if name in best
            ],
        }
        logger.retrying("best trial", lambda: client.log_batch(parent_run_id, **batch))
    logger.finish("FINISHED" if best is not None else "FAILED")


def write_csv(rows: list[dict], path: Path) -> None:
    import csv

    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row if c not in ("trial_id", "run_id")))

    def cell(value: Any) -> str:
        return short_value(value) if value is not None else ""

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def plot_metric(sweep: Sweep, rows: list[dict], path: Path) -> bool:
    """The metric against each searched hyperparameter, one panel each; False if no trial has
    the metric."""
    key = sweep.metric_key
    scored = [row for row in rows if key in row]
    if not scored:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    search = sweep.config.search
    figure, axes = plt.subplots(1, len(search), figsize=(4 * len(search), 3.4), squeeze=False)
    for axis, (name, dimension) in zip(axes[0], search.items(), strict=True):
        values = [row[name] for row in scored]
        if dimension.kind == "choice":
            labels = [str(choice) for choice in dimension.extremes()]
            values = [labels.index(str(value)) for value in values]
            axis.set_xticks(range(len(labels)), labels)
        elif dimension.kind == "loguniform":
            axis.set_xscale("log")
        stopped = [row["status"] != "FINISHED" for row in scored]
        axis.scatter(
            values,
            [row[key] for row in scored],
            c=["tab:orange" if s else "tab:blue" for s in stopped],
        )
        axis.set_xlabel(name)
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{sweep.name}: {key} per trial (orange: stopped early or failed)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
