"""A synthetic data set in the Kaggle "anime-sketch-colorization-pair" layout (NumPy + Pillow only).

Each image is an anime-like bust: flat colour regions with near-black outlines, the colour picture
in the left half and its line art (the same outlines on white) in the right half. Every shape
class has a few style variants, visible in the line art (see `STYLES`). The palette mode decides
where the colours come from:
- `tied`: each variant always has the same colour, so colours are learnable from the line art;
- `free`: each character's colours of `PALETTE_PARTS` are drawn at random, independent of its
  drawing, so only a reference in the same palette tells them.

A character is drawn once, as a map of part labels (`PARTS`) with outlines as their own label, and
both halves are looked up from that map: the colour half through the character's palette, the
sketch half as white everywhere except the outline label. This is the same as drawing every shape
twice with identical geometry and painter's order, with the match exact by construction.

A data set's folders, for image NNNNN of split folder F (train or val):
- F/NNNNN.png: colour | sketch, RGB, 2*size x size (what the Kaggle set holds);
- references/F/NNNNN.png: colour only, size x size: another drawing of a character in the same
  palette (tied: the same variants, new geometry; free: new variants and geometry);
- parts/F/NNNNN.png: the pair's part labels, mode L, size x size, values index `PARTS`;
- palettes.json: {"train": {"NNNNN": {part: [r, g, b] for every part of PALETTE_PARTS}}, "val":
  ...}: the colours image NNNNN and its reference use, including parts neither shows (tied: a
  neutral grey for the parts its variants never draw).

Image `i` is drawn from `np.random.default_rng([seed, i])` alone (and, in `free` mode, coloured
from the stream [seed, i, PALETTE_STREAM]; its reference is drawn from [seed, i,
REFERENCE_STREAM]), and its split is a function of `i` alone (`split_of`), so adding images never
changes or renumbers earlier ones, and `tied` images are those of the layout before references.
"""

from __future__ import annotations

import colorsys
import contextlib
import json
import math
import operator
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
Point = tuple[float, float]

OUTLINE: RGB = (20, 20, 30)
WHITE: RGB = (255, 255, 255)
BACKGROUND: RGB = (232, 238, 246)
MIN_SIZE = 16
# Pillow writes no tIME/text chunk unless asked, so these options give reproducible bytes.
PNG_OPTIONS = {"format": "PNG", "compress_level": 6, "optimize": False}

# Label values of the part map; the index into this tuple is the label.
PARTS: tuple[str, ...] = (
    "background",
    "outline",
    "hair",
    "hair_tie",
    "skin",
    "sclera",
    "iris",
    "pupil",
    "highlight",
    "mouth",
    "clothes",
    "clothes_trim",
    "ribbon",
)
PART_ID: dict[str, int] = {name: i for i, name in enumerate(PARTS)}
# The parts whose colour a character's palette decides (STYLES' parts), in palettes.json's order.
PALETTE_PARTS: tuple[str, ...] = (
    "hair",
    "hair_tie",
    "skin",
    "iris",
    "mouth",
    "clothes",
    "clothes_trim",
    "ribbon",
)

PaletteMode = Literal["tied", "free"]
PALETTE_MODES: tuple[str, ...] = ("tied", "free")
# Random streams of image i beside its drawing's [seed, i]: [seed, i, stream].
PALETTE_STREAM = 1
REFERENCE_STREAM = 2
# A free palette's colours in HSV: saturated and bright enough never to pass for the outline,
# the white of the sketch, the sclera or the pale background.
FREE_SATURATION = (0.3, 0.9)
FREE_VALUE = (0.35, 0.95)
# Folders and file beside train/ and val/ (see the module docstring); bump LAYOUT_VERSION when
# they change, so caches of generated data written before are not reused.
REFERENCES_FOLDER = "references"
PARTS_FOLDER = "parts"
PALETTES_FILE = "palettes.json"
LAYOUT_VERSION = 2

