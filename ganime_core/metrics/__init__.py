"""FID, KID and SSIM as the GANime paper measures them; one implementation for training evals,
sweeps, promotion, the CLI and notebooks."""

from ganime_core.metrics.backbone import FEATURE_DIM, Backbone, load_backbone
from ganime_core.metrics.frechet import FeatureStatistics, frechet_distance, frechet_distance_sqrtm
from ganime_core.metrics.kid import KernelDistance, kid
from ganime_core.metrics.ssim import ssim, ssim_per_pair

__all__ = [
    "FEATURE_DIM",
    "Backbone",
    "FeatureStatistics",
    "KernelDistance",
    "frechet_distance",
    "frechet_distance_sqrtm",
    "kid",
    "load_backbone",
    "ssim",
    "ssim_per_pair",
]
