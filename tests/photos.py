"""Photos of written numbers as people take them, made from MNIST digits: for tests/test_photos.py
and bench/read_photos.py. Deterministic by seed.

    photo(text, pool, style, seed) -> (H, W, 3) uint8

``text`` is what is written: digits, and between them spaces (a gap between groups), ``-``,
``/`` and ``.``; ``\\n`` starts a new line below. ``pool`` is (images (N, 28, 28) in [0, 1],
labels (N,)): MNIST-style white-on-black digits, drawn here as dark ink on light paper. A seed
fixes the digits chosen, their size and places, the lighting, blur and noise; ``style`` adds
only what is drawn around them, so the same seed in two styles is the same digits on different
paper:

    plain      the number on plain paper
    ruled      on ruled paper: pale lines the digits sit on and cross, sometimes a margin line
    frame      a rectangle drawn round each line of the number, in the pen's ink
    underline  a stroke under each line of the number, touching it or just below
    desk       the sheet photographed on a dark, textured desk: one to three paper edges show

Every picture then gets a lighting gradient, a little blur and noise, and a tint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

STYLES = ("plain", "ruled", "frame", "underline", "desk")


def _glyph(x: np.ndarray, scale: float) -> np.ndarray:
    """(28, 28) in [0, 1] enlarged ``scale`` times (bilinear), cropped to the columns of its
    visible ink (faint MNIST specks beside a 1 would widen the gaps beyond those asked for)."""
    n = max(28, round(28 * scale))
    big = np.clip(np.asarray(Image.fromarray(np.float32(x)).resize(
        (n, n), Image.Resampling.BILINEAR)), 0, 1)
    cols = np.flatnonzero(big.max(axis=0) > 0.3)
    return big[:, cols[0]:cols[-1] + 1]


def _layout(text: str, pool: tuple[np.ndarray, np.ndarray], rng: np.random.Generator):
    """Ink alpha (H, W) float32 of the written text on a canvas with margins, the digit height
    ``h`` in pixels, and per line its ink box [x0, y0, x1, y1)."""
    images, labels = pool
    scale = rng.uniform(2.0, 3.5)
    h = 20 * scale  # an MNIST digit's box is 20 of its 28 pixels
    side = round(28 * scale)
    stroke = max(2, round(0.12 * h))
    pitch = rng.uniform(1.6, 2.0) * h
    items = []  # (line, x, kind, payload)
    widths = []
    for row, line in enumerate(text.split("\n")):
        x = 0.0
        for k, ch in enumerate(line):
            if ch.isdigit():
                choice = np.flatnonzero(labels == int(ch))
                g = _glyph(images[rng.choice(choice)], scale)
                items.append((row, x, "digit", g))
                x += g.shape[1]
            elif ch == " ":
                x += rng.uniform(0.55, 0.9) * h
                continue
            elif ch == "-":
                w = rng.uniform(0.3, 0.5) * h
                items.append((row, x, "-", w))
                x += w
            elif ch == ".":
                d = rng.uniform(0.15, 0.22) * h
                items.append((row, x, ".", d))
                x += d
            elif ch == "/":
                slant = np.tan(np.radians(rng.uniform(25, 40)))
                items.append((row, x, "/", slant))
                x += 1.25 * h * slant
            else:
                raise ValueError(f"cannot write {ch!r}")
            if k + 1 < len(line) and line[k + 1] != " ":
                x += rng.uniform(0.08, 0.25) * h * (1.5 if ch in "-./" else 1)
        widths.append(x)
    margin = rng.uniform(0.7, 1.4, 4) * h  # left, top, right, bottom
    n_lines = len(widths)
    width = round(margin[0] + max(widths) + margin[2])
    height = round(margin[1] + (n_lines - 1) * pitch + side + margin[3])
    alpha = Image.new("F", (width, height), 0.0)
    canvas = np.zeros((height, width), np.float32)
    draw = ImageDraw.Draw(alpha)
    tops = [round(margin[1] + r * pitch) for r in range(n_lines)]
    for row, x, kind, p in items:
        left, top = round(margin[0] + x), tops[row]
        bottom, mid = top + 24 * scale, top + 14 * scale  # the digits' baseline and middle
        if kind == "digit":
            view = canvas[top:top + p.shape[0], left:left + p.shape[1]]
            np.maximum(view, p, out=view)
        elif kind == "-":
            y = mid + rng.uniform(-0.08, 0.08) * h
            draw.line([(left, y), (left + p, y + rng.uniform(-0.05, 0.05) * h)], fill=1.0,
                      width=stroke)
        elif kind == ".":
            draw.ellipse([left, bottom - p, left + p, bottom], fill=1.0)
        else:  # "/": from below the baseline to above the digits' top
            y0, y1 = bottom + 0.12 * h, bottom - 1.13 * h
            draw.line([(left, y0), (left + 1.25 * h * p, y1)], fill=1.0, width=stroke)
    canvas = np.maximum(canvas, np.asarray(alpha))
    boxes = []
    for row, top in enumerate(tops):
        boxes.append([round(margin[0]), round(top + 4 * scale),
                      round(margin[0] + widths[row]), round(top + 24 * scale)])
    return canvas, h, boxes


def _line(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float,
          width: int, level: float) -> None:
    draw.line([(x0, y0), (x1, y1)], fill=level, width=max(1, width))


def photo(text: str, pool: tuple[np.ndarray, np.ndarray], style: str = "plain",
          seed: int = 0) -> np.ndarray:
    """A photo of ``text`` written with the digits of ``pool`` in one of STYLES: (H, W, 3)
    uint8. The same seed gives the same digits in the same places in every style."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    rng = np.random.default_rng(seed)
    ink, h, boxes = _layout(text, pool, rng)
    paper, pen = rng.uniform(0.8, 0.95), rng.uniform(0.05, 0.3)
    fx = np.random.default_rng([seed, 1])  # lighting, blur, noise: the same in every style
    art = np.random.default_rng([seed, 2 + STYLES.index(style)])
    height, width = ink.shape
    marks = Image.new("F", (width, height), 0.0)  # what the style draws, as ink alpha
    draw = ImageDraw.Draw(marks)
    thick = max(2, round(art.uniform(0.05, 0.1) * h))
    if style == "ruled":
        pitch = art.uniform(1.3, 1.6) * h
        first = boxes[0][3] + art.uniform(-0.05, 0.1) * h  # the first line of digits sits on it
        level = art.uniform(0.35, 0.6)  # pale printed lines
        slope = np.tan(np.radians(art.uniform(-0.6, 0.6)))
        for y in np.arange(first - pitch * np.floor(first / pitch), height, pitch):
            _line(draw, 0, y, width, y + slope * width, round(art.uniform(1, 3)), level)
        if art.random() < 0.5:  # the margin line
            x = art.uniform(0.2, 0.6) * boxes[0][0]
            _line(draw, x, 0, x, height, round(art.uniform(1, 3)), level)
    elif style in ("frame", "underline"):
        for x0, y0, x1, y1 in boxes:
            if style == "frame":
                m = art.uniform(0.15, 0.4, 4) * h
                corners = [(x0 - m[0], y0 - m[1]), (x1 + m[2], y0 - m[1] + art.uniform(-2, 2)),
                           (x1 + m[2], y1 + m[3]), (x0 - m[0] + art.uniform(-2, 2), y1 + m[3])]
                draw.line([*corners, corners[0]], fill=1.0, width=thick, joint="curve")
            else:
                y = y1 + art.uniform(0.0, 0.2) * h
                _line(draw, x0 - art.uniform(0, 0.3) * h, y, x1 + art.uniform(0, 0.3) * h,
                      y + art.uniform(-0.03, 0.03) * (x1 - x0), thick, 1.0)
    ink = np.maximum(ink, np.asarray(marks))
    img = paper - (paper - pen) * ink
    if style == "desk":
        img = _on_desk(img, h, art)
        height, width = img.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = fx.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    img = img * (1 - fx.uniform(0, 0.35) * ramp)
    img = ndimage.gaussian_filter(img, fx.uniform(0.3, 1.2))
    img = img + fx.normal(0, fx.uniform(0.01, 0.03), img.shape)
    tint = np.array([1.0, fx.uniform(0.95, 1.0), fx.uniform(0.85, 1.0)], np.float32)
    return np.uint8(np.clip(img[..., None] * tint, 0, 1) * 255)


