"""On-the-fly data augmentation: each training image gets its own small random affine transform
(rotation, scale, shift), and optionally a smooth elastic warp, so the network sees a slightly
different digit every epoch.

For an output pixel p (row, column) the source position is

    q = c + S^-1 R^-1 (p - c - t) + e(p)   c = image centre, R = rotation by angle a,
                                           S = scale s, t = shift (dy, dx)

where e is the elastic displacement (Simard et al. 2003 smooth a random field with a Gaussian;
here the field is drawn at a 4x4 grid of control points, each moved up to ``elastic`` pixels,
and interpolated bilinearly between them: just as smooth at this size, and one small matmul)

and the new value is read from X by bilinear interpolation (0 outside the image;
``nn.resample.bilinear``). All images of a batch are transformed at once: the source positions
are (N, H*W) arrays and the reads are four gathers, with no Python loop over images or pixels.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any

import numpy as np

from .errors import SpecError
from .nn.resample import bilinear

#: the most pixels an elastic warp's control point may move (``--elastic``, ``elastic=``);
#: 2 is what the README's recipes measured on MNIST
ELASTIC_MAX = 8


@dataclass(frozen=True)
class Augment:
    """Ranges of the random transforms: rotation in degrees, scale as a fraction, shift in
    pixels; each is drawn uniformly in [-x, +x] per image. ``elastic``: the most an elastic
    warp's control point moves, in pixels (0: no warp)."""

    rotate: float = 10.0
    scale: float = 0.1
    shift: float = 2.0
    image_shape: tuple[int, int] = (28, 28)
    elastic: float = 0.0

    def __call__(self, X: np.ndarray, rng: np.random.Generator,
                 pool: Executor | None = None, parts: int = 1) -> np.ndarray:
        """X: (N, H*W) images as rows -> (N, H*W) transformed copies, same dtype. With a
        ``pool`` of threads, the images are moved in ``parts`` parts at once: the random numbers
        are drawn first, for the whole batch, so the result is the same."""
        draws = self.draw(len(X), rng, X.dtype)
        parts = max(1, min(parts, len(X)))
        if pool is None or parts == 1:
            return self.apply(X, draws)
        cut = np.linspace(0, len(X), parts + 1).astype(int)
        jobs = [pool.submit(self.apply, X[a:b], {k: v[:, a:b] if k == "D" else v[a:b]
                                                  for k, v in draws.items()})
                for a, b in zip(cut[:-1], cut[1:], strict=True)]
        return np.concatenate([job.result() for job in jobs])

    def draw(self, n: int, rng: np.random.Generator, dt: Any = np.float32
             ) -> dict[str, np.ndarray]:
        """The random numbers for ``n`` images, in the order they are drawn: rotation angle a
        (radians), scale s, shifts ty, tx, and the elastic control points' moves D
        (2, n, g, g) when ``elastic``."""
        draws = {"a": np.deg2rad(rng.uniform(-self.rotate, self.rotate, n)).astype(dt),
                 "s": (1 + rng.uniform(-self.scale, self.scale, n)).astype(dt),
                 "ty": rng.uniform(-self.shift, self.shift, n).astype(dt),
                 "tx": rng.uniform(-self.shift, self.shift, n).astype(dt)}
        if self.elastic:
            g = ELASTIC_GRID
            draws["D"] = rng.uniform(-self.elastic, self.elastic, (2, n, g, g)).astype(dt)
        return draws

    def apply(self, X: np.ndarray, draws: dict[str, np.ndarray]) -> np.ndarray:
        """The transforms ``draws`` describes (see ``draw``) applied to X (N, H*W)."""
        H, W = self.image_shape
        dt = X.dtype
        a, s, ty, tx = draws["a"], draws["s"], draws["ty"], draws["tx"]
        cy, cx = (H - 1) / 2, (W - 1) / 2
        rows, cols = np.indices((H, W), dtype=dt).reshape(2, 1, H * W)
        py = rows - cy - ty[:, None]                       # (N, H*W), relative to the centre
        px = cols - cx - tx[:, None]
        cos, sin = (np.cos(a) / s)[:, None], (np.sin(a) / s)[:, None]
        qy = cos * py - sin * px + cy                       # inverse rotation and scale
        qx = sin * py + cos * px + cx
        if "D" in draws:
            ey, ex = _warp(draws["D"], H, W)
            qy, qx = qy + ey, qx + ex
        return bilinear(X, qy, qx, H, W)


#: control points per side of an elastic warp's grid
ELASTIC_GRID = 4


def augmentation(augment: Augment | bool | None, elastic: float = 0.0) -> Augment | None:
    """What ``train`` applies to each batch: ``augment`` (True: ``Augment()``'s ranges; False
    or None: nothing) with an elastic warp of ``elastic`` pixels added. An elastic warp implies
    augmentation (``augment=None`` with ``elastic=2``: ``Augment(elastic=2)``); with
    ``augment=False`` it is an error, as is an Augment with another elastic size."""
    if isinstance(elastic, bool) or not (isinstance(elastic, Real) and 0 <= elastic <= ELASTIC_MAX):
        raise SpecError(f"elastic must be a number of pixels from 0 to {ELASTIC_MAX} (2 suits "
                        f"MNIST), got {elastic!r}")
    if not elastic:
        return Augment() if augment is True else augment or None
    if augment is False:
        raise warp_needs_augmentation(elastic)
    base = augment if isinstance(augment, Augment) else Augment()
    if base.elastic not in (0, elastic):
        raise SpecError(f"two elastic sizes: Augment(elastic={base.elastic:g}) and "
                        f"elastic={elastic:g}; give one")
    return replace(base, elastic=float(elastic))  # a NumPy number too: saved as a plain float


def warp_needs_augmentation(elastic: float) -> SpecError:
    """The error for an elastic warp asked for with augmentation turned off."""
    return SpecError(f"elastic={elastic:g} bends the augmented images: leave augment unset (or "
                     f"True), or set elastic=0")


def _spread(n: int, size: int, dt: np.dtype) -> np.ndarray:
    """(n, size): row i holds the weights bilinear interpolation gives control point i (of n,
    evenly spaced from the first pixel to the last) at each of ``size`` pixels."""
    u = np.linspace(0, n - 1, size)
    return np.maximum(0, 1 - np.abs(u[None, :] - np.arange(n)[:, None])).astype(dt)


def _warp(D: np.ndarray, H: int, W: int) -> np.ndarray:
    """(2, N, H*W) smooth displacements, rows then columns, one field each per image, from D
    (2, N, g, g): a random move in [-most, most] at each of ELASTIC_GRID x ELASTIC_GRID control
    points, interpolated bilinearly: Ur^T D Uc."""
    g, N, dt = D.shape[-1], D.shape[1], D.dtype
    return (_spread(g, H, dt).T @ D @ _spread(g, W, dt)).reshape(2, N, H * W)
