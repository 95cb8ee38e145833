"""Photo-like test images made from MNIST digits, to check the image pipeline end to end
(tests/test_images.py, tests/test_read.py, bench/images_bench.py).

Digits are (28, 28) float arrays in [0, 1], white ink on black, as in MNIST; results are uint8
grey images like the ones people photograph or scan.
"""

from __future__ import annotations

import numpy as np

from ..extras import missing

try:
    from PIL import Image
except ImportError as e:
    raise missing("images", e) from None


def enlarge(x: np.ndarray, scale: int = 3) -> np.ndarray:
    """(28, 28) in [0, 1] -> (28 scale, 28 scale) in [0, 1], bilinear."""
    n = 28 * scale
    return np.clip(np.asarray(Image.fromarray(x).resize((n, n), Image.Resampling.BILINEAR)), 0, 1)


def paste_digit(x: np.ndarray, rng: np.random.Generator, side: int = 100) -> np.ndarray:
    """A digit scaled 1-3.4x and pasted at a random place into a (side, side) uint8 image with
    random background and ink levels, noise (sd 0.02) and polarity (half dark-on-light)."""
    n = int(round(28 * rng.uniform(1.0, 3.4)))
    big = np.asarray(Image.fromarray(x).resize((n, n), Image.Resampling.BILINEAR))
    canvas = np.zeros((side, side), np.float32)
    r, c = rng.integers(0, side - n + 1, 2)
    canvas[r:r + n, c:c + n] = np.clip(big, 0, 1)
    bg, fg = rng.uniform(0, 0.3), rng.uniform(0.7, 1.0)
    img = bg + (fg - bg) * canvas + rng.normal(0, 0.02, canvas.shape)
    if rng.random() < 0.5:
        img = 1 - img
    return np.uint8(np.clip(img, 0, 1) * 255)


def number_image(digits: list[np.ndarray], gap: int = 12, margin: int = 40, scale: int = 3,
                 invert: bool = True) -> np.ndarray:
    """Digits side by side, each cropped to its ink columns, ``gap`` pixels apart (negative:
    overlapping), with margins; dark ink on white paper when ``invert``."""
    parts = []
    for x in digits:
        big = enlarge(x, scale)
        cols = np.flatnonzero(big.max(axis=0) > 0.05)
        parts.append(big[:, cols[0]:cols[-1] + 1])
    h = 28 * scale
    width = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1) + 2 * margin
    img = np.zeros((h + 2 * margin, width), np.float32)
    x0 = margin
    for p in parts:
        img[margin:margin + h, x0:x0 + p.shape[1]] = np.maximum(
            img[margin:margin + h, x0:x0 + p.shape[1]], p)
        x0 += p.shape[1] + gap
    return np.uint8(255 * ((1 - img) if invert else img))
