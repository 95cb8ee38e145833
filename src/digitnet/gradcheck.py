"""Numerical gradient checks: compare what backward computes with finite differences.

For a parameter entry w the centred difference is

    dL/dw ~ (L(w + eps) - L(w - eps)) / (2 eps)

and the check reports, per parameter array, the relative error

    ||g_numerical - g_analytic|| / (||g_numerical|| + ||g_analytic||)

which is ~1e-9 or smaller in float64 for a correct backward, and ~1e-2..1 for a wrong one.

For a single layer the loss is L = sum(A * R) with a fixed random R, so dL/dA = R is what its
backward receives; the input gradient dX is checked too. For a network, L is its own loss.
Everything runs on a float64 copy: the layer or network passed in is not changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .nn.layers import Layer
from .nn.network import Network

THRESHOLD = 1e-6


@dataclass
class GradcheckResult:
    """One row per checked array: (name, shape, relative error, entries checked)."""

    rows: list[tuple[str, tuple[int, ...], float, int]] = field(default_factory=list)
    threshold: float = THRESHOLD

    @property
    def max_error(self) -> float:
        return max((r[2] for r in self.rows), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_error < self.threshold

    def __str__(self) -> str:
        lines = [f"{'array':<14}{'shape':<16}{'rel. error':>12}{'checked':>9}  verdict"]
        for name, shape, err, n in self.rows:
            verdict = "ok" if err < self.threshold else "WRONG"
            lines.append(f"{name:<14}{str(shape):<16}{err:>12.2e}{n:>9}  {verdict}")
        lines.append(f"max relative error {self.max_error:.2e} "
                     f"({'passed' if self.ok else 'FAILED'}, threshold {self.threshold:g})")
        return "\n".join(lines)


def _rel_error(num: np.ndarray, ana: np.ndarray) -> float:
    denom = np.linalg.norm(num) + np.linalg.norm(ana)
    return 0.0 if denom == 0 else float(np.linalg.norm(num - ana) / denom)


def _numeric(f: Callable[[], float], arr: np.ndarray, idx: np.ndarray, eps: float) -> np.ndarray:
    flat = arr.reshape(-1)
    out = np.empty(len(idx))
    for j, i in enumerate(idx):  # a loop is fine here: a check, not a hot path
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        out[j] = (up - down) / (2 * eps)
    return out


def _entries(arr: np.ndarray, max_entries: int, rng: np.random.Generator) -> np.ndarray:
    n = arr.size
    return np.arange(n) if n <= max_entries else rng.choice(n, max_entries, replace=False)


def gradcheck(target: Layer | Network, X: np.ndarray | None = None, y: np.ndarray | None = None,
              *, eps: float = 1e-6, max_entries: int = 200, seed: int = 0,
              threshold: float = THRESHOLD) -> GradcheckResult:
    """Check every gradient of a layer or network against finite differences.

    ``X`` defaults to a random batch of 4 inputs of the right width; ``y`` (networks only) to
    random labels. At most ``max_entries`` random entries of each array are checked.
    """
    rng = np.random.default_rng(seed)
    t = copy.deepcopy(target)
    t.astype(np.float64)
    result = GradcheckResult(threshold=threshold)
    if isinstance(t, Network):
        if X is None:
            X = rng.random((4, t.n_inputs))
        X = np.asarray(X, dtype=np.float64)
        if y is None:
            y = rng.integers(0, t.n_classes, len(X))

        def loss() -> float:
            return t.loss.forward(t.forward(X), y)

        loss()
        t.backward(t.loss.backward())
        for name, p, g in t.parameters():
            idx = _entries(p, max_entries, rng)
            num = _numeric(loss, p, idx, eps)
            result.rows.append((name, p.shape, _rel_error(num, g.reshape(-1)[idx].copy()),
                                len(idx)))
        return result

    if X is None:
        n_in = getattr(t, "n_in", 8)
        X = rng.standard_normal((4, n_in))
    X = np.array(X, dtype=np.float64)
    R = None
    rng_state = t.rng.bit_generator.state if hasattr(t, "rng") else None

    def layer_loss() -> float:
        if rng_state is not None:  # the same dropout mask on every call
            t.rng.bit_generator.state = rng_state
        return float(np.sum(t.forward(X, training=True) * R))

    if rng_state is not None:
        t.rng.bit_generator.state = rng_state
    R = rng.standard_normal(t.forward(X, training=True).shape)
    layer_loss()
    t.needs_input_grad = True
    dX = t.backward(R.copy())
    grads = {k: g.copy() for k, g in t.grads.items()}
    for name, p in t.params.items():
        idx = _entries(p, max_entries, rng)
        num = _numeric(layer_loss, p, idx, eps)
        result.rows.append((name, p.shape, _rel_error(num, grads[name].reshape(-1)[idx]),
                            len(idx)))
    idx = _entries(X, max_entries, rng)
    num = _numeric(layer_loss, X, idx, eps)
    result.rows.append(("input (dX)", X.shape, _rel_error(num, np.asarray(dX).reshape(-1)[idx]),
                        len(idx)))
    return result
