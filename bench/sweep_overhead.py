"""What a sweep trial costs beyond its training and evaluation, and the quickstart's wall time.

Per-trial overhead = the trial's wall time (Tune starting it to Tune seeing it finish, logged by
the sweep as `trial_seconds`) minus the time inside train steps (`epoch_seconds`, the first,
tracing step included) and inside evaluations (`eval_seconds`, the first including the backbone's
construction). It is what launching a Ray Train run per trial costs: the trial's driver and Train
controller processes, the worker's start-up and TensorFlow import, building the model, MLflow
runs and models. The share is that overhead over a 2-minute trial (target <= 15%).

    python -m bench.sweep_overhead                # 1-epoch quickstart trials, one at a time
    python -m bench.sweep_overhead --quickstart   # also time the whole quickstart sweep
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
TRIAL_SECONDS = 120.0
TARGET_SHARE = 0.15


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
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(sweep)
    rows = []
    for run in client.search_runs([experiment.experiment_id]):
        if "ganime.trial_id" not in run.data.tags:
            continue  # the parent run

        def total(metric: str, run_id: str = run.info.run_id) -> float:
            return sum(m.value for m in client.get_metric_history(run_id, metric))

        wall = run.data.metrics["trial_seconds"]
        steps, evals = total("epoch_seconds"), total("eval_seconds")
        rows.append(
            {
                "trial_seconds": wall,
                "train_step_seconds": steps,
                "eval_seconds": evals,
                "overhead_seconds": wall - steps - evals,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_overhead", description=__doc__)
    parser.add_argument("--trials", type=int, default=3, help="1-epoch trials (default 3)")
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
                "asha.max_epochs=1",
                "--set",
                "max_concurrent_trials=1",
            ],
            work_dir,
        )
        rows = trial_overheads(work_dir, "overhead")
        mean = {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}
        share = mean["overhead_seconds"] / TRIAL_SECONDS
        report["trials"] = rows
        report["mean"] = mean
        report["share_of_2_minute_trial"] = share
        print(f"\n{len(rows)} one-epoch trials, one at a time, sweep wall {wall:.0f} s")
        print("trial s  train steps s  evals s  overhead s")
        for row in rows:
            print(
                f"{row['trial_seconds']:>7.1f}  {row['train_step_seconds']:>13.1f}"
                f"  {row['eval_seconds']:>7.1f}  {row['overhead_seconds']:>10.1f}"
            )
        verdict = "pass" if share <= TARGET_SHARE else "TARGET MISSED"
        print(
            f"mean overhead {mean['overhead_seconds']:.1f} s = {share:.1%} of a 2-minute trial "
            f"(target <= {TARGET_SHARE:.0%}): {verdict}"
        )
        if args.quickstart:
            quick_dir = work_dir / "quickstart"
            quick_dir.mkdir()
            seconds = ganime(["sweep", quickstart, "--no-progress"], quick_dir)
            report["quickstart_seconds"] = seconds
            print(f"quickstart (ganime sweep experiments/quickstart.yaml): {seconds:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
