"""FID, KID and SSIM as the GANime paper measures them; one implementation for training evals,
sweeps, promotion, the CLI and notebooks.

The measuring needs TensorFlow; the names do not. Attributes load on first use (PEP 562), so a
driver importing `ganime_core.metrics.names` does not import TensorFlow with the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "FEATURE_DIM": "backbone",
    "Backbone": "backbone",
    "load_backbone": "backbone",
    "FeatureStatistics": "frechet",
    "FrechetReference": "frechet",
    "frechet_distance": "frechet",
    "frechet_distance_sqrtm": "frechet",
    "KernelDistance": "kernel_distance",
    "kid": "kernel_distance",
    "ssim": "structural_similarity",
    "ssim_per_pair": "structural_similarity",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # once: later look-ups skip this function
    return value
