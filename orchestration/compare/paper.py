"""The GANime paper's own numbers (../shared/seeds/ganime-paper-summary.txt, its results table),
shown beside a compare's, and which of its rows a method's config is.

The paper measured at 256 px on its 3,545 test images with ImageNet InceptionV3, one unseeded
run each; a compare's numbers are comparable with these only under that protocol
(experiments/compare_paper.yaml), never with the stand-in backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganime_core.config import ExperimentConfig

PAPER_SOURCE = "GANime paper (arXiv:2508.09207), 256 px, 3,545 test images, one run each"


@dataclass(frozen=True)
class PaperResult:
    fid: float
    ssim: float

    def reported(self, objective: str) -> float | None:
        """The paper's value of `objective`; None for one it does not report (it measured no
        colour-following: part ΔE, a/b distance and swap are GANime's)."""
        return {"fid": self.fid, "ssim": self.ssim}.get(objective)


RESULTS = {
    "NST": PaperResult(345.5, 0.655),
    "CycleGAN": PaperResult(272.6, 0.724),
    "Pix2Pix": PaperResult(227.9, 0.747),
    "Pix2Pix + TV": PaperResult(220.5, 0.756),
}
BASELINE = "NST"  # the paper's FID reductions are against NST


def paper_row(config: ExperimentConfig) -> str | None:
    """The row of the paper's table `config` runs; None for a method it reports no numbers for
    (Fast NST, Style2paints)."""
    family = config.model.family
    if family == "pix2pix":
        return "Pix2Pix + TV" if config.model.lambda_tv > 0 else "Pix2Pix"
    return {"nst": "NST", "cyclegan": "CycleGAN"}.get(family)


def fid_reduction(fid: float, baseline_fid: float) -> float:
    """How much lower `fid` is than the baseline's, in percent (the paper's last column)."""
    return 100.0 * (baseline_fid - fid) / baseline_fid