def _on_desk(img: np.ndarray, h: float, rng: np.random.Generator) -> np.ndarray:
    """The sheet ``img`` on a dark textured desk that shows beyond one to three of its edges
    (each slightly tilted), with a soft shadow along them."""
    height, width = img.shape
    sides = rng.permutation(4)[:rng.integers(1, 4)]  # left, top, right, bottom
    pad = [round(rng.uniform(0.15, 0.4) * (width if s % 2 == 0 else height)) if s in sides
           else 0 for s in range(4)]
    big_h, big_w = height + pad[1] + pad[3], width + pad[0] + pad[2]
    desk = rng.uniform(0.1, 0.35)
    texture = ndimage.gaussian_filter(rng.normal(0, 0.08, (big_h, big_w)), 3)
    out = np.float32(desk + texture)
    yy, xx = np.mgrid[0:big_h, 0:big_w]
    inside = np.ones((big_h, big_w), bool)
    for s in range(4):  # the paper edge on each side, tilted by up to 2 degrees
        tilt = np.tan(np.radians(rng.uniform(-2, 2)))
        if s == 0:
            inside &= xx >= pad[0] + tilt * (yy - big_h / 2) if 0 in sides else True
        elif s == 1:
            inside &= yy >= pad[1] + tilt * (xx - big_w / 2) if 1 in sides else True
        elif s == 2:
            inside &= xx < big_w - pad[2] + tilt * (yy - big_h / 2) if 2 in sides else True
        else:
            inside &= yy < big_h - pad[3] + tilt * (xx - big_w / 2) if 3 in sides else True
    sheet = np.pad(img, ((pad[1], pad[3]), (pad[0], pad[2])), mode="edge")
    shadow = ndimage.gaussian_filter(inside.astype(np.float32), 0.15 * h)
    out = np.where(inside, sheet, out * (0.6 + 0.4 * (1 - shadow)))
    return out


