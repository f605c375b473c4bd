"""What a sweep trial costs beyond its training and evaluation, and where the quickstart's
trial time goes.

Per-trial overhead = the trial's wall time (Tune starting it to Tune seeing it end, logged by the
sweep as `trial_seconds`) minus the time inside train steps (`epoch_seconds`, the first, tracing
step included) and inside evaluations (`eval_seconds`). For a 1-worker trial, which trains in its
Tune actor, it is the actor's start (only the first trial of an actor: TensorFlow's import, the
backbone's build), building the model and the data pipeline, the MLflow run, sample grids,
checkpoints and models. Targets: mean overhead of the trials after the first <= 8 s; in the
quickstart, train steps >= 50% of the summed trial seconds.

    python -m bench.sweep_overhead                # 1-epoch quickstart trials, one at a time
    python -m bench.sweep_overhead --quickstart   # also run the quickstart sweep and its shares
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import git_commit, usable_cpus

REPO = Path(__file__).resolve().parent.parent
TARGET_OVERHEAD_SECONDS = 8.0  # mean, trials after the first
TARGET_TRAIN_SHARE = 0.50  # quickstart: train steps / summed trial seconds


def ganime(args: list[str], work_dir: Path) -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work_dir / 'mlflow.db'}"}
    env["GANIME_CACHE_DIR"] = str(work_dir / "cache")
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        env=env,
        cwd=work_dir,
        check=True,
        capture_output=True,
    )
    return time.time() - started


def trial_overheads(work_dir: Path, sweep: str) -> list[dict[str, float]]:
    """One row per trial, in trial order, from the sweep's MLflow record."""
    from mlflow.tracking import MlflowClient

    from ganime_core.metrics import names
    from orchestration.tracking import tags

    client = MlflowClient(f"sqlite:///{work_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(sweep)
    rows = []
    for run in client.search_runs([experiment.experiment_id]):
        if tags.TRIAL_ID not in run.data.tags:
            continue  # the parent run

        def total(metric: str, run_id: str = run.info.run_id) -> float:
            return sum(m.value for m in client.get_metric_history(run_id, metric))

        wall = run.data.metrics[names.TRIAL_SECONDS]
        steps, evals = total(names.EPOCH_SECONDS), total(names.EVAL_SECONDS)
        rows.append(
            {
                "trial": int(run.data.tags[tags.TRIAL_NUMBER]),
                "epochs": int(run.data.metrics.get(names.EPOCH, 0)),
                "trial_seconds": wall,
                "train_step_seconds": steps,
                "eval_seconds": evals,
                "overhead_seconds": wall - steps - evals,
            }
        )
    return sorted(rows, key=lambda row: row["trial"])


def add_actor_memory(rows: list[dict[str, float]], experiment: Path) -> None:
    """Each trial's actor (pid) and its resident memory at the trial's last step, from Tune's
    result.json files (trial folders are named t<number>-<id>)."""
    for folder in experiment.glob("t*-*/result.json"):
        last = json.loads(folder.read_text().splitlines()[-1])
        number = int(folder.parent.name.partition("-")[0][1:])
        for row in rows:
            if row["trial"] == number:
                row["actor_pid"] = last.get("pid", 0)
                row["actor_rss_mb"] = last.get("actor_rss_mb", float("nan"))


def print_rows(rows: list[dict[str, float]]) -> None:
    print("trial  epochs  trial s  train steps s  evals s  overhead s  actor pid  actor RSS MB")
    for row in rows:
        print(
            f"{row['trial']:>5}  {row['epochs']:>6}  {row['trial_seconds']:>7.1f}"
            f"  {row['train_step_seconds']:>13.1f}  {row['eval_seconds']:>7.1f}"
            f"  {row['overhead_seconds']:>10.1f}  {row.get('actor_pid', 0):>9}"
            f"  {row.get('actor_rss_mb', float('nan')):>12.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_overhead", description=__doc__)
    parser.add_argument("--trials", type=int, default=4, help="1-epoch trials (default 4)")
    parser.add_argument("--quickstart", action="store_true", help="also time the quickstart")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    print(f"command: python -m bench.sweep_overhead {' '.join(argv)}".rstrip())
    print(f"commit:  {git_commit()}\ncpus:    {usable_cpus()}", flush=True)
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="ganime-sweep-bench-") as folder:
        work_dir = Path(folder)
        quickstart = str(REPO / "experiments" / "quickstart.yaml")
        wall = ganime(
            [
                "sweep",
                quickstart,
                "--no-progress",
                "--set",
                "name=overhead",
                "--set",
                f"num_samples={args.trials}",
                "--set",
                "max_epochs=1",
                "--set",
                "max_concurrent_trials=1",
            ],
            work_dir,
        )
        rows = trial_overheads(work_dir, "overhead")
        add_actor_memory(rows, work_dir / "runs" / "ray" / "overhead")
        first, later = rows[0], rows[1:]
        mean = sum(row["overhead_seconds"] for row in later) / max(len(later), 1)
        report["trials"] = rows
        report["first_trial_overhead_seconds"] = first["overhead_seconds"]
        report["mean_overhead_after_first_seconds"] = mean
        print(f"\n{len(rows)} one-epoch trials, one at a time, sweep wall {wall:.0f} s")
        print_rows(rows)
        verdict = "pass" if mean <= TARGET_OVERHEAD_SECONDS else "TARGET MISSED"
        print(
            f"first trial's overhead {first['overhead_seconds']:.1f} s; mean of the "
            f"{len(later)} after it {mean:.1f} s (target <= {TARGET_OVERHEAD_SECONDS:.0f} s): "
            f"{verdict}"
        )
        if args.quickstart:
            quick_dir = work_dir / "quickstart"
            quick_dir.mkdir()
            seconds = ganime(["sweep", quickstart, "--no-progress"], quick_dir)
            quick = trial_overheads(quick_dir, "quickstart")
            summed = {key: sum(row[key] for row in quick) for key in quick[0] if key != "trial"}
            share = summed["train_step_seconds"] / summed["trial_seconds"]
            report["quickstart_seconds"] = seconds
            report["quickstart_trials"] = quick
            report["quickstart_train_step_share"] = share
            print(f"\nquickstart sweep (ganime sweep experiments/quickstart.yaml): {seconds:.0f} s")
            print_rows(quick)
            verdict = "pass" if share >= TARGET_TRAIN_SHARE else "TARGET MISSED"
            print(
                f"summed: {summed['trial_seconds']:.0f} trial s = "
                f"{summed['train_step_seconds']:.0f} train steps ({share:.0%}) + "
                f"{summed['eval_seconds']:.0f} evaluations "
                f"({summed['eval_seconds'] / summed['trial_seconds']:.0%}) + "
                f"{summed['overhead_seconds']:.0f} overhead; train steps >= "
                f"{TARGET_TRAIN_SHARE:.0%}: {verdict}"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
