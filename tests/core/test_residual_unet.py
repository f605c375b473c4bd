"""Style2paints V1's residual U-Net: the shapes of the paper's Fig. 2, and the hint's effect."""

from __future__ import annotations

import numpy as np
import pytest

from ganime_core.residual_unet import HINT_FEATURES, residual_unet

# (layer, output shape without the batch) at 256x256 and base_filters 16, as Fig. 2 draws them.
FIGURE_2 = {
    "enc0_b_act": (256, 256, 16),
    "enc1_b_act": (128, 128, 32),
    "enc2_b_act": (64, 64, 64),
    "enc3_b_act": (32, 32, 128),
    "enc4_b_act": (16, 16, 256),
    "mid_hinted": (8, 8, 2048),
    "mid2_out": (8, 8, 2048),
    "dec_entry_act": (16, 16, 512),
    "dec4_skip": (16, 16, 512 + 256),
    "dec3_skip": (32, 32, 128 + 64),
    "dec2_skip": (64, 64, 64 + 32),
    "dec1_skip": (128, 128, 32 + 16),
    "dec0_up_act": (256, 256, 64),
    "painting": (256, 256, 3),
    "guide1": (256, 256, 1),
    "guide2": (256, 256, 3),
}


def test_every_block_has_the_shape_the_papers_figure_draws() -> None:
    model = residual_unet(256, 16)
    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in FIGURE_2}
    assert shapes == FIGURE_2


@pytest.mark.parametrize("size", [32, 64])
def test_small_sizes_run_the_same_code_and_every_output_is_in_minus_1_1(size: int) -> None:
    model = residual_unet(size, 4, mid_blocks=1)
    rng = np.random.default_rng(0)
    sketch = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    hint = rng.normal(0, 1, (2, HINT_FEATURES)).astype(np.float32)
    painting, guide1, guide2 = (np.asarray(o) for o in model([sketch, hint], training=False))
    assert painting.shape == (2, size, size, 3) and guide2.shape == (2, size, size, 3)
    assert guide1.shape == (2, size, size, 1)  # the grayscale target T(y)
    for image in (painting, guide1, guide2):
        assert np.abs(image).max() <= 1.0


def test_the_hint_changes_the_painting_and_guide_2_but_not_guide_1() -> None:
    """Guide decoder 1 branches before the hint is added, guide decoder 2 after it."""
    model = residual_unet(32, 4, mid_blocks=1)
    rng = np.random.default_rng(1)
    sketch = np.repeat(rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32), 2, axis=0)
    hints = rng.normal(0, 1, (2, HINT_FEATURES)).astype(np.float32)  # two references
    painting, guide1, guide2 = (np.asarray(o) for o in model([sketch, hints], training=False))
    assert not np.allclose(painting[0], painting[1])
    assert not np.allclose(guide2[0], guide2[1])
    # One sketch in two rows of one batch: the same arithmetic row by row, so equal bits.
    np.testing.assert_array_equal(guide1[0], guide1[1])
