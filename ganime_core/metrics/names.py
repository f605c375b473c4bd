"""The one vocabulary of metric names and directions: what each evaluation is logged as, which
way is better, and the marks that say what measured a number.

An evaluation's name says, in order: the data split it was measured on (`selection_`, `test_`:
ganime_core/splits.py), `best_` for a run's best so far, `gt_ref_` when each sketch had its own
colour image as its reference (an oracle), the metric, and `_untrained_<networks>` for every
seeded stand-in network that produced it: `inception` (FID/KID's backbone) and `vgg19` (the
feature network of NST and Style2paints). SSIM needs no backbone, so only `vgg19` can mark it.
Examples: `selection_fid`, `test_fid_untrained_inception`, `test_ssim_untrained_vgg19`,
`selection_best_fid_untrained_inception_vgg19`. Numbers under different names are never ranked
or compared with each other. (An underscore, not a slash, follows the split: Ray Tune reads
`a/b` as a nested result.)

Besides FID, KID and SSIM, an evaluation reports how closely the outputs follow their
references' colours (ganime_core/metrics/colour.py), where that can be measured:
`part_delta_e` (on data with part maps and palettes, e.g. generated data: the mean CIELAB ΔE per
part between the output and the palette of the sketch's reference, or of its own colour image
for a method without references), `ab_distance` (a method with references, any data: the
Hellinger distance between the output's and the reference's CIELAB a/b histograms) and `swap`
(with metrics.swap, a method with references on annotated data: how far the outputs move when
the references are swapped, over how far the references' palettes differ; 1 follows, 0
ignores). None of them meets InceptionV3, so only `vgg19` can mark them, as SSIM.

No TensorFlow here: drivers (a sweep, promote, the CLI) name and rank metrics without it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ganime_core.splits import EVALUATED

# What a user ranks by (--metric, a sweep's metric).
Objective = Literal["fid", "kid", "ssim", "part_delta_e", "ab_distance", "swap"]

# Lower FID/KID/colour errors are better, higher SSIM and swap are better.
MODES: dict[str, str] = {
    "fid": "min",
    "kid": "min",
    "ssim": "max",
    "part_delta_e": "min",
    "ab_distance": "min",
    "swap": "max",
}
BEST_BY: Objective = "fid"  # what a run's best generator is chosen by (on the selection split)

# The networks a seeded untrained stand-in may replace, in the order names list them.
INCEPTION = "inception"
VGG19 = "vgg19"
STANDIN_NETWORKS = (INCEPTION, VGG19)
UNTRAINED_MARK = "_untrained"
# Measured with each sketch's own colour image as its reference (metrics.reference:
# ground_truth): an oracle's numbers, never logged under (nor ranked with) the plain names.
GROUND_TRUTH_PREFIX = "gt_ref_"
BEST_PREFIX = "best_"  # selection_best_fid: the best so far in a run, what picks best_generator
SPLIT_SEPARATOR = "_"

# What one evaluation logs, in the order tables show them; what each objective is logged as.
FID, KID_MEAN, KID_STD, SSIM = "fid", "kid_mean", "kid_std", "ssim"
PART_DELTA_E, AB_DISTANCE, SWAP = "part_delta_e", "ab_distance", "swap"
EVALUATION_METRICS = (FID, KID_MEAN, KID_STD, SSIM, PART_DELTA_E, AB_DISTANCE, SWAP)
# Measured on the images themselves: InceptionV3 never touches them.
PIXEL_METRICS = (SSIM, PART_DELTA_E, AB_DISTANCE, SWAP)
LOGGED_AS: dict[str, str] = {
    "fid": FID,
    "kid": KID_MEAN,
    "ssim": SSIM,
    "part_delta_e": PART_DELTA_E,
    "ab_distance": AB_DISTANCE,
    "swap": SWAP,
}

# Logged with every epoch, step = epoch. EPOCH's history is which epochs a run already holds.
EPOCH = "epoch"
IMAGES_PER_SECOND = "images_per_second"  # global batch throughput, the tracing step excluded
EPOCH_SECONDS = "epoch_seconds"  # inside train steps
EVAL_SECONDS = "eval_seconds"  # inside the evaluation (the first includes building the backbone)
RESUMED_FROM = "resumed_from"  # epochs the run's starting checkpoint had done
TRIAL_SECONDS = "trial_seconds"  # a sweep trial's wall time, start-up included


@dataclass(frozen=True)
class MetricName:
    """A logged evaluation name taken apart."""

    split: str
    metric: str  # fid, kid_mean, kid_std, ssim
    standins: tuple[str, ...] = ()
    reference: str | None = None  # the metrics.reference policy: ground_truth is marked
    best: bool = False

    def __str__(self) -> str:
        standins = _standins_of(self.metric, self.standins)
        mark = f"{UNTRAINED_MARK}_{'_'.join(standins)}" if standins else ""
        best = BEST_PREFIX if self.best else ""
        prefix = GROUND_TRUTH_PREFIX if self.reference == "ground_truth" else ""
        return f"{self.split}{SPLIT_SEPARATOR}{best}{prefix}{self.metric}{mark}"


def _standins_of(metric: str, standins: Iterable[str]) -> tuple[str, ...]:
    """The stand-ins that shaped `metric`, in name order: the pixel metrics never meet
    InceptionV3."""
    unknown = set(standins) - set(STANDIN_NETWORKS)
    if unknown:
        raise ValueError(f"unknown stand-in network(s) {sorted(unknown)}")
    shaping = (VGG19,) if metric in PIXEL_METRICS else STANDIN_NETWORKS
    return tuple(network for network in shaping if network in standins)


def metric_name(
    metric: str, split: str, standins: Iterable[str] = (), reference: str | None = None
) -> str:
    """The name `metric` (fid, kid_mean, kid_std, ssim) is logged under when measured on
    `split` with the stand-in `standins` under the `reference` policy."""
    return str(MetricName(split, metric, _standins_of(metric, standins), reference))


def logged_name(
    objective: str, split: str, standins: Iterable[str] = (), reference: str | None = None
) -> str:
    """The name `objective` (fid, kid, ssim) is logged under (see metric_name)."""
    return metric_name(LOGGED_AS[objective], split, standins, reference)


def evaluation_names(
    split: str, standins: Iterable[str] = (), reference: str | None = None
) -> tuple[str, ...]:
    """The names one evaluation logs, in the order tables show them."""
    standins = tuple(standins)
    return tuple(metric_name(m, split, standins, reference) for m in EVALUATION_METRICS)


def unmeasured_because(
    objective: str, *, uses_reference: bool, annotated: bool, swap: bool
) -> str | None:
    """Why an evaluation would not report `objective` (None: it would): for a method that
    does or does not use references, on data with or without part maps and palettes
    (generated data has them), with or without metrics.swap. What the Evaluator measures,
    said before anything runs (a sweep ranking on a metric its trials never report)."""
    if objective in (AB_DISTANCE, SWAP) and not uses_reference:
        return f"{objective} measures how a method follows its reference; this one takes none"
    if objective in (PART_DELTA_E, SWAP) and not annotated:
        return (
            f"{objective} needs part maps and palettes (parts/, palettes.json), which generated "
            "data has and this data set does not"
        )
    if objective == SWAP and not swap:
        return "swap is measured only with metrics.swap: true"
    return None


def logged_names(objective: str, split: str) -> tuple[str, ...]:
    """Every name `objective` may be logged under on `split` (any stand-ins), ImageNet first."""
    combos = (
        combo
        for size in range(len(STANDIN_NETWORKS) + 1)
        for combo in itertools.combinations(STANDIN_NETWORKS, size)
    )
    return tuple(dict.fromkeys(logged_name(objective, split, combo) for combo in combos))


def parse(name: str) -> MetricName:
    """`name` taken apart; ValueError if it is not an evaluation name."""
    split = next((s for s in EVALUATED if name.startswith(s + SPLIT_SEPARATOR)), None)
    if split is None:
        raise ValueError(f"{name!r} names no split (e.g. selection_fid)")
    rest = name.removeprefix(split + SPLIT_SEPARATOR)
    best = rest.startswith(BEST_PREFIX)
    rest = rest.removeprefix(BEST_PREFIX)
    reference = "ground_truth" if rest.startswith(GROUND_TRUTH_PREFIX) else None
    rest = rest.removeprefix(GROUND_TRUTH_PREFIX)
    metric, _, networks = rest.partition(UNTRAINED_MARK)
    if metric not in EVALUATION_METRICS:
        raise ValueError(f"{name!r} is not an evaluation metric ({', '.join(EVALUATION_METRICS)})")
    standins = tuple(networks.removeprefix("_").split("_")) if networks else ()
    parsed = MetricName(split, metric, _standins_of(metric, standins), reference, best)
    if str(parsed) != name:
        raise ValueError(f"{name!r} is not a GANime metric name (did you mean {parsed}?)")
    return parsed


def siblings(name: str) -> tuple[str, ...]:
    """The names logged by the same evaluation as `name` (same split, stand-ins and reference):
    for selection_fid_untrained_inception, (selection_fid_untrained_inception, ...,
    selection_ssim)."""
    parsed = parse(name)
    return evaluation_names(parsed.split, parsed.standins, parsed.reference)


def best_name(name: str) -> str:
    """selection_best_fid for selection_fid: the run's best value so far."""
    parsed = parse(name)
    return str(MetricName(parsed.split, parsed.metric, parsed.standins, parsed.reference, True))


def mode(objective_or_name: str) -> str:
    """'min' or 'max' for an objective (fid) or a logged name (test_fid_untrained_inception)."""
    if objective_or_name in MODES:
        return MODES[objective_or_name]
    metric = parse(objective_or_name).metric
    return MODES["kid" if metric.startswith("kid") else metric]


def is_better(name: str, value: float, than: float | None) -> bool:
    """Whether `value` of metric `name` beats `than` (None: nothing to beat)."""
    if than is None:
        return True
    return value < than if mode(name) == "min" else value > than
