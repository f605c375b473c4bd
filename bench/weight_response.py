"""Where a loss weight acts: train one experiment at a log-spaced range of one config weight,
several seeds each, and measure what the outputs become.

For each value of --key (e.g. model.lambda_tv) and each seed 0..--seeds-1, the experiment (with
any --set overrides) is trained in this process by the project's own loop (ganime_core.train's
TrainingRun, evaluations while training off) for its train.epochs; its final generator then
colorizes the first metrics.max_images sketches of the evaluation split, once, and from those
outputs come:
  - FID, KID and SSIM by the project's Evaluator (names as logged, e.g. test_fid_untrained_...),
  - the outputs' own total variation: the mean over images of mean|dx| + mean|dy| of the
    generated image in [-1, 1] (the l1 TV of ganime_core/losses.py), and the same of the real
    colour images of those sketches, a reference line.

Per value: each measure's mean over seeds with its 95% interval (Student's t, seeds - 1 degrees
of freedom: the seed spread only; every run is measured on the same images). Against the first
value (the baseline, 0 = the term off): Welch's t over seeds, p-values Holm-adjusted over the
other values, per measure (ganime_core/metrics/bootstrap.py); a difference is beyond the spread
when its adjusted p <= 0.05. A paired t over seeds (seed s of every value starts from the same
weights and batch order) is reported beside it. The report says, per measure and over all, the
smallest value that differs from the baseline (where the term starts to change outputs), and
which values make a metric better or worse.

Writes <out>.json (the protocol, every (value, seed) row, the summary) and <out>.png (one panel
per measure against the value, log x axis with the baseline apart at the left), and, unless
--no-tracking, logs to MLflow: experiment `weight_response`, a parent run holding both files
and one child run per (value, seed) with the run's config as params and its measures as metrics.
Training folders are kept under --work-dir: a rerun of the same settings resumes or reuses them.

    python -m bench.weight_response --experiment experiments/pix2pix_tv.yaml \\
        --key model.lambda_tv --values 0,1e-4,1e-2,1e-1,1,3,10,30,100,1000 --seeds 3 \\
        --set data.image_size=32 --set model.base_filters=16 ...
    python -m bench.weight_response --replot docs/weight_response_pix2pix_lambda_tv.json

Each docs/weight_response_*.json holds the exact command that wrote it ("command").
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.stats

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.config import ExperimentConfig, load_config
from ganime_core.errors import GanimeError
from ganime_core.evaluation import Evaluator
from ganime_core.metrics import names
from ganime_core.metrics.bootstrap import ALPHA, Estimate, difference_test, holm_adjusted
from ganime_core.splits import SELECTION
from ganime_core.train import TrainingRun
from orchestration.cli.options import add_overrides
from orchestration.tracking import tags
from orchestration.tracking.runs import RunLogger, find_or_create_run, tracking_uri
from orchestration.training.local import TrialProcess

REPO = Path(__file__).resolve().parents[1]
# Selection, not test: this bench decides where the sweeps search a weight (experiments/sweep_*),
# and a number from the test split is never used to choose anything (ganime_core/splits.py).
# The docs/weight_response_*.json files of 2026-12-04 were measured on test (their protocol says
# so), before this was settled; their ranges rest on output TV, where a weight starts to act.
EVALUATION_SPLIT = SELECTION
MLFLOW_EXPERIMENT = "weight_response"
SOURCE = "bench.weight_response"
# The objectives an evaluation reports (fid, kid, ssim), and the outputs' own TV beside them.
OBJECTIVES: tuple[str, ...] = tuple(names.LOGGED_AS)
OUTPUT_TV = "output_tv"
REAL_TV = "real_tv"
MEASURES: tuple[str, ...] = (*OBJECTIVES, OUTPUT_TV)


def anisotropic_tv(images: np.ndarray) -> np.ndarray:
    """mean|dx| + mean|dy| of each (H, W, C) image of (N, H, W, C): losses' l1 TV, in NumPy."""
    images = np.asarray(images, np.float64)
    dx = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))
    dy = np.abs(np.diff(images, axis=1)).mean(axis=(1, 2, 3))
    return dx + dy


