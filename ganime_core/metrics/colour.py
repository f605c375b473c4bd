"""Does a colorizer follow its reference's colours? CIELAB measures in pure NumPy.

Images are uint8 sRGB, (n, s, s, 3). On generated data each image's part map is known (labels,
uint8 (n, s, s), values = part ids) and so is its reference palette (uint8 (n, P, 3), one
colour per part id of `parts`, length P). Three measures:

- `part_colour_errors`: the mean colour error per part, CIE76 ΔE*ab between the mean CIELAB
  colour of an output's pixels of a part and that part's palette colour, averaged over parts.
- `swap_terms` / `swap_ratio`: how far the outputs move when the references are swapped, over
  how far the references' palettes differ (1 follows the reference, 0 ignores it).
- `ab_distance`: on any data, the Hellinger distance between the CIELAB a/b histograms of an
  output and its reference.

No TensorFlow here: the measures run on decoded images, in float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

# sRGB (IEC 61966-2-1) linear RGB -> XYZ, Bruce Lindbloom's matrix: the sRGB primaries with the
# D65 white of ASTM E308 (0.95047, 1, 1.08883), the convention of the published Lab tables.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
# The white is the matrix's image of RGB white (its row sums), not the rounded D65 figures: then
# sRGB white is L* = 100 and every grey has a* = b* = 0, up to float64 rounding.
_WHITE = _RGB_TO_XYZ.sum(axis=1)

_DELTA = 6.0 / 29.0  # CIE f(t): the cube root above DELTA**3, a line below it


def _linearize(code: np.ndarray) -> np.ndarray:
    """sRGB decoding of values in [0, 1]: c / 12.92 up to 0.04045, ((c + 0.055) / 1.055)^2.4."""
    return np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)


# uint8 has 256 codes: decode them once and index, rather than take a power per pixel.
_LINEAR = _linearize(np.arange(256, dtype=np.float64) / 255.0)

# Bound the float64 Lab arrays of one batch (about 100 MB): thousands of 256-px images would
# otherwise take gigabytes at once.
_CHUNK_PIXELS = 1 << 22


def _cie_f(t: np.ndarray) -> np.ndarray:
    """CIE f(t) = t^(1/3) for t > (6/29)^3, else t / (3 (6/29)^2) + 4/29 (continuous at the
    joint, and linear near black where the cube root's slope is unbounded)."""
    linear = t / (3.0 * _DELTA**2) + 4.0 / 29.0
    return np.where(t > _DELTA**3, np.cbrt(t), linear)


def _check_uint8(name: str, array: np.ndarray) -> None:
    if array.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 sRGB codes, got {array.dtype}")


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of uint8 sRGB colours: (..., 3) -> float64 (..., 3) as (L*, a*, b*).

    Decode each code c = v / 255 to linear light, XYZ = M rgb_linear, then with t = X/Xn, Y/Yn,
    Z/Zn: L* = 116 f(Y/Yn) - 16, a* = 500 (f(X/Xn) - f(Y/Yn)), b* = 200 (f(Y/Yn) - f(Z/Zn)).
    """
    rgb = np.asarray(rgb)
    _check_uint8("rgb", rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"rgb must end in an axis of 3 channels, got shape {rgb.shape}")
    xyz = _LINEAR[rgb] @ (_RGB_TO_XYZ / _WHITE[:, None]).T  # already divided by the white
    f = _cie_f(xyz)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIE76 ΔE*ab: the Euclidean distance sqrt(ΔL*² + Δa*² + Δb*²) over the last axis."""
    difference = np.asarray(lab_a, dtype=np.float64) - np.asarray(lab_b, dtype=np.float64)
    return np.sqrt(np.sum(difference**2, axis=-1))


def _batches(n: int, pixels_per_image: int) -> Iterator[slice]:
    """Consecutive batches of n images, each of at most _CHUNK_PIXELS pixels (one image at
    least)."""
    step = max(1, _CHUNK_PIXELS // max(1, pixels_per_image))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _check_images(images: np.ndarray, labels: np.ndarray | None = None) -> None:
    _check_uint8("images", images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, h, w, 3), got shape {images.shape}")
    if labels is not None:
        _check_uint8("labels", labels)
        if labels.shape != images.shape[:-1]:
            raise ValueError(f"labels {labels.shape} do not match images {images.shape}")


def part_colours(
    images: np.ndarray, labels: np.ndarray, parts: Sequence[int], min_pixels: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """The mean CIELAB colour of each image's pixels of each part, and which parts count.

    colours[i, k] = (1 / |S|) sum over pixels x in S of Lab(images[i, x]), where
    S = {x : labels[i, x] == parts[k]}; ok[i, k] = |S| >= min_pixels. colours is NaN where ok is
    False, so a part too small to say what colour it was painted is never averaged in.

    Returns float64 (n, P, 3) and bool (n, P).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    _check_images(images, labels)
    part_ids = [int(p) for p in parts]
    if len(set(part_ids)) != len(part_ids) or not all(0 <= p <= 255 for p in part_ids):
        raise ValueError(f"parts must be distinct uint8 ids, got {list(parts)}")
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be at least 1, got {min_pixels}")
    n, count = images.shape[0], len(part_ids)
    # Each label's column: its part's index, or `count` for pixels of no listed part.
    column_of = np.full(256, count, dtype=np.intp)
    column_of[part_ids] = np.arange(count)
    sums = np.zeros((n, count + 1, 3))
    pixels = np.zeros((n, count + 1), dtype=np.int64)
    per_image = int(np.prod(images.shape[1:3]))
    for batch in _batches(n, per_image):
        lab = srgb_to_lab(images[batch]).reshape(-1, 3)
        rows = np.arange(lab.shape[0]) // per_image  # each pixel's image within the batch
        # One bin per (image, part): sums over every part in one pass over the pixels.
        bins = rows * (count + 1) + column_of[labels[batch].reshape(-1)]
        size = (batch.stop - batch.start) * (count + 1)
        pixels[batch] = np.bincount(bins, minlength=size).reshape(-1, count + 1)
        for channel in range(3):
            channel_sums = np.bincount(bins, weights=lab[:, channel], minlength=size)
            sums[batch, :, channel] = channel_sums.reshape(-1, count + 1)
    sums, pixels = sums[:, :count], pixels[:, :count]
    ok = pixels >= min_pixels
    colours = np.full((n, count, 3), np.nan)
    colours[ok] = sums[ok] / pixels[ok][:, None]
    return colours, ok


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the last axis of values where mask is True; NaN (silently) where none is."""
    total = np.where(mask, values, 0.0).sum(axis=-1)
    count = mask.sum(axis=-1)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _check_palettes(palettes: np.ndarray, n: int, parts: Sequence[int]) -> None:
    _check_uint8("palettes", palettes)
    if palettes.shape != (n, len(parts), 3):
        raise ValueError(f"palettes must be ({n}, {len(parts)}, 3), got {palettes.shape}")


def part_colour_errors(
    outputs: np.ndarray,
    labels: np.ndarray,
    palettes: np.ndarray,
    parts: Sequence[int],
    min_pixels: int = 4,
) -> np.ndarray:
    """The mean colour error per part of each output against its reference palette, (n,).

    error[i] = mean over parts k with ok[i, k] of ΔE*ab(colours[i, k], Lab(palettes[i, k])),
    with colours, ok from `part_colours`; NaN when no part of image i has min_pixels pixels.

    A part's colour is its mean: the palette gives each part one flat colour, while a colorizer
    may shade or texture it. Comparing the mean asks whether the part got the reference's
    colour, and leaves shading inside the part to FID and SSIM.
    """
    outputs = np.asarray(outputs)
    palettes = np.asarray(palettes)
    _check_palettes(palettes, outputs.shape[0], parts)
    colours, ok = part_colours(outputs, labels, parts, min_pixels)
    return _masked_mean(delta_e(colours, srgb_to_lab(palettes)), ok)


def swap_terms(
    outputs: np.ndarray,
    swapped_outputs: np.ndarray,
    labels: np.ndarray,
    palettes: np.ndarray,
    swapped_palettes: np.ndarray,
    parts: Sequence[int],
    min_pixels: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """How far each output moved when its reference was swapped, and how far the references'
    palettes differ: (moved, differ), each float64 (n,).

    Both outputs colour the same sketch, so the same parts qualify (ok from `part_colours`).
    moved[i] = mean over those k of ΔE*ab(colours(outputs)[i, k], colours(swapped_outputs)[i, k]);
    differ[i] = mean over the same k of ΔE*ab(Lab(palettes[i, k]), Lab(swapped_palettes[i, k])).
    NaN for an image with no qualifying part.
    """
    outputs = np.asarray(outputs)
    swapped_outputs = np.asarray(swapped_outputs)
    if swapped_outputs.shape != outputs.shape:
        raise ValueError(f"swapped_outputs {swapped_outputs.shape} != outputs {outputs.shape}")
    palettes = np.asarray(palettes)
    swapped_palettes = np.asarray(swapped_palettes)
    _check_palettes(palettes, outputs.shape[0], parts)
    _check_palettes(swapped_palettes, outputs.shape[0], parts)
    colours, ok = part_colours(outputs, labels, parts, min_pixels)
    swapped_colours, _ = part_colours(swapped_outputs, labels, parts, min_pixels)
    moved = _masked_mean(delta_e(colours, swapped_colours), ok)
    differ = _masked_mean(delta_e(srgb_to_lab(palettes), srgb_to_lab(swapped_palettes)), ok)
    return moved, differ


def swap_ratio(moved: np.ndarray, differ: np.ndarray) -> float:
    """sum(moved) / sum(differ) over the images where both terms are finite.

    1: the outputs move exactly as far as the references' palettes differ; 0: they ignore the
    reference. A ratio of sums, not a mean of ratios, so images whose palettes barely differ do
    not blow it up. NaN when the palettes' differences sum to 0 (nothing to follow).
    """
    moved = np.asarray(moved, dtype=np.float64)
    differ = np.asarray(differ, dtype=np.float64)
    if moved.shape != differ.shape:
        raise ValueError(f"moved {moved.shape} and differ {differ.shape} differ in shape")
    finite = np.isfinite(moved) & np.isfinite(differ)
    total = float(differ[finite].sum())
    return float(moved[finite].sum()) / total if total > 0 else float("nan")


def ab_histograms(images: np.ndarray, bins: int = 16) -> np.ndarray:
    """Each image's normalized 2-D histogram over CIELAB (a*, b*), float64 (n, bins, bins).

    The square [-128, 128)² is cut into bins × bins equal cells (a* indexes axis 1, b* axis 2),
    and h[i, u, v] = (pixels of image i in cell (u, v)) / (pixels of image i), so each sums to 1.
    L* is left out: the measure is about hue and chroma, not lightness (SSIM covers that).
    """
    images = np.asarray(images)
    _check_images(images)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    n = images.shape[0]
    per_image = int(np.prod(images.shape[1:3]))
    counts = np.zeros((n, bins * bins))
    for batch in _batches(n, per_image):
        lab = srgb_to_lab(images[batch]).reshape(-1, 3)
        # sRGB's gamut lies inside [-128, 128) in a* and b*; the clip only guards the edges.
        cell = np.clip(np.floor((lab[:, 1:] + 128.0) * (bins / 256.0)), 0, bins - 1)
        cell = cell.astype(np.intp)
        rows = np.arange(lab.shape[0]) // per_image  # each pixel's image within the batch
        flat = (rows * bins + cell[:, 0]) * bins + cell[:, 1]
        size = (batch.stop - batch.start) * bins * bins
        counts[batch] = np.bincount(flat, minlength=size).reshape(-1, bins * bins)
    return (counts / max(1, per_image)).reshape(n, bins, bins)


def histogram_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance between normalized histograms, (n, ...) -> (n,), in [0, 1].

    H(p, q) = sqrt(1 - sum_j sqrt(p_j q_j)): 0 for the same distribution, 1 for disjoint
    supports. Symmetric, and bounded, unlike KL which is infinite on a colour one side lacks.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim < 1:
        raise ValueError(f"histograms must have one shape (n, ...), got {p.shape} and {q.shape}")
    overlap = np.sqrt(p * q).reshape(p.shape[0], -1).sum(axis=1)
    # Rounding can put the overlap of identical histograms a hair above 1.
    return np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0))


def ab_distance(outputs: np.ndarray, references: np.ndarray, bins: int = 16) -> np.ndarray:
    """Hellinger distance between each output's and its reference's CIELAB a*/b* histograms,
    (n,): 0 = the same colour distribution, 1 = no colour in common. Sizes may differ."""
    outputs = np.asarray(outputs)
    references = np.asarray(references)
    if outputs.shape[0] != references.shape[0]:
        raise ValueError(f"{outputs.shape[0]} outputs but {references.shape[0]} references")
    return histogram_distance(ab_histograms(outputs, bins), ab_histograms(references, bins))