# Shape class -> style variant -> {part: colour}. The variant is visible in the line art (its
# outline shape), so its colours are predictable from the sketch. Parts whose colour never varies
# are in FIXED_COLOURS.
STYLES: dict[str, dict[str, dict[str, RGB]]] = {
    "hair": {
        "spiky": {"hair": (244, 190, 64)},  # golden
        "bob": {"hair": (178, 70, 52)},  # auburn
        "long": {"hair": (72, 104, 196)},  # blue
        "twintails": {"hair": (236, 128, 180), "hair_tie": (96, 200, 216)},  # pink, cyan ties
    },
    "face": {
        "round": {"skin": (255, 226, 204)},  # pale
        "pointed": {"skin": (232, 184, 146)},  # tan
    },
    "eyes": {
        "round": {"iris": (66, 130, 220)},  # blue
        "narrow": {"iris": (196, 112, 36)},  # amber
        "sparkly": {"iris": (168, 78, 200)},  # violet
    },
    "mouth": {
        "smile": {},
        "flat": {},
        "open": {"mouth": (204, 72, 92)},
    },
    "clothes": {
        "plain": {
            "clothes": (96, 168, 112),
            "clothes_trim": (250, 236, 190),
        },  # green, cream collar
        "striped": {"clothes": (236, 96, 84), "clothes_trim": (255, 214, 90)},  # coral, yellow
        "vneck": {"clothes": (128, 96, 176), "clothes_trim": (70, 52, 110)},  # purple, plum trim
        "sailor": {
            "clothes": (244, 244, 248),
            "clothes_trim": (42, 62, 130),  # navy collar
            "ribbon": (214, 44, 60),  # red ribbon
        },
    },
}
FIXED_COLOURS: dict[str, RGB] = {
    "background": BACKGROUND,
    "outline": OUTLINE,
    "sclera": WHITE,
    "pupil": (44, 32, 56),
    "highlight": WHITE,
}
# Placeholder for parts the character's variants never draw (e.g. hair ties without twin tails).
_NEUTRAL: RGB = (128, 128, 128)


def _check_tables() -> None:
    styled = {part for variants in STYLES.values() for c in variants.values() for part in c}
    if styled != set(PALETTE_PARTS):
        raise AssertionError(f"PALETTE_PARTS {PALETTE_PARTS} differ from STYLES' parts {styled}")
    for cls, variants in STYLES.items():
        for variant, colours in variants.items():
            for part, colour in colours.items():
                if part not in PART_ID or part in FIXED_COLOURS:
                    raise AssertionError(f"STYLES[{cls}][{variant}] names bad part {part!r}")
                if colour in (OUTLINE, WHITE):
                    raise AssertionError(f"STYLES[{cls}][{variant}][{part}] clashes with lines")
        main = [next(iter(c.values())) for c in variants.values() if c]
        if len(set(main)) != len(main):
            raise AssertionError(f"variants of {cls!r} share a colour")


_check_tables()


@dataclass(frozen=True)
class Character:
    """One rendered character: both halves, its part-label map, style variants and colours."""

    colour: np.ndarray  # uint8 (size, size, 3)
    sketch: np.ndarray  # uint8 (size, size, 3)
    labels: np.ndarray  # uint8 (size, size), indices into PARTS
    styles: dict[str, str]  # shape class -> variant, e.g. {"hair": "bob", ...}
    colours: dict[str, RGB]  # part -> colour, for every part of PARTS: colour == lut[labels]


@dataclass(frozen=True)
class Example:
    """Image `index` of a data set: the pair's character, its reference and their palette."""

    image: Character
    reference: Character  # another drawing in the same palette
    palette: dict[str, RGB]  # part -> colour, for every part of PALETTE_PARTS


def palette(styles: dict[str, str]) -> dict[str, RGB]:
    """The colour of every part for a character with these style variants."""
    colours = dict(FIXED_COLOURS)
    for cls, variant in styles.items():
        colours.update(STYLES[cls][variant])
    return colours


def tied_palette(styles: dict[str, str]) -> dict[str, RGB]:
    """The `tied` colour of every part of PALETTE_PARTS: its variants' colours, and a neutral
    grey for the parts they do not draw."""
    colours = palette(styles)
    return {part: colours.get(part, _NEUTRAL) for part in PALETTE_PARTS}


def free_palette(rng: np.random.Generator) -> dict[str, RGB]:
    """A `free` colour for every part of PALETTE_PARTS: any hue, saturation and value within
    FREE_SATURATION and FREE_VALUE."""
    draws = rng.uniform(size=(len(PALETTE_PARTS), 3))
    (s0, s1), (v0, v1) = FREE_SATURATION, FREE_VALUE
    colours = {}
    for part, (hue, s, v) in zip(PALETTE_PARTS, draws, strict=True):
        rgb = colorsys.hsv_to_rgb(float(hue), s0 + (s1 - s0) * float(s), v0 + (v1 - v0) * float(v))
        colours[part] = (round(255 * rgb[0]), round(255 * rgb[1]), round(255 * rgb[2]))
    return colours


