"""Do Style2paints' hint encoders carry the reference's colours? A linear probe per encoder.

Generated references in the free palette (each character's part colours drawn at random,
ganime_core/data/synth.py) are encoded by each hint encoder (ganime_core/hints.py, the
encoders the family uses: `model.hint`), and a ridge regression from the standardized hint to
the CIELAB colour of every part of PALETTE_PARTS is fitted on the first references. Its ridge
weight is chosen on a validation slice of those, then the probe is refitted on all of them and
measured on held-out references: per part, the mean CIE76 ΔE between the predicted and the true
colour over the held-out references that show the part in MIN_SHOWN_PIXELS pixels or more (a
part a reference does not draw is unknowable to any encoder). `mean colour` predicts the
training references' average colour of each part: what a colorizer that ignores the reference
can do at best in this measure.

A probe near the mean colour says the hint does not carry the colours linearly; a probe well
below it says it does, and a generator could learn to read them. The seeded stand-in VGG19
(no ImageNet weights here) is probed as it is used.

    python -m bench.hint_probe                           # 600 references at 64 px: ~4 minutes
    python -m bench.hint_probe --references 200 --hints colour_thumbnail --json /tmp/probe.json
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.config import Style2paintsSettings
from ganime_core.data.annotations import MIN_SHOWN_PIXELS
from ganime_core.data.pipeline import to_float
from ganime_core.data.synth import PALETTE_PARTS, PART_ID, render_example
from ganime_core.hints import HINT_FEATURES, hint_encoder
from ganime_core.metrics.colour import delta_e, srgb_to_lab
from ganime_core.train import configure_process

RIDGE_WEIGHTS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
TRAIN_FRACTION = 0.75  # of the references: the probe's fit; the rest measure it
VALIDATION_FRACTION = 0.2  # of the fit's references: choose the ridge weight
ENCODE_BATCH = 32
# annotated_palette needs a data set's palettes.json: a probe of it would read the answer.
PROBED_HINTS = ("vgg19_fc1", "colour_thumbnail")


@dataclass(frozen=True)
class Probe:
    hint: str
    features: int
    ridge_weight: float
    delta_e: dict[str, float | None]  # per part, over held-out references showing it
    mean_delta_e: float  # over the parts measured, each part once


def references(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` generated references: uint8 images (n, s, s, 3), their palettes' CIELAB colours
    (n, P, 3) and whether each shows each part (n, P)."""
    images, labs, shown = [], [], []
    for index in range(count):
        example = render_example(seed, index, size, "free")
        labels = example.reference.labels
        images.append(example.reference.colour)
        palette = np.array([example.palette[part] for part in PALETTE_PARTS], np.uint8)
        labs.append(srgb_to_lab(palette))
        shown.append([(labels == PART_ID[p]).sum() >= MIN_SHOWN_PIXELS for p in PALETTE_PARTS])
    return np.stack(images), np.stack(labs), np.array(shown)


def ridge(features: np.ndarray, targets: np.ndarray, weight: float):
    """Fit targets ~ standardized(features) W + b by ridge; return the predictor."""
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = (features - mean) / scale
    offset = targets.mean(axis=0)
    y = targets - offset
    if x.shape[1] <= x.shape[0]:  # primal: (d, d)
        w = np.linalg.solve(x.T @ x + weight * np.eye(x.shape[1]), x.T @ y)
    else:  # dual: (n, n), for fc1's 4096 values from a few hundred references
        w = x.T @ np.linalg.solve(x @ x.T + weight * np.eye(x.shape[0]), y)
    return lambda f: ((f - mean) / scale) @ w + offset


def part_errors(predicted: np.ndarray, labs: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Mean ΔE per part over the references that show it: (P,), NaN for a part none shows."""
    errors = delta_e(predicted.reshape(labs.shape), labs)
    total = np.where(shown, errors, 0.0).sum(axis=0)
    count = shown.sum(axis=0)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def probe(hint: str, encoded: np.ndarray, labs: np.ndarray, shown: np.ndarray) -> Probe:
    n_fit = int(len(encoded) * TRAIN_FRACTION)
    n_train = n_fit - int(n_fit * VALIDATION_FRACTION)
    targets = labs.reshape(len(labs), -1)

    def score(fit: slice, measure: slice, weight: float) -> np.ndarray:
        predict = ridge(encoded[fit], targets[fit], weight)
        return part_errors(predict(encoded[measure]), labs[measure], shown[measure])

    weight = min(
        RIDGE_WEIGHTS,
        key=lambda w: np.nanmean(score(slice(0, n_train), slice(n_train, n_fit), w)),
    )
    errors = score(slice(0, n_fit), slice(n_fit, None), weight)
    return Probe(hint, encoded.shape[1], weight, _by_part(errors), float(np.nanmean(errors)))


def _by_part(errors: np.ndarray) -> dict[str, float | None]:
    pairs = zip(PALETTE_PARTS, errors, strict=True)
    return {part: None if np.isnan(e) else round(float(e), 2) for part, e in pairs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hint_probe", description=__doc__)
    parser.add_argument("--references", type=positive_int, default=600)
    parser.add_argument("--size", type=positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hints", nargs="+", choices=PROBED_HINTS, default=list(PROBED_HINTS))
    parser.add_argument("--json", type=Path, help="write the report here as well")
    args = parser.parse_args(argv)
    configure_process(usable_cpus())
    images, labs, shown = references(args.references, args.size, args.seed)
    n_fit = int(len(images) * TRAIN_FRACTION)
    average = np.broadcast_to(labs[:n_fit].mean(axis=0), labs[n_fit:].shape)
    baseline = part_errors(average, labs[n_fit:], shown[n_fit:])
    probes = []
    for hint in args.hints:
        settings = Style2paintsSettings(family="style2paints", hint=hint)
        encoder = hint_encoder(settings, None)  # fc1: the seeded stand-in
        encoded = np.concatenate(
            [
                np.asarray(encoder(to_float(images[i : i + ENCODE_BATCH]), training=False))
                for i in range(0, len(images), ENCODE_BATCH)
            ]
        )
        assert encoded.shape[1] == HINT_FEATURES[hint]
        probes.append(probe(hint, encoded, labs, shown))

    rows = [("mean colour", _by_part(baseline), float(np.nanmean(baseline)))]
    rows += [(p.hint, p.delta_e, p.mean_delta_e) for p in probes]
    width = max(len(part) for part in PALETTE_PARTS)
    print(f"held-out ΔE per part ({len(images) - n_fit} references, each part where shown)")
    print(f"{'':<{width}} " + " ".join(f"{name:>16}" for name, _, _ in rows))
    for part in PALETTE_PARTS:
        cells = ("—" if e[part] is None else f"{e[part]:.1f}" for _, e, _ in rows)
        print(f"{part:<{width}} " + " ".join(f"{cell:>16}" for cell in cells))
    print(f"{'mean':<{width}} " + " ".join(f"{mean:>16.1f}" for _, _, mean in rows))
    if args.json:
        report = {
            "command": shlex.join(
                ["python", "-m", "bench.hint_probe", *(sys.argv[1:] if argv is None else argv)]
            ),
            "commit": git_commit(),
            "references": len(images),
            "held_out": len(images) - n_fit,
            "size": args.size,
            "mean_colour": {"delta_e": _by_part(baseline), "mean": float(np.nanmean(baseline))},
            "probes": [asdict(p) for p in probes],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
