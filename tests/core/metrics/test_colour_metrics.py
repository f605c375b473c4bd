"""The colour-following metrics (ganime_core/metrics/colour.py): CIELAB against published
values, the mean colour error per part, the swap ratio and the a/b histogram distance, on label
maps and palettes built by hand.

Tolerances: a part's mean colour sums at most PIXELS float64 Lab values of magnitude under 128
(|L*| <= 100, |a*|, |b*| < 128 in sRGB's gamut), so each mean is within gamma(PIXELS) * 128 of
the exact value (Higham's bound, tests/support/tolerances.py, with float64's unit roundoff). ΔE is
1-Lipschitz in each argument in the Euclidean norm, so a ΔE between two such means is off by at
most 2 * sqrt(3) times that, plus its own few roundings: ATOL below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganime_core.metrics.colour import (
    ab_distance,
    ab_histograms,
    delta_e,
    histogram_distance,
    part_colour_errors,
    part_colours,
    srgb_to_lab,
    swap_ratio,
    swap_terms,
)
from tests.support.tolerances import gamma

U64 = 2.0**-53  # float64's unit roundoff
SIZE = 8
PIXELS = SIZE * SIZE
ATOL = 4.0 * gamma(PIXELS, U64) * 128.0 + 16 * U64 * 128.0

# Published Lab of sRGB primaries (Lindbloom's convention: D65 = (0.95047, 1, 1.08883)), given to
# 2 decimals: within 0.005 of the exact figure; 0.01 leaves as much again for the 4th-decimal
# differences between D65 whites the tables use.
PUBLISHED = [
    ((255, 0, 0), (53.24, 80.09, 67.20)),
    ((0, 255, 0), (87.73, -86.18, 83.18)),
    ((0, 0, 255), (32.30, 79.19, -107.86)),
]
PUBLISHED_ATOL = 0.01

# Parts 1, 2, 3 and a background 0 that is no part: part 1 the top half, part 2 the bottom half
# but for 3 pixels of part 3 in its last row.
PARTS = (1, 2, 3)


def label_map() -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[: SIZE // 2, 1:] = 1
    labels[SIZE // 2 :, 1:] = 2
    labels[-1, 1:4] = 3
    return labels


def paint(labels: np.ndarray, palette: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """An image painted with palette[k] on part PARTS[k] and `background` elsewhere."""
    image = np.empty((*labels.shape, 3), np.uint8)
    image[...] = background
    for k, part in enumerate(PARTS):
        image[labels == part] = palette[k]
    return image


PALETTE_A = np.array([[200, 40, 60], [30, 120, 220], [250, 250, 10]], np.uint8)
PALETTE_B = np.array([[20, 180, 100], [240, 200, 120], [90, 10, 160]], np.uint8)
GREY = (128, 128, 128)


def lab_of(colour: tuple[int, int, int] | np.ndarray) -> np.ndarray:
    return srgb_to_lab(np.asarray(colour, np.uint8))


@pytest.mark.parametrize(("rgb", "lab"), PUBLISHED)
def test_lab_matches_published_values(rgb: tuple[int, int, int], lab: tuple[float, ...]) -> None:
    np.testing.assert_allclose(lab_of(rgb), lab, rtol=0, atol=PUBLISHED_ATOL)


def test_white_black_and_greys() -> None:
    # White and black are exact by construction, up to a few float64 roundings of values <= 116.
    np.testing.assert_allclose(lab_of((255, 255, 255)), (100, 0, 0), rtol=0, atol=64 * U64 * 116)
    np.testing.assert_allclose(lab_of((0, 0, 0)), (0, 0, 0), rtol=0, atol=64 * U64 * 116)
    greys = srgb_to_lab(np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1))
    np.testing.assert_allclose(greys[:, 1:], 0, rtol=0, atol=64 * U64 * 500)
    assert np.all(np.diff(greys[:, 0]) > 0)  # lightness grows with the code


def test_lab_shapes_and_dtype() -> None:
    rgb = np.zeros((2, 5, 4, 3), np.uint8)
    assert srgb_to_lab(rgb).shape == (2, 5, 4, 3) and srgb_to_lab(rgb).dtype == np.float64
    with pytest.raises(ValueError, match="uint8"):
        srgb_to_lab(rgb.astype(np.float32))


def test_delta_e() -> None:
    lab = srgb_to_lab(np.stack([PALETTE_A, PALETTE_B]))
    assert np.all(delta_e(lab, lab) == 0)
    np.testing.assert_allclose(delta_e([0, 0, 0], [3, 4, 12]), 13, rtol=4 * U64)
    assert delta_e(lab, lab[::-1]).shape == (2, 3)


def test_part_colours_mean_and_mask() -> None:
    labels = label_map()[None]
    image = paint(labels[0], PALETTE_A, GREY)[None]
    colours, ok = part_colours(image, labels, PARTS, min_pixels=4)
    assert colours.shape == (1, 3, 3) and ok.shape == (1, 3)
    assert ok.tolist() == [[True, True, False]]  # part 3 has 3 pixels
    np.testing.assert_allclose(colours[0, :2], srgb_to_lab(PALETTE_A[:2]), rtol=0, atol=ATOL)
    assert np.all(np.isnan(colours[0, 2]))
    _, ok = part_colours(image, labels, PARTS, min_pixels=3)
    assert ok.all()


def test_part_colour_error_is_zero_when_painted_in_the_palette() -> None:
    labels = np.stack([label_map()] * 2)
    palettes = np.stack([PALETTE_A, PALETTE_B])
    outputs = np.stack([paint(labels[i], palettes[i], GREY) for i in range(2)])
    np.testing.assert_allclose(
        part_colour_errors(outputs, labels, palettes, PARTS), 0, rtol=0, atol=ATOL
    )


def test_part_colour_error_of_a_known_shift_on_one_part() -> None:
    labels = label_map()[None]
    shifted = PALETTE_A.copy()
    shifted[1] = (60, 100, 180)
    outputs = paint(labels[0], shifted, GREY)[None]
    # Parts 1 and 2 qualify (part 3 has 3 pixels): the mean of 0 and the shift's ΔE.
    expected = delta_e(lab_of(PALETTE_A[1]), lab_of(shifted[1])) / 2
    errors = part_colour_errors(outputs, labels, PALETTE_A[None], PARTS, min_pixels=4)
    assert errors.shape == (1,) and errors.dtype == np.float64
    np.testing.assert_allclose(errors, [expected], rtol=0, atol=ATOL)


def test_part_colour_error_ignores_parts_under_min_pixels() -> None:
    labels = label_map()[None]
    wrong_small_part = PALETTE_A.copy()
    wrong_small_part[2] = (0, 0, 0)
    outputs = paint(labels[0], wrong_small_part, GREY)[None]
    kept = part_colour_errors(outputs, labels, PALETTE_A[None], PARTS, min_pixels=4)
    np.testing.assert_allclose(kept, [0], rtol=0, atol=ATOL)
    counted = part_colour_errors(outputs, labels, PALETTE_A[None], PARTS, min_pixels=3)
    expected = delta_e(lab_of(PALETTE_A[2]), lab_of((0, 0, 0))) / 3
    np.testing.assert_allclose(counted, [expected], rtol=0, atol=ATOL)


@pytest.mark.filterwarnings("error")  # no "mean of empty slice" on the way to NaN
def test_part_colour_error_is_nan_without_parts() -> None:
    labels = np.stack([np.zeros((SIZE, SIZE), np.uint8), label_map()])  # image 0: all background
    outputs = np.stack([paint(labels[i], PALETTE_A, GREY) for i in range(2)])
    errors = part_colour_errors(outputs, labels, np.stack([PALETTE_A] * 2), PARTS)
    assert math.isnan(errors[0]) and abs(errors[1]) <= ATOL


def ratio_tolerance(moved: np.ndarray, differ: np.ndarray) -> float:
    """Relative tolerance of sum(moved) / sum(differ) when each term is within ATOL: a sum is
    then off by at most ATOL / (its smallest term) relatively, and a ratio by both (first
    order)."""
    return ATOL / float(np.min(moved)) + ATOL / float(np.min(differ))


def test_swap_ratio_one_zero_and_halfway() -> None:
    labels = np.stack([label_map()] * 2)
    palettes = np.stack([PALETTE_A, PALETTE_B])
    swapped_palettes = palettes[::-1].copy()  # each sketch gets the other's reference
    follow = np.stack([paint(labels[i], palettes[i], GREY) for i in range(2)])
    follow_swapped = np.stack([paint(labels[i], swapped_palettes[i], GREY) for i in range(2)])
    # Independently, from the palettes' own Lab: parts 1 and 2 qualify (part 3 has 3 pixels).
    lab_a, lab_b = srgb_to_lab(PALETTE_A[:2]), srgb_to_lab(PALETTE_B[:2])
    expected_differ = np.full(2, delta_e(lab_a, lab_b).mean())

    moved, differ = swap_terms(follow, follow_swapped, labels, palettes, swapped_palettes, PARTS)
    assert moved.shape == differ.shape == (2,)
    np.testing.assert_allclose(differ, expected_differ, rtol=0, atol=ATOL)
    np.testing.assert_allclose(moved, expected_differ, rtol=0, atol=ATOL)
    tolerance = ratio_tolerance(expected_differ, expected_differ)
    assert swap_ratio(moved, differ) == pytest.approx(1, rel=tolerance)

    moved, differ = swap_terms(follow, follow, labels, palettes, swapped_palettes, PARTS)
    assert swap_ratio(moved, differ) == 0  # identical outputs: every ΔE is exactly 0

    # Halfway in RGB (the palettes' channel differences are all even, so the midpoint is exact).
    assert np.all((PALETTE_A.astype(int) - PALETTE_B) % 2 == 0)
    halfway = ((PALETTE_A.astype(int) + PALETTE_B) // 2).astype(np.uint8)
    halfway_outputs = np.stack([paint(labels[i], halfway, GREY) for i in range(2)])
    moved, differ = swap_terms(follow, halfway_outputs, labels, palettes, swapped_palettes, PARTS)
    lab_half = srgb_to_lab(halfway[:2])
    expected_moved = np.array([delta_e(lab_a, lab_half).mean(), delta_e(lab_b, lab_half).mean()])
    np.testing.assert_allclose(moved, expected_moved, rtol=0, atol=ATOL)
    expected = expected_moved.sum() / expected_differ.sum()
    assert 0.3 < expected < 0.7  # halfway in RGB is roughly, not exactly, halfway in Lab
    tolerance = ratio_tolerance(expected_moved, expected_differ)
    assert swap_ratio(moved, differ) == pytest.approx(expected, rel=tolerance)


def test_swap_ratio_skips_nan_and_is_nan_with_nothing_to_follow() -> None:
    assert swap_ratio(np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan])) == 0.5
    assert math.isnan(swap_ratio(np.array([1.0]), np.array([0.0])))
    assert math.isnan(swap_ratio(np.array([np.nan]), np.array([np.nan])))


def test_ab_histograms_are_normalized() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    histograms = ab_histograms(images, bins=16)
    assert histograms.shape == (3, 16, 16)
    # Each is PIXELS counts divided by PIXELS: sums to 1 within a sum's rounding.
    np.testing.assert_allclose(histograms.sum(axis=(1, 2)), 1, rtol=0, atol=gamma(256, U64))
    assert ab_histograms(images, bins=4).shape == (3, 4, 4)


def test_histogram_distance() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    others = rng.integers(0, 256, (4, SIZE + 2, SIZE + 2, 3), dtype=np.uint8)
    # Identical: the overlap sums 256 terms sqrt(p_j p_j), each within 2 roundings of p_j, so it
    # is within gamma(256) + 2u < gamma(512) of 1, and the distance within its square root.
    same = ab_distance(images, images)
    assert same.shape == (4,)
    np.testing.assert_allclose(same, 0, rtol=0, atol=math.sqrt(gamma(512, U64)))

    red = np.broadcast_to(np.array([255, 0, 0], np.uint8), (1, SIZE, SIZE, 3))
    green = np.broadcast_to(np.array([0, 255, 0], np.uint8), (1, SIZE, SIZE, 3))
    assert ab_distance(red, green).tolist() == [1.0]  # disjoint cells: no overlap at all

    p, q = ab_histograms(images), ab_histograms(others)
    distance = histogram_distance(p, q)
    assert distance.shape == (4,) and np.all((distance >= 0) & (distance <= 1))
    np.testing.assert_array_equal(distance, histogram_distance(q, p))  # sqrt(p q) = sqrt(q p)
