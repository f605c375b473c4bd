"""Where pretrained weights are found on this machine; nothing is ever downloaded.

No TensorFlow here: a driver (a sweep, the CLI) decides before any worker starts which backbone
its metrics will come from, and so under which names they will be reported.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganime_core.config import MetricsConfig
from ganime_core.errors import MetricsError
from ganime_core.metrics.names import UNTRAINED_SUFFIX

INCEPTION_WEIGHTS_ENV = "GANIME_INCEPTION_WEIGHTS"
# The name Keras' InceptionV3(include_top=False, weights="imagenet") downloads to.
KERAS_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def find_inception_weights(settings: MetricsConfig) -> Path | None:
    """The InceptionV3 weights file to load, or None if there is none and none was asked for.

    First found wins: `metrics.inception_weights`, $GANIME_INCEPTION_WEIGHTS, Keras' cache. A file
    named in the config or the environment must exist: a typo is an error, not a silent
    fall-back to other weights.
    """
    explicit = settings.inception_weights or os.environ.get(INCEPTION_WEIGHTS_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            source = (
                "metrics.inception_weights"
                if settings.inception_weights
                else f"${INCEPTION_WEIGHTS_ENV}"
            )
            raise MetricsError(f"{source}: no such file {path}")
        return path
    return next((path for path in keras_cache_files() if path.is_file()), None)


def keras_cache_files() -> list[Path]:
    """Where Keras keeps the downloaded weights: $KERAS_HOME/models, or ~/.keras/models, or
    /tmp/.keras/models when the home folder is not writable."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home)] if home else [Path.home() / ".keras", Path("/tmp/.keras")]
    return [base / "models" / KERAS_INCEPTION_FILE for base in bases]


def inception_metric_suffix(settings: MetricsConfig) -> str:
    """'' when FID/KID will come from ImageNet weights, '_untrained' when the config allows the
    seeded stand-in and no weights are found; otherwise the MetricsError saying how to get them."""
    if find_inception_weights(settings) is not None:
        return ""
    if settings.allow_untrained_backbone:
        return UNTRAINED_SUFFIX
    raise MetricsError(
        f"no InceptionV3 ImageNet weights: none in the Keras cache ({keras_cache_files()[0]}), "
        f"and metrics.inception_weights and ${INCEPTION_WEIGHTS_ENV} are unset. On a machine with "
        'internet run: python -c "import keras; keras.applications.InceptionV3('
        "include_top=False, weights='imagenet')\" and copy the file it downloads there, or set "
        f"${INCEPTION_WEIGHTS_ENV}=/path/to/{KERAS_INCEPTION_FILE}. For smoke runs only: "
        "--set metrics.allow_untrained_backbone=true (reported as fid_untrained)"
    )