def render_character(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (colour, sketch), each uint8 (size, size, 3)."""
    character = render_annotated(rng, size)
    return character.colour, character.sketch


def render_annotated(
    rng: np.random.Generator,
    size: int,
    styles: dict[str, str] | None = None,
    colours: dict[str, RGB] | None = None,
) -> Character:
    """Render one character and also return its part labels, style variants and colours.

    styles: the variant of every shape class (default: drawn from `rng` first, so a drawing is
    the same whatever its colours); colours: colours of parts of PALETTE_PARTS that replace the
    variants' (the FIXED_COLOURS parts never change).
    """
    size = _check_int("size", size, MIN_SIZE)
    if styles is None:
        styles = {cls: _choice(rng, tuple(STYLES[cls])) for cls in STYLES}
    else:
        styles = _check_styles(styles)
    canvas = _Canvas(rng, size)
    _draw_character(canvas, rng, styles)
    labels = np.asarray(canvas.image, dtype=np.uint8)

    table = {part: _NEUTRAL for part in PARTS} | palette(styles) | _check_colours(colours or {})
    colour_lut = np.array([table[p] for p in PARTS], dtype=np.uint8)
    sketch_lut = np.full((len(PARTS), 3), 255, dtype=np.uint8)
    sketch_lut[PART_ID["outline"]] = OUTLINE
    return Character(colour_lut[labels], sketch_lut[labels], labels, styles, table)


def render_example(seed: int, index: int, size: int, palette: str = "tied") -> Example:
    """Image `index` of the data set `seed` in palette mode `palette` (tied or free), with its
    reference and palette: what write_synthetic_dataset writes for it."""
    mode = _check_palette(palette)
    drawing = np.random.default_rng([seed, index])
    other = np.random.default_rng([seed, index, REFERENCE_STREAM])
    if mode == "tied":
        image = render_annotated(drawing, size)
        # the same variants keep the palette; the drawing is new
        reference = render_annotated(other, size, styles=image.styles)
        return Example(image, reference, tied_palette(image.styles))
    colours = free_palette(np.random.default_rng([seed, index, PALETTE_STREAM]))
    image = render_annotated(drawing, size, colours=colours)
    return Example(image, render_annotated(other, size, colours=colours), colours)


def val_count(count: int) -> int:
    """Images of `count` that go to val: round(count * 0.2), at least 1 when count >= 2."""
    if count < 2:
        return 0
    return max(1, (2 * count + 5) // 10)  # round(count / 5) in integers; never exactly .5


def split_of(index: int) -> tuple[str, int]:
    """(split, number within the split) of image `index`; independent of the data set's size.

    Image i goes to val when val_count(i + 1) > val_count(i), so any prefix 0..count-1 holds
    exactly val_count(count) val images, spread evenly (about every fifth image).
    """
    before = val_count(index)
    if val_count(index + 1) > before:
        return "val", before
    return "train", index - before


def write_synthetic_dataset(
    out: str | Path, count: int, size: int, seed: int, palette: str = "tied"
) -> Path:
    """Write the data set in palette mode `palette` (tied or free); return `out` as a Path.

    Writes OUT/train/ and OUT/val/ (colour | sketch), their references/ and parts/, and
    palettes.json (see the module docstring) into a temporary sibling folder renamed to OUT at
    the end. If another writer created OUT meanwhile, its data is kept. Raises FileExistsError if
    OUT already exists and is not an empty folder.
    """
    count = _check_int("count", count, 1)
    size = _check_int("size", size, MIN_SIZE)
    seed = _check_int("seed", seed, 0)
    mode = _check_palette(palette)
    out = Path(out)
    if _exists(out) and not _is_empty_dir(out):
        raise FileExistsError(
            f"{out} already exists and is not empty; pass a new folder or delete it first"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        splits = ("train", "val")
        for split in splits:
            for folder in (
                tmp / split,
                tmp / REFERENCES_FOLDER / split,
                tmp / PARTS_FOLDER / split,
            ):
                folder.mkdir(parents=True)
        palettes: dict[str, dict[str, dict[str, list[int]]]] = {split: {} for split in splits}
        for index in range(count):
            split, number = split_of(index)
            name = f"{number:05d}"
            example = render_example(seed, index, size, mode)
            image = example.image
            pair = Image.fromarray(np.concatenate([image.colour, image.sketch], axis=1))
            pair.save(tmp / split / f"{name}.png", **PNG_OPTIONS)
            reference = Image.fromarray(example.reference.colour)
            reference.save(tmp / REFERENCES_FOLDER / split / f"{name}.png", **PNG_OPTIONS)
            labels = Image.fromarray(image.labels)  # 2-D uint8: mode L
            labels.save(tmp / PARTS_FOLDER / split / f"{name}.png", **PNG_OPTIONS)
            palettes[split][name] = {part: list(c) for part, c in example.palette.items()}
        (tmp / PALETTES_FILE).write_text(json.dumps(palettes, indent=1) + "\n")
        _publish(tmp, out)
    finally:
        if _exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return out


# --- writing helpers ------------------------------------------------------------------------------


def write_sketches(out: str | Path, count: int, size: int, seed: int) -> list[Path]:
    """Write `count` sketches alone (no colour half), OUT/sketch-NNNNN.png of size x size: what
    a user brings to `ganime colorize`. Image i is the sketch of write_synthetic_dataset's image
    i for the same seed."""
    count = _check_int("count", count, 1)
    size = _check_int("size", size, MIN_SIZE)
    seed = _check_int("seed", seed, 0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        _, sketch = render_character(np.random.default_rng([seed, index]), size)
        path = out / f"sketch-{index:05d}.png"
        Image.fromarray(sketch).save(path, **PNG_OPTIONS)
        paths.append(path)
    return paths


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def _check_palette(mode: object) -> PaletteMode:
    if mode not in PALETTE_MODES:
        raise ValueError(f"palette must be one of {', '.join(PALETTE_MODES)}, got {mode!r}")
    return mode  # type: ignore[return-value]


def _check_styles(styles: dict[str, str]) -> dict[str, str]:
    if set(styles) != set(STYLES) or any(v not in STYLES[c] for c, v in styles.items()):
        raise ValueError(f"styles must give one variant of each of {tuple(STYLES)}: {styles!r}")
    return dict(styles)


def _check_colours(colours: dict[str, RGB]) -> dict[str, RGB]:
    unknown = set(colours) - set(PALETTE_PARTS)
    if unknown:
        raise ValueError(f"colours may only set {PALETTE_PARTS}, not {sorted(unknown)}")
    return {part: tuple(int(v) for v in colour) for part, colour in colours.items()}  # type: ignore[misc]


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _publish(tmp: Path, out: Path) -> None:
    """Rename tmp to out; if a concurrent writer got there first, keep its (complete) folder."""
    if _is_empty_dir(out):
        with contextlib.suppress(OSError):
            out.rmdir()  # os.replace cannot replace a directory on every platform
    try:
        os.replace(tmp, out)
    except OSError:
        if _exists(out) and not _is_empty_dir(out):
            return  # the caller's `finally` removes tmp
        raise


# --- drawing --------------------------------------------------------------------------------------


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


class _Canvas:
    """A label canvas in character coordinates: the head centre is the origin, 1.0 = image side.

    A random placement (centre, scale, small rotation) maps character coordinates to pixels, so
    every shape moves together and occlusion is the painter's order of the calls.
    """

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.size = size
        self.width = max(1, round(size / 128))
        self.cx = 0.5 + _u(rng, -0.02, 0.02)
        self.cy = 0.40 + _u(rng, -0.015, 0.015)
        self.scale = _u(rng, 0.94, 1.03)
        angle = math.radians(_u(rng, -6.0, 6.0))
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        self.unit = self.scale * size  # pixels per character unit
        self.image = Image.new("L", (size, size), PART_ID["background"])
        self.draw = ImageDraw.Draw(self.image)

    def _px(self, points: list[Point]) -> list[tuple[int, int]]:
        s, c, n = self.sin, self.cos, self.size
        out = []
        for x, y in points:
            px = (self.cx + self.scale * (x * c - y * s)) * n - 0.5
            py = (self.cy + self.scale * (x * s + y * c)) * n - 0.5
            out.append((round(px), round(py)))
        return out

    def poly(self, points: list[Point], part: str) -> None:
        self.draw.polygon(
            self._px(points), fill=PART_ID[part], outline=PART_ID["outline"], width=self.width
        )

    def ellipse(
        self, x: float, y: float, rx: float, ry: float, part: str, min_px: float = 0.0
    ) -> None:
        """An outlined ellipse; skipped when its larger radius is under `min_px` pixels."""
        if max(rx, ry) * self.unit < min_px:
            return
        self.poly(_arc(x, y, rx, ry, 0.0, 2 * math.pi, self._steps(max(rx, ry))), part)

    def line(self, points: list[Point], width: int | None = None) -> None:
        self.draw.line(
            self._px(points), fill=PART_ID["outline"], width=width or self.width, joint="curve"
        )

    def _steps(self, radius: float, turn: float = 1.0) -> int:
        return max(8, min(72, math.ceil(2 * math.pi * radius * self.unit * turn / 1.5)))


def _arc(x: float, y: float, rx: float, ry: float, t0: float, t1: float, n: int) -> list[Point]:
    """Points on an ellipse from angle t0 to t1 (y points down: angles in (pi, 2pi) are above)."""
    return [
        (x + rx * math.cos(t0 + (t1 - t0) * k / n), y + ry * math.sin(t0 + (t1 - t0) * k / n))
        for k in range(n + 1)
    ]


def _mirror(points: list[Point]) -> list[Point]:
    return [(-x, y) for x, y in points]


@dataclass(frozen=True)
class _Head:
    w: float  # half width of the face
    h: float  # half height of the face
    eye_x: float
    eye_y: float
    eye_top: float  # highest point of the eyes, so bangs stop above it


def _draw_character(cv: _Canvas, rng: np.random.Generator, styles: dict[str, str]) -> None:
    w = _u(rng, 0.175, 0.195)
    h = w * _u(rng, 1.04, 1.12)
    eye = _EYE_SHAPES[styles["eyes"]]
    eye_y = h * _u(rng, 0.14, 0.22)
    head = _Head(w, h, w * _u(rng, 0.38, 0.44), eye_y, eye_y - eye["sclera"][1] * w)

    _hair_back(cv, rng, head, styles["hair"])
    _body(cv, rng, head, styles["clothes"])
    _face(cv, head, styles["face"])
    _eyes(cv, rng, head, styles["eyes"])
    _nose_and_mouth(cv, rng, head, styles["mouth"], styles["face"])
    _hair_front(cv, rng, head, styles["hair"])
    _brows(cv, rng, head)


# Radii of the back hair's rounded top, in face half-widths/heights; the bangs reuse it so the two
# outlines coincide.
_CROWN = (1.13, 1.13)


def _crown(cv: _Canvas, head: _Head, t0: float = math.pi, t1: float = 2 * math.pi) -> list[Point]:
    rx, ry = _CROWN[0] * head.w, _CROWN[1] * head.h
    return _arc(0.0, 0.0, rx, ry, t0, t1, cv._steps(rx, (t1 - t0) / (2 * math.pi)))


def _hair_back(cv: _Canvas, rng: np.random.Generator, head: _Head, style: str) -> None:
    w, h = head.w, head.h
    if style == "spiky":
        spikes = int(rng.integers(7, 10))
        t0, t1 = 0.78 * math.pi, 2.22 * math.pi
        points = []
        for k in range(2 * spikes + 1):
            t = t0 + (t1 - t0) * k / (2 * spikes)
            r = _CROWN[0] if k % 2 == 0 else _u(rng, 1.30, 1.42)
            points.append((w * r * math.cos(t), h * r * math.sin(t)))
        points += [(0.5 * w, 0.6 * h), (-0.5 * w, 0.6 * h)]
        cv.poly(points, "hair")
        return
    side = _CROWN[0] * w
    if style == "bob":
        length = h * _u(rng, 0.75, 0.95)
        right = [(side * 1.01, 0.3 * h), (side * 0.98, length), (0.6 * w, length + 0.06 * h)]
        cv.poly(_crown(cv, head) + right + _mirror(right)[::-1], "hair")
    elif style == "long":
        length = h * _u(rng, 2.6, 3.1)
        right = [(side * 1.06, 0.8 * h), (side * 1.12, length), (0.4 * w, length)]
        cv.poly(_crown(cv, head) + right + _mirror(right)[::-1], "hair")
    elif style == "twintails":
        reach = _u(rng, 1.55, 1.68)
        length = h * _u(rng, 1.7, 2.1)
        for sign in (1.0, -1.0):
            tail = [
                (1.0 * w, -0.55 * h),
                (1.25 * w, -0.7 * h),
                ((reach - 0.05) * w, -0.3 * h),
                (reach * w, 0.5 * h),
                ((reach - 0.12) * w, 0.4 * h + 0.5 * length),
                ((reach - 0.32) * w, length),
                (1.2 * w, 0.3 * h + 0.45 * length),
                (1.22 * w, 0.3 * h),
                (1.05 * w, -0.2 * h),
            ]
            cv.poly([(sign * x, y) for x, y in tail], "hair")
        right = [(side * 1.0, 0.35 * h), (0.5 * w, 0.5 * h)]
        cv.poly(_crown(cv, head) + right + _mirror(right)[::-1], "hair")


def _body(cv: _Canvas, rng: np.random.Generator, head: _Head, style: str) -> None:
    w, h = head.w, head.h
    neck = w * _u(rng, 0.22, 0.28)
    top = 1.22 * h  # neck base
    shoulder_y = top + h * _u(rng, 0.18, 0.26)
    shoulder = w * _u(rng, 1.45, 1.65)
    bottom = 0.9  # below the image for any placement
    collar = neck * 1.9
    right = [
        (collar, top),
        (shoulder * 0.8, shoulder_y - 0.02 * h),
        (shoulder * 0.97, shoulder_y + 0.12 * h),
        (shoulder * 1.08, bottom),
    ]
    cv.poly(right + _mirror(right)[::-1], "clothes")

    def u_shape(rx: float, depth: float) -> list[Point]:  # right to left, below `top`
        return _arc(0.0, top, rx, depth, 0.0, math.pi, cv._steps(rx, 0.5))

    def v_shape(rx: float, depth: float) -> list[Point]:
        return [(rx, top), (0.0, top + depth), (-rx, top)]

    if style == "striped":
        stripes = int(rng.integers(2, 4))
        band = max(h * _u(rng, 0.12, 0.16), (2 * cv.width + 2) / cv.unit)
        first = shoulder_y + h * _u(rng, 0.18, 0.26)
        for k in range(stripes):
            y0 = first + k * 2.2 * band
            y1 = y0 + band
            x0, x1 = _body_edge(right, y0), _body_edge(right, y1)
            cv.poly([(x0, y0), (x1, y1), (-x1, y1), (-x0, y0)], "clothes_trim")
        neckline = u_shape(neck * 1.35, h * 0.22)
    elif style == "plain":
        depth = h * _u(rng, 0.2, 0.28)
        cv.poly(u_shape(neck * 1.75, depth + 0.12 * h), "clothes_trim")
        neckline = u_shape(neck * 1.35, depth)
    elif style == "vneck":
        depth = h * _u(rng, 0.4, 0.55)
        cv.poly(v_shape(neck * 1.8, depth + 0.16 * h), "clothes_trim")
        neckline = v_shape(neck * 1.3, depth)
    else:  # sailor
        depth = h * _u(rng, 0.55, 0.7)
        flap = [
            (collar * 1.05, top),
            (shoulder * 0.82, shoulder_y + 0.02 * h),
            (shoulder * 0.78, shoulder_y + 0.3 * h),
            (0.0, top + depth + 0.35 * h),
        ]
        cv.poly(flap + _mirror(flap)[-2::-1], "clothes_trim")
        neckline = v_shape(neck * 1.3, depth)
    cv.poly([(-neck, 0.5 * h), (neck, 0.5 * h), (neck, top), *neckline, (-neck, top)], "skin")
    if style == "sailor":
        knot_y = top + depth + 0.22 * h
        tie = [
            (0.0, knot_y),
            (0.32 * w, knot_y + 0.28 * h),
            (0.1 * w, knot_y + 0.36 * h),
            (0.0, knot_y + 0.18 * h),
        ]
        cv.poly(tie, "ribbon")
        cv.poly(_mirror(tie), "ribbon")
        cv.ellipse(0.0, knot_y, 0.1 * w, 0.08 * h, "ribbon", min_px=1.5)


def _body_edge(right: list[Point], y: float) -> float:
    """x of the body's right edge at height y (on the shoulder-to-bottom segment)."""
    (xa, ya), (xb, yb) = right[-2], right[-1]
    return xa + (xb - xa) * (y - ya) / (yb - ya)


def _face(cv: _Canvas, head: _Head, style: str) -> None:
    w, h = head.w, head.h
    n = cv._steps(w)
    if style == "round":
        cv.poly(_arc(0.0, 0.0, w, h, 0.0, 2 * math.pi, n), "skin")
        return
    points = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x, y = w * math.cos(t), h * math.sin(t)
        if y > 0:  # narrow the jaw towards a pointed chin
            s = math.sin(t)
            x *= 1.0 - 0.45 * s**1.5
            y *= 1.0 + 0.1 * s**4
        points.append((x, y))
    cv.poly(points, "skin")


# Eye geometry per variant, in face half-widths: (rx, ry) of the sclera, iris, pupil; highlights as
# (dx, dy, r) relative to the iris centre.
_EYE_SHAPES: dict[str, dict[str, tuple[float, ...]]] = {
    "round": {
        "sclera": (0.24, 0.26),
        "iris": (0.18, 0.21),
        "pupil": (0.08, 0.1),
        "lights": (-0.07, -0.09, 0.055),
    },
    "narrow": {
        "sclera": (0.3, 0.14),
        "iris": (0.13, 0.12),
        "pupil": (0.06, 0.07),
        "lights": (-0.05, -0.04, 0.035),
    },
    "sparkly": {
        "sclera": (0.25, 0.34),
        "iris": (0.2, 0.29),
        "pupil": (0.09, 0.13),
        "lights": (-0.08, -0.13, 0.075, 0.07, 0.11, 0.04),
    },
}


def _eyes(cv: _Canvas, rng: np.random.Generator, head: _Head, style: str) -> None:
    w = head.w
    shape = _EYE_SHAPES[style]
    grow = _u(rng, 0.92, 1.08)
    look_x, look_y = w * _u(rng, -0.04, 0.04), w * _u(rng, 0.0, 0.03)
    lash = cv.width + (1 if cv.size >= 96 else 0)
    for sign in (-1.0, 1.0):
        x, y = sign * head.eye_x, head.eye_y
        srx, sry = (v * w * grow for v in shape["sclera"])
        if min(srx, sry) * cv.unit < 2.5:  # too small for details: a coloured almond
            cv.ellipse(x, y + 0.02 * w, srx * 1.15, sry * 1.15, "iris")
            continue
        cv.ellipse(x, y, srx, sry, "sclera")
        ix, iy = x + look_x, y + look_y + 0.02 * w
        cv.ellipse(ix, iy, shape["iris"][0] * w * grow, shape["iris"][1] * w * grow, "iris")
        cv.ellipse(ix, iy, *(v * w * grow for v in shape["pupil"]), "pupil", min_px=1.5)
        lights = shape["lights"]
        for k in range(0, len(lights), 3):
            dx, dy, r = (v * w * grow for v in lights[k : k + 3])
            cv.ellipse(ix + dx, iy + dy, r, r, "highlight", min_px=1.2)
        # upper lash line along the top of the sclera, a little longer at the outer corner
        top = _arc(x, y, srx * 1.05, sry * 1.05, 1.1 * math.pi, 1.9 * math.pi, cv._steps(srx, 0.4))
        cv.line(top, width=lash)
        if style == "narrow":
            cv.line([(x - srx * 0.6, y + sry * 1.15), (x + srx * 0.6, y + sry * 1.15)])


def _nose_and_mouth(
    cv: _Canvas, rng: np.random.Generator, head: _Head, mouth: str, face: str
) -> None:
    w, h = head.w, head.h
    nose_y = h * _u(rng, 0.42, 0.48)
    if cv.size >= 48:
        cv.line([(0.02 * w, nose_y), (-0.03 * w, nose_y + 0.06 * h)])
    y = h * (_u(rng, 0.64, 0.7) if face == "round" else _u(rng, 0.66, 0.72))
    half = w * _u(rng, 0.1, 0.16)
    if mouth == "smile":
        n = 6
        cv.line(
            [
                (half * (2 * k / n - 1), y + 0.06 * h * (1 - (2 * k / n - 1) ** 2))
                for k in range(n + 1)
            ]
        )
    elif mouth == "flat":
        cv.line([(-half * 0.7, y), (half * 0.7, y)])
    else:
        lip = _arc(0.0, y, half, 0.12 * h, 0.0, math.pi, cv._steps(half, 0.5))
        cv.poly(lip, "mouth")


def _hair_front(cv: _Canvas, rng: np.random.Generator, head: _Head, style: str) -> None:
    w, h = head.w, head.h
    side = _CROWN[0] * w
    tip = min(-0.15 * h, head.eye_top - 0.24 * h)  # bangs stop above the brows

    def jitter(scale: float) -> float:
        return h * _u(rng, -scale, scale)

    if style == "spiky":
        locks = int(rng.integers(4, 6))
        edge: list[Point] = [(side, 0.0), (1.08 * w, 0.3 * h), (0.84 * w, -0.2 * h)]
        xs = np.linspace(0.8 * w, -0.8 * w, 2 * locks + 1)
        for k, x in enumerate(xs[1:-1], start=1):
            y = tip + jitter(0.05) if k % 2 else -0.58 * h + jitter(0.06)
            edge.append((float(x), y))
        edge += [(-0.84 * w, -0.2 * h), (-1.08 * w, 0.3 * h), (-side, 0.0)]
    elif style == "bob":
        fringe = min(tip, -h * _u(rng, 0.15, 0.22))
        right = [(side, 0.0), (side, 0.55 * h), (0.86 * w, 0.5 * h), (0.88 * w, fringe)]
        edge = right + [(0.3 * w, fringe + 0.03 * h), (-0.3 * w, fringe + 0.03 * h)]
        edge += _mirror(right)[::-1]
    elif style == "long":
        part = -w * _u(rng, 0.25, 0.45)
        edge = [
            (side, 0.0),
            (0.92 * w, 0.1 * h),
            (0.8 * w, tip),
            (0.45 * w, -0.38 * h),
            (0.15 * w, tip + 0.04 * h),
            (part * 0.3, -0.55 * h),
            (part, -0.82 * h),
            (part - 0.25 * w, -0.45 * h),
            (-0.8 * w, tip + 0.06 * h),
            (-0.92 * w, 0.0),
            (-side, 0.0),
        ]
        length = h * _u(rng, 2.2, 2.6)
        for sign in (1.0, -1.0):
            lock = [
                (0.93 * w, -0.3 * h),
                (side * 1.1, -0.1 * h),
                (side * 1.15, 0.8 * h),
                (side * 1.2, length),
                (1.0 * w, length + 0.18 * h),
                (0.98 * w, 1.0 * h),
                (0.93 * w, 0.45 * h),
            ]
            cv.poly([(sign * x, y) for x, y in lock], "hair")
    else:  # twintails: rounded scallops
        locks = int(rng.integers(3, 5))
        edge = [(side, 0.0), (1.06 * w, 0.25 * h), (0.86 * w, -0.2 * h)]
        xs = np.linspace(0.82 * w, -0.82 * w, locks + 1)
        valley = -0.52 * h
        for xa, xb in zip(xs[:-1], xs[1:], strict=True):
            depth = tip + jitter(0.04)
            edge += [
                (
                    float(xa + (xb - xa) * k / 6),
                    valley + (depth - valley) * math.sin(math.pi * k / 6),
                )
                for k in range(7)
            ]
        edge += [(-0.86 * w, -0.2 * h), (-1.06 * w, 0.25 * h), (-side, 0.0)]
    cv.poly(_crown(cv, head) + edge, "hair")
    if style == "twintails":
        for sign in (1.0, -1.0):
            cv.ellipse(sign * 1.06 * w, -0.56 * h, 0.13 * w, 0.13 * w, "hair_tie", min_px=1.5)


def _brows(cv: _Canvas, rng: np.random.Generator, head: _Head) -> None:
    if cv.size < 64:
        return
    w = head.w
    y = head.eye_top - 0.15 * head.h
    tilt = head.h * _u(rng, -0.04, 0.05)
    for sign in (-1.0, 1.0):
        x = sign * head.eye_x
        inner, outer = x - sign * 0.16 * w, x + sign * 0.18 * w
        cv.line([(inner, y + tilt), (x, y - 0.03 * head.h), (outer, y + 0.02 * head.h)])