def parse_values(text: str) -> list[float]:
    """ "0,1e-4,1" -> [0.0, 0.0001, 1.0], ascending, each once (an argparse type)."""
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if len(values) < 2:
        raise argparse.ArgumentTypeError("give at least two values: a baseline and one more")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"weights are finite and >= 0, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.weight_response",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--experiment", type=Path, help="an experiment YAML file")
    parser.add_argument("--key", help="the weight to vary, e.g. model.lambda_tv")
    parser.add_argument(
        "--values",
        type=parse_values,
        help="comma-separated; the smallest is the baseline",
    )
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1 (default 3)")
    add_overrides(parser, help="an override of the experiment, as `ganime train --set`; repeat")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output prefix: <out>.json, <out>.png (default docs/weight_response_<family>_<key>)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("runs") / "weight_response",
        help="training folders, one per run (default runs/weight_response)",
    )
    parser.add_argument("--cpus", type=positive_int, default=usable_cpus(), help="TF threads")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    parser.add_argument("--no-tracking", action="store_true", help="log nothing to MLflow")
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="JSON",
        help="train nothing: summarize a report's rows again, rewrite it and its plot",
    )
    return parser


@dataclass(frozen=True)
class Row:
    """One trained run measured."""

    value: float
    seed: int
    measures: dict[str, float | None]  # fid, kid, ssim (None on unpaired data), output_tv
    metric_names: dict[str, str]  # each objective's logged name (split, stand-ins)
    logged: dict[str, float]  # the evaluation's metrics as logged, and the TVs
    losses: dict[str, float]  # the last epoch's mean losses
    real_tv: float
    images: int
    train_seconds: float
    eval_seconds: float
    resumed_from: int = 0  # epochs its folder's checkpoint had done: a rerun reuses a run
    mlflow_run_id: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "seed": self.seed,
            **self.measures,
            "metric_names": self.metric_names,
            "real_tv": self.real_tv,
            "images": self.images,
            "last_epoch_losses": self.losses,
            "train_seconds": round(self.train_seconds, 2),
            "eval_seconds": round(self.eval_seconds, 2),
            "resumed_from": self.resumed_from,
            "mlflow_run_id": self.mlflow_run_id,
        }


def run_config(
    base: ExperimentConfig, args: argparse.Namespace, value: float, seed: int
) -> ExperimentConfig:
    """The experiment at `value` and `seed`, trained without evaluations in its own folder; the
    folder's name holds the epochs and the config's fingerprint, so a rerun reuses only a run
    of the same settings."""
    changed = base.replace(
        {
            args.key: value,
            "seed": seed,
            "train.eval_every": 0,
            "train.eval_epochs": [],
            "train.output_dir": args.work_dir,
        },
        source=f"--key {args.key}={value:g}",
    )
    leaf = args.key.rpartition(".")[2]
    name = f"{leaf}-{value:g}-seed{seed}-e{changed.train.epochs}-{changed.fingerprint()[:8]}"
    return changed.replace({"name": name})


def measure(
    config: ExperimentConfig, process: TrialProcess, value: float, progress: bool = False
) -> Row:
    """Train `config`, colorize the evaluation split once, and measure those outputs."""
    process.next_run()
    started = time.perf_counter()
    run = TrainingRun(config, progress=progress, cache=process.evaluations)
    result = run.run()
    trained = time.perf_counter()
    evaluator = Evaluator(config, run.data, split=EVALUATION_SPLIT, cache=process.evaluations)
    colorizer = run.colorizer
    # Every output kept: the TV is measured on the same images the metrics saw.
    measured = evaluator.measure(colorizer, keep=evaluator.n)
    evaluation = evaluator.score(measured, colorizer)
    output_tv = float(anisotropic_tv(measured.samples["generated"]).mean())
    real_tv = float(anisotropic_tv(measured.samples["color"]).mean())
    measures: dict[str, float | None] = {o: evaluation.value(o) for o in OBJECTIVES}
    measures[OUTPUT_TV] = output_tv
    losses = result.history[-1].losses if result.history else {}
    return Row(
        value=value,
        seed=config.seed,
        measures=measures,
        metric_names={o: evaluation.name(o) for o in OBJECTIVES},
        logged={**evaluation.metrics(), OUTPUT_TV: output_tv, REAL_TV: real_tv},
        losses=losses,
        real_tv=real_tv,
        images=evaluation.n,
        train_seconds=trained - started,
        eval_seconds=time.perf_counter() - trained,
        resumed_from=run.resumed_from,
    )


