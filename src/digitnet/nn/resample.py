"""Reading images at moved positions: the bilinear read (augmentation uses it too) and Deskew.

Deskewing is the classic MNIST preprocessing (LeCun et al.'s table lists classifiers with and
without it): a digit written slanted is sheared upright and moved so its centre of mass is the
image's centre. With the pixel values I as weights, over rows y and columns x of one image,

    m   = sum I                          the ink
    cy  = sum I y / m,  cx = sum I x / m  its centre of mass
    vy  = sum I (y - cy)^2 / m           how far the ink spreads over rows
    cxy = sum I (y - cy)(x - cx) / m     how much x moves with y: the slant
    a   = cxy / vy                       columns of ink move a pixels per row

and the output pixel (y, x) is read from the input at

    qy = y + (cy - c0)                   c0, c1: the image's centre, (H - 1) / 2, (W - 1) / 2
    qx = x + a (y - c0) + (cx - c1)

by bilinear interpolation (0 outside the image). Every image of a batch is done at once: the
moments are matrix products (N, H*W) @ (H*W,), the reads four gathers.
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError, TrainingError
from .layers import Layer

#: the most a Deskew shears, in pixels of column per row (1: 45 degrees). Real digits slant by
#: less than 0.6; the cap keeps a thin stroke or a stray dot from being sheared off the image.
MAX_SKEW = 1.0


def bilinear(X: np.ndarray, qy: np.ndarray, qx: np.ndarray, H: int, W: int) -> np.ndarray:
    """X (N, H*W) images as rows; qy, qx (N, H*W) the positions (row, column) each output pixel
    reads -> (N, H*W), X's dtype: the four neighbours of each position weighted by how near they
    are; a neighbour outside the image counts as 0."""
    N, dt = len(X), X.dtype
    y0, x0 = np.floor(qy), np.floor(qx)
    fy, fx = (qy - y0).astype(dt, copy=False), (qx - x0).astype(dt, copy=False)
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


def skew_positions(X: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """X (N, H*W) -> (qy, qx), each (N, H*W): where Deskew reads each output pixel (the module
    docstring has the formulas). Negative values do not count as ink; an image without ink, or
    with all of it in one row, is left where it is (a = 0, no move)."""
    dt = X.dtype
    rows, cols = np.indices((H, W), dtype=dt).reshape(2, H * W)
    # positions from the image's centre: the same moments, with less cancellation in
    # vy = mean(y^2) - mean(y)^2 in float32 (all four are ~30, not ~190)
    y, x = rows - (H - 1) / 2, cols - (W - 1) / 2
    I = np.maximum(X, 0)
    m = I.sum(axis=1)
    has_ink = m > 1e-6
    m = np.where(has_ink, m, 1)
    dy, dx = I @ y / m, I @ x / m                    # cy - c0, cx - c1
    vy = np.maximum(I @ (y * y) / m - dy * dy, 0)
    cxy = I @ (y * x) / m - dy * dx
    a = np.where(vy > 1e-3, cxy / np.where(vy > 1e-3, vy, 1), 0)
    a = np.clip(np.where(has_ink, a, 0), -MAX_SKEW, MAX_SKEW)
    dy, dx = np.where(has_ink, dy, 0), np.where(has_ink, dx, 0)
    qy = rows[None, :] + dy[:, None]
    qx = cols[None, :] + a[:, None] * y[None, :] + dx[:, None]
    return qy.astype(dt, copy=False), qx.astype(dt, copy=False)


class Deskew(Layer):
    """Shears each image upright and centres its centre of mass (see the module docstring):
    (N, H, W, 1) -> (N, H, W, 1), no parameters. It is preprocessing that travels with the
    model: a network trained on deskewed digits gets its inputs deskewed the same way wherever
    the model file is used. It comes first (``deskew-conv32-...``, right after the Reshape to
    images): the shear depends on the image itself, and no gradient is passed back through it.
    """

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if X.ndim != 4 or X.shape[3] != 1:
            raise SpecError(f"Deskew takes one-channel images (N, H, W, 1), got {X.shape}: put "
                            "it right after the Reshape to (H, W, 1)")
        N, H, W, _ = X.shape
        rows = X.reshape(N, H * W)
        qy, qx = skew_positions(rows, H, W)
        return bilinear(rows, qy, qx, H, W).reshape(X.shape)

    def backward(self, dA: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        raise TrainingError("Deskew passes no gradient back to its input: it must come before "
                            "every layer with parameters (deskew-conv32-..., not conv32-deskew)")
