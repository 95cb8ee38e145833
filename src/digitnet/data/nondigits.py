"""Images that are not digits, drawn the way a person would draw or photograph them: letters,
strokes, scribbles, blobs, dots, lines, frames, noise, blank images, smileys and X's.

They check that digitnet says "not a digit" (``digitnet.judge``; tests/test_judge.py,
bench/not_a_digit.py). Each image is a grey uint8 array (H, W) of a random size, dark ink on
light paper or light on dark, like a file a user would give ``digitnet predict``. Everything is
drawn from one seeded generator, so a seed names a set; fonts are Pillow's own
(``ImageFont.load_default``) unless ``fonts`` names TrueType files.

Shapes that *are* digits are left out on purpose: a straight line within 35 degrees of upright is
a 1, and the letters in ``LOOKALIKES`` (O, I, l, S, Z, B, g, q, ...) are written like digits.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

from ..extras import missing

try:
    from PIL import Image, ImageDraw, ImageFont
except ImportError as e:
    raise missing("images", e) from None

#: letters people write like a digit: O o D (0), I l i j (1), Z z (2), S s (5), b G (6),
#: B (8), g q (9); they are not counted as "not a digit"
LOOKALIKES = "OoDIlijZzSsbGBgq"
LETTERS = "".join(c for c in string.ascii_letters if c not in LOOKALIKES)
KINDS = ("letter", "stroke", "scribble", "blob", "dots", "line", "frame", "noise", "blank",
         "smiley", "cross")


def _canvas(rng: np.random.Generator) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    side = int(rng.integers(80, 260))
    img = Image.new("L", (side, side), 0)
    return img, ImageDraw.Draw(img), side


def _pen(rng: np.random.Generator, side: int) -> int:
    return max(1, int(side * rng.uniform(0.015, 0.08)))


def _point(rng: np.random.Generator, side: int, margin: float = 0.15) -> tuple[float, float]:
    lo, hi = side * margin, side * (1 - margin)
    return float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))


def _letter(rng: np.random.Generator, fonts: Sequence[str]) -> Image.Image:
    img, draw, side = _canvas(rng)
    size = int(side * rng.uniform(0.4, 0.8))
    font = (ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size) if fonts
            else ImageFont.load_default(size=size))
    text = LETTERS[int(rng.integers(len(LETTERS)))]
    stroke = int(rng.integers(0, max(1, size // 12)))
    draw.text((side * 0.15, side * 0.1), text, fill=255, font=font, stroke_width=stroke,
              stroke_fill=255)
    return img.rotate(float(rng.uniform(-20, 20)), Image.Resampling.BILINEAR)


def _bezier(rng: np.random.Generator, side: int, n: int) -> list[tuple[float, float]]:
    """A smooth curve through ``n`` random control points (Chaikin corner cutting)."""
    pts = np.array([_point(rng, side) for _ in range(n)], np.float64)
    for _ in range(4):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.stack([q, r], 1).reshape(-1, 2), pts[-1:]])
    return [tuple(p) for p in pts]


def _stroke(rng: np.random.Generator) -> Image.Image:
    """A wave, a spiral or a zigzag: one stroke that is not a digit."""
    img, draw, side = _canvas(rng)
    pen = _pen(rng, side)
    kind = rng.integers(3)
    t = np.linspace(0, 1, 80)
    if kind == 0:  # a horizontal wave of 1.5 to 4 periods
        amp = rng.uniform(0.05, 0.2) * side
        x = side * (0.1 + 0.8 * t)
        y = side / 2 + amp * np.sin(2 * np.pi * rng.uniform(1.5, 4) * t + rng.uniform(0, 6))
    elif kind == 1:  # a spiral of 1.5 to 3 turns
        a = 2 * np.pi * rng.uniform(1.5, 3) * t
        x, y = side / 2 + 0.4 * side * t * np.cos(a), side / 2 + 0.4 * side * t * np.sin(a)
    else:  # a zigzag of 4 to 8 teeth, at any angle
        k = int(rng.integers(4, 9))
        xs = np.linspace(-0.4, 0.4, k + 1) * side
        ys = np.where(np.arange(k + 1) % 2, 1, -1) * rng.uniform(0.05, 0.15) * side
        ang = rng.uniform(0, np.pi)
        x = side / 2 + xs * np.cos(ang) - ys * np.sin(ang)
        y = side / 2 + xs * np.sin(ang) + ys * np.cos(ang)
    draw.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=255, width=pen, joint="curve")
    return img


def _scribble(rng: np.random.Generator) -> Image.Image:
    img, draw, side = _canvas(rng)
    draw.line(_bezier(rng, side, int(rng.integers(8, 20))), fill=255, width=_pen(rng, side),
              joint="curve")
    return img


def _blob(rng: np.random.Generator) -> Image.Image:
    img, draw, side = _canvas(rng)
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            (x0, y0), (x1, y1) = _point(rng, side), _point(rng, side)
            draw.ellipse([min(x0, x1), min(y0, y1), max(x0, x1) + 8, max(y0, y1) + 8], fill=255)
        else:
            k = int(rng.integers(3, 8))
            draw.polygon([_point(rng, side) for _ in range(k)], fill=255)
    return img


def _dots(rng: np.random.Generator) -> Image.Image:
    img, draw, side = _canvas(rng)
    for _ in range(int(rng.integers(1, 7))):
        x, y = _point(rng, side, 0.1)
        r = side * rng.uniform(0.01, 0.05)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return img


def _line(rng: np.random.Generator) -> Image.Image:
    """One to three straight lines within 35 degrees of horizontal (upright ones are 1s)."""
    img, draw, side = _canvas(rng)
    ang = np.deg2rad(rng.uniform(-35, 35))
    n = int(rng.integers(1, 4))
    length = side * rng.uniform(0.3, 0.9)
    pen = _pen(rng, side)
    gap = side * rng.uniform(0.1, 0.25)
    for i in range(n):
        cx, cy = side / 2, side / 2 + (i - (n - 1) / 2) * gap
        dx, dy = np.cos(ang) * length / 2, np.sin(ang) * length / 2
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=pen)
    return img


def _frame(rng: np.random.Generator) -> Image.Image:
    img, draw, side = _canvas(rng)
    w, h = side * rng.uniform(0.3, 0.8), side * rng.uniform(0.3, 0.8)
    x0, y0 = (side - w) / 2, (side - h) / 2
    box = [x0, y0, x0 + w, y0 + h]
    pen = _pen(rng, side)
    if rng.random() < 0.3:
        draw.rounded_rectangle(box, radius=min(w, h) * 0.15, outline=255, width=pen)
    else:
        draw.rectangle(box, outline=255, width=pen)
    return img


def _noise(rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(60, 200))
    if rng.random() < 0.5:  # salt and pepper
        a = (rng.random((side, side)) < rng.uniform(0.02, 0.4)) * 255.0
    else:  # smooth grey noise, blurred by upscaling
        k = int(rng.integers(4, 20))
        small = rng.random((k, k)).astype(np.float32) * 255
        a = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC))
        a = a + rng.normal(0, 20, a.shape)
    return Image.fromarray(np.uint8(np.clip(a, 0, 255)))


def _blank(rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(40, 200))
    a = rng.uniform(0, 255) + rng.normal(0, rng.uniform(0, 3), (side, side))
    return Image.fromarray(np.uint8(np.clip(a, 0, 255)))


def _smiley(rng: np.random.Generator) -> Image.Image:
    img, draw, side = _canvas(rng)
    pen = _pen(rng, side)
    r = side * rng.uniform(0.3, 0.42)
    c = side / 2
    draw.ellipse([c - r, c - r, c + r, c + r], outline=255, width=pen)
    e = max(r * 0.1, pen * 0.8)
    for sx in (-1, 1):
        ex, ey = c + sx * r * 0.38, c - r * 0.3
        draw.ellipse([ex - e, ey - e, ex + e, ey + e], fill=255)
    m = r * rng.uniform(0.4, 0.65)
    draw.arc([c - m, c - m * 0.6, c + m, c + m * 0.9], 20, 160, fill=255, width=pen)
    return img


def _cross(rng: np.random.Generator) -> Image.Image:
    """An X (two strokes crossing near their middles, at 50 to 130 degrees)."""
    img, draw, side = _canvas(rng)
    pen = _pen(rng, side)
    a = rng.uniform(-0.3, 0.3) + np.pi / 4
    b = a + np.deg2rad(rng.uniform(50, 130))
    for ang in (a, b):
        length = side * rng.uniform(0.4, 0.8) / 2
        cx, cy = side / 2 + rng.normal(0, side * 0.03), side / 2 + rng.normal(0, side * 0.03)
        dx, dy = np.cos(ang) * length, np.sin(ang) * length
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=pen)
    return img


def nondigit(kind: str, rng: np.random.Generator, fonts: Sequence[str] = ()) -> np.ndarray:
    """One image of ``kind`` (one of KINDS): (H, W) uint8, light ink on dark or, half the time,
    dark ink on light, with a little noise."""
    if kind == "letter":
        img = _letter(rng, fonts)
    else:
        img = {"stroke": _stroke, "scribble": _scribble, "blob": _blob, "dots": _dots,
               "line": _line, "frame": _frame, "noise": _noise, "blank": _blank,
               "smiley": _smiley, "cross": _cross}[kind](rng)
    a = np.asarray(img, np.float32) / 255
    if kind not in ("noise", "blank"):
        bg, fg = rng.uniform(0, 0.25), rng.uniform(0.7, 1)
        a = bg + (fg - bg) * a + rng.normal(0, 0.015, a.shape)
    if rng.random() < 0.5:
        a = 1 - a
    return np.uint8(np.clip(a, 0, 1) * 255)


def nondigits(n: int, seed: int = 0, kinds: Sequence[str] = KINDS,
              fonts: Sequence[str] = ()) -> tuple[list[np.ndarray], list[str]]:
    """``n`` images, the ``kinds`` taken in turn; returns (images, kind of each)."""
    rng = np.random.default_rng(seed)
    names = [kinds[i % len(kinds)] for i in range(n)]
    return [nondigit(k, rng, fonts) for k in names], names