def summarize(rows: list[Row], values: list[float]) -> dict[str, Any]:
    """Per value and measure: mean, 95% interval, and the test against the baseline (the first
    value); where the term starts to act and which values improve a metric."""
    baseline = values[0]
    others = values[1:]

    def estimate(value: float, measure: str) -> Estimate:
        found = [r.measures[measure] for r in rows if r.value == value]
        return Estimate(tuple(float(v) for v in found if v is not None))

    per_value: list[dict[str, Any]] = [{"value": v} for v in values]
    improves: dict[str, list[float]] = {}
    worsens: dict[str, list[float]] = {}
    for measure in MEASURES:
        estimates = [estimate(v, measure) for v in values]
        if not estimates[0].values:  # SSIM on unpaired data
            continue
        tests = [difference_test(e, estimates[0]) for e in estimates[1:]]
        adjusted = holm_adjusted([t.p if t is not None else 1.0 for t in tests])
        paired = [paired_p(rows, v, baseline, measure) for v in others]
        paired_adjusted = holm_adjusted([1.0 if p is None else p for p in paired])
        for entry, value_estimate in zip(per_value, estimates, strict=True):
            interval = value_estimate.interval
            entry[measure] = {
                "mean": value_estimate.mean,
                "ci95": list(interval) if interval else None,
                "std": value_estimate.std,
                "seeds": value_estimate.k,
                "values": list(value_estimate.values),
            }
        for entry, test, p_holm, p_paired, p_paired_holm in zip(
            per_value[1:], tests, adjusted, paired, paired_adjusted, strict=True
        ):
            if test is None:
                continue
            beyond = p_holm <= ALPHA
            entry[measure]["vs_baseline"] = {
                "difference": test.difference,
                "relative": test.difference / estimates[0].mean if estimates[0].mean else None,
                "t": test.t,
                "df": test.df,
                "p": test.p,
                "p_holm": p_holm,
                "beyond_spread": beyond,
                # Secondary: a seed starts every value from the same weights and batch order.
                "paired_p": p_paired,
                "paired_p_holm": p_paired_holm if p_paired is not None else None,
            }
            if beyond and measure in OBJECTIVES:
                better = names.is_better(measure, test.difference, 0.0)
                (improves if better else worsens).setdefault(measure, []).append(entry["value"])

    def first_beyond(measure: str, field: str) -> float | None:
        """The smallest value whose `measure` differs from the baseline's by `field`."""
        return next(
            (
                entry["value"]
                for entry in per_value[1:]
                if measure in entry and _beyond(entry[measure].get("vs_baseline", {}), field)
            ),
            None,
        )

    measured = [m for m in MEASURES if m in per_value[0]]
    differs_from = {m: first_beyond(m, "p_holm") for m in measured}
    changes = [v for v in differs_from.values() if v is not None]
    return {
        "baseline": baseline,
        "test": (
            "Welch's t over seeds of each value against the baseline, p-values Holm-adjusted over "
            f"the {len(others)} other values per measure; beyond the spread when adjusted p <= "
            f"{ALPHA}. Intervals: mean ± t(0.975, seeds - 1) × std / sqrt(seeds). Secondary "
            "(paired_p): the paired t over seeds (seed s of every value shares its initial "
            "weights and batch order), Holm-adjusted alike."
        ),
        "per_value": per_value,
        # Where the term starts to change outputs: the smallest value beyond the spread, per
        # measure and over all of them (the paired test's, alike).
        "changes_outputs_from": min(changes) if changes else None,
        "differs_from": differs_from,
        "output_tv_differs_from": differs_from.get(OUTPUT_TV),
        "differs_from_paired": {m: first_beyond(m, "paired_p_holm") for m in measured},
        "improves": improves,
        "worsens": worsens,
        "real_tv": float(np.mean([r.real_tv for r in rows])) if rows else None,
    }


def _beyond(test: dict[str, Any], field: str) -> bool:
    p = test.get(field)
    return p is not None and p <= ALPHA


def verdict(summary: dict[str, Any], key: str) -> str:
    """The summary's answer in one paragraph: where outputs start to change, and whether any
    value improves a metric beyond the spread."""
    start = summary["changes_outputs_from"]
    if start is None:
        where = f"no value of {key} changes any measure beyond the seed spread"
    else:
        each = ", ".join(
            f"{m} from {v:g}" for m, v in summary["differs_from"].items() if v is not None
        )
        where = f"{key} changes outputs from {start:g} ({each})"

    def listed(found: dict[str, list[float]]) -> str:
        return "; ".join(f"{m} at {', '.join(f'{v:g}' for v in vs)}" for m, vs in found.items())

    better = listed(summary["improves"]) or "none"
    worse = listed(summary["worsens"]) or "none"
    return (
        f"{where}. Beyond the spread, better than the baseline: {better}; worse: {worse}. "
        f"(Welch's t, Holm-adjusted over the values, p <= {ALPHA}.)"
    )


