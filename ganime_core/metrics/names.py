"""The one vocabulary of metric names and directions: what each evaluation is logged as, which
way is better, and the suffix that marks numbers from the seeded stand-in backbone.

No TensorFlow here: drivers (a sweep, promote, the CLI) name and rank metrics without it.
"""

from __future__ import annotations

from typing import Literal

Objective = Literal["fid", "kid", "ssim"]  # what a user ranks by (--metric, a sweep's metric)

# Lower FID/KID is better, higher SSIM is better.
MODES: dict[str, str] = {"fid": "min", "kid": "min", "ssim": "max"}
# Appended to FID/KID names measured with the seeded untrained InceptionV3: such numbers can never
# be mistaken for (or compared with) ImageNet-backbone ones.
UNTRAINED_SUFFIX = "_untrained"
# Measured with each sketch's own colour image as its reference (metrics.reference:
# ground_truth): an oracle's numbers, never logged under (nor ranked with) the plain names.
GROUND_TRUTH_PREFIX = "gt_ref_"
BEST_PREFIX = "best_"  # best_fid: the best FID so far in a run, what picks best_generator
SELECTION: Objective = "fid"  # what a run's best generator is chosen by


def fid(suffix: str) -> str:
    return f"fid{suffix}"


def kid_mean(suffix: str) -> str:
    return f"kid_mean{suffix}"


def kid_std(suffix: str) -> str:
    return f"kid_std{suffix}"


SSIM = "ssim"  # structural similarity needs no backbone: no suffix

# Logged with every epoch, step = epoch. EPOCH's history is which epochs a run already holds.
EPOCH = "epoch"
IMAGES_PER_SECOND = "images_per_second"  # global batch throughput, the tracing step excluded
EPOCH_SECONDS = "epoch_seconds"  # inside train steps
EVAL_SECONDS = "eval_seconds"  # inside the evaluation (the first includes building the backbone)
RESUMED_FROM = "resumed_from"  # epochs the run's starting checkpoint had done
TRIAL_SECONDS = "trial_seconds"  # a sweep trial's wall time, start-up included


def logged_name(objective: str, suffix: str) -> str:
    """The name `objective` (fid, kid, ssim) is logged under with a backbone of `suffix`."""
    return {"fid": fid(suffix), "kid": kid_mean(suffix), "ssim": SSIM}[objective]


def reference_prefix(policy: str | None) -> str:
    """What names measured under a metrics.reference policy start with: GROUND_TRUTH_PREFIX
    for the oracle, nothing for a seeded draw or a method without references."""
    return GROUND_TRUTH_PREFIX if policy == "ground_truth" else ""


def logged_names(objective: str) -> tuple[str, ...]:
    """Every name `objective` may be logged under: with ImageNet weights, and with the stand-in."""
    return tuple(dict.fromkeys(logged_name(objective, s) for s in ("", UNTRAINED_SUFFIX)))


def evaluation_names(suffix: str) -> tuple[str, ...]:
    """The names one evaluation logs, in the order tables show them."""
    return (fid(suffix), kid_mean(suffix), kid_std(suffix), SSIM)


def suffix_of(name: str) -> str:
    """The backbone suffix a logged name carries ('' or UNTRAINED_SUFFIX)."""
    return UNTRAINED_SUFFIX if name.endswith(UNTRAINED_SUFFIX) else ""


def best_name(name: str) -> str:
    """best_fid_untrained for fid_untrained: the run's best value so far."""
    return f"{BEST_PREFIX}{name}"


def mode(objective_or_name: str) -> str:
    """'min' or 'max' for an objective (fid) or a logged name (fid_untrained, kid_mean)."""
    base = objective_or_name.removesuffix(UNTRAINED_SUFFIX).removeprefix(GROUND_TRUTH_PREFIX)
    return MODES["kid" if base.startswith("kid") else base]


def is_better(name: str, value: float, than: float | None) -> bool:
    """Whether `value` of metric `name` beats `than` (None: nothing to beat)."""
    if than is None:
        return True
    return value < than if mode(name) == "min" else value > than