def save(img: np.ndarray, path: str | Path, seed: int = 0) -> Path:
    """Save as PNG, or as JPEG (quality 75-95 by seed) when ``path`` ends in .jpg."""
    path = Path(path)
    quality = int(np.random.default_rng([seed, 3]).integers(75, 96))
    Image.fromarray(img).save(path, **({"quality": quality} if path.suffix == ".jpg" else {}))
    return path


def numbers(rng: np.random.Generator, n: int, groups: bool = False) -> list[str]:
    """``n`` texts to write: 4-6 digits (``groups``: dates, phone numbers, fractions, decimals
    and numbers on two lines, with spaces and separators)."""
    def digits(k: int) -> str:
        return "".join(str(d) for d in rng.integers(0, 10, k))

    if not groups:
        return [digits(int(rng.integers(4, 7))) for _ in range(n)]
    forms = [lambda: f"{digits(2)} {digits(2)} {digits(4)}", lambda: f"{digits(3)}-{digits(4)}",
             lambda: f"{digits(2)}/{digits(2)}", lambda: f"{digits(1)}.{digits(2)}",
             lambda: f"{digits(2)}.{digits(2)}.{digits(4)}", lambda: f"{digits(3)} {digits(3)}",
             lambda: f"{digits(2)}\n{digits(2)}", lambda: f"{digits(3)}-{digits(2)}\n{digits(4)}"]
    return [forms[i % len(forms)]() for i in range(n)]
