"""On-the-fly data augmentation: each training image gets its own small random affine transform
(rotation, scale, shift), so the network sees a slightly different digit every epoch.

For an output pixel p (row, column) the source position is

    q = c + S^-1 R^-1 (p - c - t)        c = image centre, R = rotation by angle a,
                                         S = scale s, t = shift (dy, dx)

and the new value is read from X by bilinear interpolation (0 outside the image). All images of
a batch are transformed at once: the source positions are (N, H*W) arrays and the reads are four
gathers, with no Python loop over images or pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augment:
    """Ranges of the random transforms: rotation in degrees, scale as a fraction, shift in
    pixels; each is drawn uniformly in [-x, +x] per image."""

    rotate: float = 10.0
    scale: float = 0.1
    shift: float = 2.0
    image_shape: tuple[int, int] = (28, 28)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """X: (N, H*W) images as rows -> (N, H*W) transformed copies, same dtype."""
        N = len(X)
        H, W = self.image_shape
        dt = X.dtype
        a = np.deg2rad(rng.uniform(-self.rotate, self.rotate, N)).astype(dt)
        s = (1 + rng.uniform(-self.scale, self.scale, N)).astype(dt)
        ty = rng.uniform(-self.shift, self.shift, N).astype(dt)
        tx = rng.uniform(-self.shift, self.shift, N).astype(dt)
        cy, cx = (H - 1) / 2, (W - 1) / 2
        rows, cols = np.indices((H, W), dtype=dt).reshape(2, 1, H * W)
        py = rows - cy - ty[:, None]                       # (N, H*W), relative to the centre
        px = cols - cx - tx[:, None]
        cos, sin = (np.cos(a) / s)[:, None], (np.sin(a) / s)[:, None]
        qy = cos * py - sin * px + cy                       # inverse rotation and scale
        qx = sin * py + cos * px + cx
        y0, x0 = np.floor(qy), np.floor(qx)
        fy, fx = qy - y0, qx - x0
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        base = (np.arange(N) * (H * W))[:, None]
        flat = X.reshape(-1)
        out = np.zeros((N, H * W), dt)
        for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                          (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # the 4 neighbours
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            idx = base + np.where(inside, yy * W + xx, 0)
            out += np.where(inside, flat[idx], 0) * w
        return out