def paired_p(rows: list[Row], value: float, baseline: float, measure: str) -> float | None:
    """The paired t-test's two-sided p of `measure` at `value` against the baseline, seed by
    seed; None below two seeds measured at both, or when the differences do not vary."""
    at = {r.seed: r.measures[measure] for r in rows if r.value == value}
    base = {r.seed: r.measures[measure] for r in rows if r.value == baseline}
    seeds = sorted(s for s in at.keys() & base.keys() if at[s] is not None and base[s] is not None)
    differences = np.array([at[s] - base[s] for s in seeds], np.float64)
    if len(differences) < 2 or np.std(differences) == 0.0:
        return None
    t = differences.mean() / (differences.std(ddof=1) / math.sqrt(len(differences)))
    return float(2 * scipy.stats.t.sf(abs(t), len(differences) - 1))


def protocol(config: ExperimentConfig, args: argparse.Namespace, rows: list[Row]) -> dict:
    """What every run shared, as the report states it."""
    data, train = config.data, config.train
    return {
        "experiment": str(args.experiment),
        "overrides": list(args.overrides),
        "family": config.model.family,
        "data": "generated (data.synthetic)" if data.path is None else str(data.path),
        "synthetic_count": data.synthetic.count if data.path is None else None,
        "image_size": data.image_size,
        "jitter": data.jitter,
        "selection": data.selection,
        "base_filters": getattr(config.model, "base_filters", None),
        "batch_size": train.batch_size,
        "epochs": train.epochs,
        "learning_rate": config.optimizer.learning_rate,
        "precision": train.precision,
        "measured_generator": f"the final one, after {train.epochs} epochs (none selected)",
        "evaluation_split": EVALUATION_SPLIT,
        "evaluation_images": rows[0].images if rows else None,
        "generator_mode": config.metrics.generator_mode,
        "backbone_size": config.metrics.backbone_size,
        "allow_untrained_backbone": config.metrics.allow_untrained_backbone,
        "output_tv": "mean over the evaluation images of mean|dx| + mean|dy| of the generated "
        "image in [-1, 1] (losses' l1 TV); real_tv: the same of their real colour images",
        "cpus": args.cpus,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """One panel per measure against the value: mean and 95% interval over seeds, each seed a
    dot, the baseline's interval a band; log x axis, the baseline apart at the left when 0."""
    summary = report["summary"]
    values = report["values"]
    positive = [v for v in values if v > 0]
    # 0 has no place on a log axis: it is drawn 1.5 decades left of the smallest weight, past
    # a break mark.
    zero_at = min(positive) / 10**1.5 if positive else 1.0
    where = {v: (v if v > 0 else zero_at) for v in values}
    panels = [m for m in MEASURES if m in summary["per_value"][0]]
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=100, squeeze=False)
    for axis, measure in zip(axes.flat, panels, strict=False):
        entries = [e for e in summary["per_value"] if e[measure]["mean"] is not None]
        xs = [where[e["value"]] for e in entries]
        means = [e[measure]["mean"] for e in entries]
        intervals = [e[measure]["ci95"] or [m, m] for m, e in zip(means, entries, strict=True)]
        # The distances (FID, KID: lower is better) grow by decades where a term dominates: a
        # log axis keeps the small differences visible, for positive seeds only (KID's unbiased
        # estimate can be < 0); an interval reaching below 0 is drawn down to half the smallest
        # seed. SSIM and TV are bounded: linear.
        seeds_measured = [v for e in entries for v in e[measure]["values"]]
        logarithmic = (
            names.MODES.get(measure) == "min"
            and min(seeds_measured) > 0
            and max(seeds_measured) > 10 * min(seeds_measured)
        )
        if logarithmic:
            floor = min(seeds_measured) / 2
            intervals = [[max(low, floor), high] for low, high in intervals]
        below = [m - low for m, (low, _) in zip(means, intervals, strict=True)]
        above = [high - m for m, (_, high) in zip(means, intervals, strict=True)]
        if entries[0][measure]["ci95"]:
            axis.axhspan(*intervals[0], color="0.9", zorder=0, label="baseline 95% CI")
        for e in entries:
            seeds = e[measure]["values"]
            axis.scatter([where[e["value"]]] * len(seeds), seeds, s=9, color="0.55", zorder=2)
        axis.errorbar(
            xs,
            means,
            yerr=[below, above],
            fmt="o",
            color="C0",
            capsize=3,
            zorder=3,
            label="mean, 95% CI",
        )
        # A line joins the positive weights only: the baseline at 0 stands apart.
        joined = [(x, m) for x, m, e in zip(xs, means, entries, strict=True) if e["value"] > 0]
        if joined:
            axis.plot(*zip(*joined, strict=True), color="C0", zorder=3)
        if logarithmic:
            axis.set_yscale("log")
        beyond = [e for e in entries if e[measure].get("vs_baseline", {}).get("beyond_spread")]
        if beyond:
            axis.scatter(
                [where[e["value"]] for e in beyond],
                [e[measure]["mean"] for e in beyond],
                marker="*",
                s=140,
                color="C3",
                zorder=4,
                label=f"≠ baseline (Welch, Holm, p≤{ALPHA})",
            )
        if measure == OUTPUT_TV and summary["real_tv"] is not None:
            axis.axhline(summary["real_tv"], color="C2", linestyle="--", label="real images")
        axis.set_xscale("log")
        axis.set_xticks([where[v] for v in values])
        axis.set_xticklabels([f"{v:g}" for v in values], rotation=45, fontsize=8)
        axis.minorticks_off()
        if positive and values[0] == 0:
            axis.axvline(zero_at * 10**0.75, color="0.3", linestyle=":", linewidth=1)
        axis.set_xlabel(report["key"])
        name = report["metric_names"].get(measure, measure)
        axis.set_ylabel(name)
        axis.set_title(name, fontsize=10)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    p = report["protocol"]
    figure.suptitle(
        f"{p['family']}: {report['key']} at {p['image_size']} px, {p['epochs']} epochs, "
        f"{report['seeds']} seeds; {p['evaluation_images']} {p['evaluation_split']} images",
        fontsize=11,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def table(report: dict[str, Any]) -> str:
    """The summary as a Markdown table: each measure's mean ± half its 95% interval."""
    header = ["value", *MEASURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in report["summary"]["per_value"]:
        cells = [f"{entry['value']:g}"]
        for measure in MEASURES:
            stats = entry.get(measure)
            if not stats or stats["mean"] is None:
                cells.append("—")
                continue
            half = (stats["ci95"][1] - stats["mean"]) if stats["ci95"] else float("nan")
            mark = "*" if stats.get("vs_baseline", {}).get("beyond_spread") else ""
            cells.append(f"{stats['mean']:.4g} ± {half:.2g}{mark}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Tracking:
    """The bench in MLflow: a parent run per invocation, a child per (value, seed)."""

    def __init__(self, uri: str, args: argparse.Namespace, base: ExperimentConfig) -> None:
        self.uri = uri
        self.job = f"{SOURCE} {args.key} {time.strftime('%Y%m%d-%H%M%S')} pid {os.getpid()}"
        self.commit = git_commit()
        self.parent = find_or_create_run(
            uri,
            MLFLOW_EXPERIMENT,
            self.job,
            params={
                "key": args.key,
                "values": ",".join(f"{v:g}" for v in args.values),
                "seeds": args.seeds,
                "experiment": str(args.experiment),
                "overrides": " ".join(args.overrides)[:6000],
                "family": base.model.family,
                "evaluation_split": EVALUATION_SPLIT,
            },
            run_tags={
                tags.FAMILY: base.model.family,
                tags.GIT_COMMIT: self.commit,
                tags.SOURCE_NAME: SOURCE,
            },
            run_name=f"{args.key} {time.strftime('%Y%m%d-%H%M%S')}",
        )

    def child(self, config: ExperimentConfig, row: Row, key: str) -> str:
        run_id = find_or_create_run(
            self.uri,
            MLFLOW_EXPERIMENT,
            f"{self.job} {row.value:g} seed {row.seed}",
            params=config.flat(),
            run_tags={
                tags.SEED: str(row.seed),
                tags.FAMILY: config.model.family,
                tags.GIT_COMMIT: self.commit,
                tags.SOURCE_NAME: SOURCE,
            },
            run_name=f"{key.rpartition('.')[2]}={row.value:g} seed {row.seed}",
            parent_run_id=self.parent,
        )
        logger = RunLogger(self.uri, run_id)
        logger.log_batch("measures", {**row.logged, **row.losses}, step=config.train.epochs)
        logger.set_status("FINISHED")
        return run_id

    def finish(self, files: list[Path], note: str, status: str = "FINISHED") -> None:
        logger = RunLogger(self.uri, self.parent)
        for file in files:
            logger.retrying(
                f"artifact {file.name}",
                lambda f=file: logger.client.log_artifact(self.parent, str(f)),
            )
        logger.log_batch("summary", run_tags={tags.RUN_NOTE: note})
        logger.set_status(status)


def replot(path: Path) -> None:
    """Summarize the rows of the report at `path` again (after the summary or the plot
    changed) and rewrite it and its PNG; nothing is trained."""
    report = json.loads(path.read_text())
    rows = [
        Row(
            value=record["value"],
            seed=record["seed"],
            measures={m: record.get(m) for m in MEASURES},
            metric_names=record["metric_names"],
            logged={},
            losses=record["last_epoch_losses"],
            real_tv=record["real_tv"],
            images=record["images"],
            train_seconds=record["train_seconds"],
            eval_seconds=record["eval_seconds"],
        )
        for record in report["rows"]
    ]
    report["summary"] = summarize(rows, report["values"])
    path.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, path.with_suffix(".png"))
    print(f"{table(report)}\n\n{verdict(report['summary'], report['key'])}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.replot:
        replot(args.replot)
        return 0
    if args.experiment is None or args.key is None or args.values is None:
        parser.error("--experiment, --key and --values are required (or --replot JSON)")
    try:
        return run(args, argv)
    except GanimeError as exc:  # a bad file, key or value: one line, as the CLI says it
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Train and measure every (value, seed); write, print and log the report."""
    # Evaluations while training off from the start (the runs choose no generator), so any
    # train.checkpoint_every is valid.
    base = load_config(args.experiment, ["train.eval_every=0", *args.overrides])
    if args.key not in base.flat():
        print(
            f"--key {args.key}: not a setting of {args.experiment} "
            f"({base.model.family}); e.g. model.lambda_tv",
            file=sys.stderr,
        )
        return 2
    leaf = args.key.rpartition(".")[2]
    out = args.out or REPO / "docs" / f"weight_response_{base.model.family}_{leaf}"
    process = TrialProcess(args.cpus)
    tracking = None
    if not args.no_tracking:
        tracking = Tracking(args.tracking_uri or tracking_uri(), args, base)
    started = time.perf_counter()
    rows: list[Row] = []
    configs: list[ExperimentConfig] = []
    try:
        for value in args.values:
            for seed in range(args.seeds):
                config = run_config(base, args, value, seed)
                row = measure(config, process, value)
                if tracking is not None:
                    row = replace(row, mlflow_run_id=tracking.child(config, row, args.key))
                rows.append(row)
                configs.append(config)
                shown = " ".join(
                    f"{m}={row.measures[m]:.4g}" for m in MEASURES if row.measures[m] is not None
                )
                print(
                    f"{args.key}={value:g} seed {seed}: {shown} "
                    f"({row.train_seconds:.0f} s + {row.eval_seconds:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    except BaseException:
        if tracking is not None:
            tracking.finish([], "interrupted or failed", status="FAILED")
        raise
    report = {
        "bench": SOURCE,
        "command": shlex.join(["python", "-m", "bench.weight_response", *(argv or sys.argv[1:])]),
        "git_commit": git_commit(),
        "key": args.key,
        "values": args.values,
        "seeds": args.seeds,
        "protocol": protocol(configs[0], args, rows),
        "metric_names": {**rows[0].metric_names, OUTPUT_TV: OUTPUT_TV},
        "rows": [row.record() for row in rows],
        "summary": summarize(rows, args.values),
        "seconds": round(time.perf_counter() - started, 1),
    }
    json_path, png_path = out.with_suffix(".json"), out.with_suffix(".png")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, png_path)
    text = f"{table(report)}\n\n{verdict(report['summary'], args.key)}"
    print(f"\n{text}")
    print(f"wrote {json_path} and {png_path}")
    if tracking is not None:
        tracking.finish([json_path, png_path], text)
        report_runs = f"MLflow: experiment {MLFLOW_EXPERIMENT}, parent run {tracking.parent}"
        print(report_runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
