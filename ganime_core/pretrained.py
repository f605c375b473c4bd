"""Which pretrained weights a run uses (InceptionV3 for the metrics, VGG19 for NST and
Style2paints, the magenta model for Fast NST), decided without TensorFlow.

A driver (a sweep, the CLI) decides before any worker starts which backbone its metrics will come
from, and so under which names they are reported; a worker's `inception_weights` then provides
those weights, downloading them if the driver counted on that. What the file is called, where it
comes from and where Keras keeps it is `ganime_core.assets`' to say.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganime_core.assets import (
    FAST_NST,
    INCEPTION_V3,
    VGG19,
    AssetError,
    auto_fetch_allowed,
    ensure_asset,
    inspect_asset,
    keras_models_dirs,
    missing_message,
)
from ganime_core.config import (
    AssetsConfig,
    ExperimentConfig,
    FastNSTSettings,
    MetricsConfig,
    NSTSettings,
    Style2paintsSettings,
)
from ganime_core.errors import MetricsError
from ganime_core.metrics import names

INCEPTION_WEIGHTS_ENV = "GANIME_INCEPTION_WEIGHTS"


def find_inception_weights(settings: MetricsConfig) -> Path | None:
    """The InceptionV3 weights file on this machine, or None if there is none and none was named.

    First found wins: `metrics.inception_weights`, $GANIME_INCEPTION_WEIGHTS, Keras' cache. A file
    named in the config or the environment must exist: a typo is an error, not a silent
    fall-back to other weights. Only presence is checked here (drivers read no 90 MB file);
    `inception_weights` checks the cached file's hash before a worker loads it.
    """
    explicit = named_weights(settings)
    if explicit is not None:
        return explicit
    cached = (folder / INCEPTION_V3.file_name for folder in keras_models_dirs())
    return next((path for path in cached if path.is_file()), None)


def inception_standin(settings: MetricsConfig, assets: AssetsConfig | None = None) -> bool:
    """False when FID/KID will come from ImageNet weights (found, or to be fetched by the
    workers since `assets.auto_fetch` allows it), True when the config allows the seeded
    stand-in and no weights are here (that never touches the network); otherwise the
    MetricsError saying how to get them."""
    if find_inception_weights(settings) is not None:
        return False
    if settings.allow_untrained_backbone:
        return True
    if auto_fetch_allowed(assets):
        return False
    raise _no_weights(missing_message(INCEPTION_V3.name, "assets.auto_fetch is off"))


def vgg19_standin(settings: object) -> bool:
    """Whether a method's VGG19 (NST's, Style2paints' hint) will be the seeded stand-in: it
    uses one, the config allows the stand-in and no verified weights file is here."""
    if not isinstance(settings, NSTSettings | Style2paintsSettings):
        return False
    if isinstance(settings, Style2paintsSettings) and not settings.uses_vgg19:
        return False  # its hint (colour_thumbnail) needs no weights: nothing stands in
    return settings.allow_untrained_vgg and inspect_asset(VGG19.name).state != "ok"


def standins(config: ExperimentConfig) -> tuple[str, ...]:
    """The stand-in networks a run of `config` will be measured with, as metric names mark
    them (ganime_core/metrics/names.py): what a driver names its metric before workers run."""
    found = []
    if inception_standin(config.metrics, config.assets):
        found.append(names.INCEPTION)
    if vgg19_standin(config.model):
        found.append(names.VGG19)
    return tuple(found)


def inception_weights(settings: MetricsConfig, assets: AssetsConfig | None = None) -> Path:
    """The weights file a worker loads: the one named in the config or environment, else Keras'
    cached file with its hash checked, fetched first (file-locked) when missing and allowed."""
    explicit = named_weights(settings)
    if explicit is not None:
        return explicit
    try:
        return ensure_asset(INCEPTION_V3.name, assets)
    except AssetError as exc:
        raise _no_weights(str(exc)) from None


def named_weights(settings: MetricsConfig) -> Path | None:
    """The weights file named in `metrics.inception_weights` or $GANIME_INCEPTION_WEIGHTS (it
    must exist), or None: Keras' cache then holds the weights, checked against the pinned md5."""
    explicit = settings.inception_weights or os.environ.get(INCEPTION_WEIGHTS_ENV)
    if not explicit:
        return None
    path = Path(explicit).expanduser()
    if not path.is_file():
        source = (
            "metrics.inception_weights"
            if settings.inception_weights
            else f"${INCEPTION_WEIGHTS_ENV}"
        )
        raise MetricsError(f"{source}: no such file {path}")
    return path


def _no_weights(reason: str) -> MetricsError:
    return MetricsError(
        f"no InceptionV3 ImageNet weights: {reason}; or name a weights file in "
        f"metrics.inception_weights or ${INCEPTION_WEIGHTS_ENV}; for smoke runs only: "
        "--set metrics.allow_untrained_backbone=true (reported as fid_untrained_inception)"
    )


def vgg19_weights(
    settings: NSTSettings | Style2paintsSettings, assets: AssetsConfig | None = None
) -> Path | None:
    """The VGG19 weights file NST or Style2paints loads: Keras' file, verified, fetched first
    when missing and `assets.auto_fetch` allows it; None (the seeded stand-in) only where the
    config allows it and no good file is here, which never touches the network."""
    status = inspect_asset(VGG19.name)  # hashes the 550 MB file: once
    if status.state == "ok":
        return status.path
    if settings.allow_untrained_vgg:
        return None
    try:
        return ensure_asset(VGG19.name, assets)
    except AssetError as exc:  # one line: the file, where it was looked for, the fix
        raise AssetError(
            f"no VGG19 ImageNet weights for {settings.family}: {exc}; for smoke runs only: "
            "--set model.allow_untrained_vgg=true (reported as fid_untrained_vgg19)"
        ) from None


def fast_nst_handle(settings: FastNSTSettings, assets: AssetsConfig | None = None) -> str:
    """What Fast NST hands TF Hub's loader: the configured handle (a URL or a folder, resolved
    by TF Hub and its cache), else the magenta model of the assets table, verified against its
    first-fetch digest or fetched: its SavedModel folder.

    The model is called as `outputs = model(content, style)`: float32 [1, h, w, 3] content and
    [1, 256, 256, 3] style images in [0, 1]; `outputs[0]` is the stylized image."""
    if settings.handle:
        return settings.handle
    return str(ensure_asset(FAST_NST.name, assets))
