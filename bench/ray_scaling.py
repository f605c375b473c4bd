"""The cost of Ray Train's collective layer and a job's start-up, measured on the real command.

Runs `ganime train experiments/pix2pix_tv.yaml` at 64 px (base_filters 64, global batch 32, on
generated data) on the local machine, each layout a fresh local Ray cluster:

  1x2       1 worker  x 2 CPUs  (no collective communication)
  2x1       2 workers x 1 CPU   (MultiWorkerMirroredStrategy all-reduce of float32 gradients)
  2x1-bf16  2 workers x 1 CPU   (the same, gradients summed in bfloat16: half the bytes)

images/s is the train loop's own per-epoch figure (first step of each epoch excluded), averaged
over the epochs after the first; the target is 2 workers >= 0.85 x 1x2. Start-up is the time
from launching the command to the first train step: the first epoch's MLflow timestamp minus
its duration (both logged by the job).

    python -m bench.ray_scaling
    python -m bench.ray_scaling --epochs 2 --layouts 1x2 2x1-bf16 --json /tmp/ray_scaling.json
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
from ganime_core.metrics import names

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.85
# label: (workers, CPUs per worker, train.gradient_allreduce)
LAYOUTS = {
    "1x2": (1, 2, "float32"),
    "2x1": (2, 1, "float32"),
    "2x1-bf16": (2, 1, "bfloat16"),
}


def run_layout(
    workers: int, cpus: int, allreduce: str, epochs: int, work_dir: Path
) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    label = f"{workers}x{cpus}-{allreduce}"
    uri = f"sqlite:///{work_dir / f'mlflow-{label}.db'}"
    command = [
        sys.executable,
        "-m",
        "orchestration.cli",
        "train",
        str(REPO / "experiments" / "pix2pix_tv.yaml"),
        "--workers",
        str(workers),
        "--cpus-per-worker",
        str(cpus),
        "--set",
        "data.image_size=64",
        "--set",
        "data.synthetic.count=420",  # 336 train images: 10 steps of 32 per epoch
        "--set",
        f"data.cache_dir={work_dir / 'cache'}",
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "train.checkpoint_every=1",
        "--set",
        "train.eval_every=0",
        "--set",
        f"train.gradient_allreduce={allreduce}",
        "--set",
        f"train.output_dir={work_dir / f'runs-{label}'}",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.time()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=work_dir)
    wall = time.time() - started

    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pix2pix_tv").experiment_id])
    speeds = {
        m.step: m.value for m in client.get_metric_history(run.info.run_id, names.IMAGES_PER_SECOND)
    }
    durations = {m.step: m for m in client.get_metric_history(run.info.run_id, names.EPOCH_SECONDS)}
    first = durations[1]
    later = [speeds[e] for e in sorted(speeds) if e > 1]
    return {
        "workers": workers,
        "cpus_per_worker": cpus,
        "gradient_allreduce": allreduce,
        "images_per_second": sum(later) / len(later),
        "startup_seconds": first.timestamp / 1000 - first.value - started,
        "wall_seconds": wall,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.ray_scaling", description=__doc__)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument(
        "--layouts",
        nargs="+",
        choices=list(LAYOUTS),
        default=list(LAYOUTS),
        help="which layouts to run (default all; ratios need 1x2)",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")

    print(f"command: python -m bench.ray_scaling {' '.join(argv)}".rstrip())
    print(f"commit:  {git_commit()}\ncpus:    {usable_cpus()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ganime-ray-bench-") as work_dir:
        for label in args.layouts:
            workers, cpus, allreduce = LAYOUTS[label]
            print(
                f"[bench] {label}: {workers} worker(s) x {cpus} CPU(s), {allreduce} all-reduce",
                file=sys.stderr,
                flush=True,
            )
            results[label] = run_layout(workers, cpus, allreduce, args.epochs, Path(work_dir))
    print("\nlayout    images/s  start-up s  wall s")
    for label, result in results.items():
        print(
            f"{label:<9} {result['images_per_second']:>8.2f}  {result['startup_seconds']:>10.1f}"
            f"  {result['wall_seconds']:>6.1f}"
        )
    ratios = {}
    if "1x2" in results:
        single = results["1x2"]["images_per_second"]
        ratios = {
            f"{label} / 1x2": result["images_per_second"] / single
            for label, result in results.items()
            if label != "1x2"
        }
    print()
    for name, ratio in ratios.items():
        verdict = "pass" if ratio >= TARGET_RATIO else "TARGET MISSED"
        print(f"{name} = {ratio:.3f} (target >= {TARGET_RATIO}): {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
