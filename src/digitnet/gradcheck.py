"""Numerical gradient checks: compare what backward computes with finite differences.

For a parameter entry w the centred difference is

    dL/dw ~ (L(w + eps) - L(w - eps)) / (2 eps)

and the check reports, per parameter array, the relative error

    ||g_numerical - g_analytic|| / (||g_numerical|| + ||g_analytic||)

which is ~1e-9 or smaller in float64 for a correct backward, and ~1e-2..1 for a wrong one.

For a single layer the loss is L = sum(A * R) with a fixed random R, so dL/dA = R is what its
backward receives; the input gradient dX is checked too. For a network, L is its own loss.
Everything runs in training mode (BatchNorm uses the batch's statistics; Dropout the same mask
on every evaluation) on a float64 copy: the layer or network passed in is not changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError
from .nn.layers import Layer
from .nn.network import Network
from .nn.sizes import check_batch

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


#: absolute difference below which two gradients agree whatever their size: a gradient that is
#: truly 0 (a conv bias before BatchNorm) comes out as ~1e-17 and ~1e-11 from rounding
ABS_TOLERANCE = 1e-9


def _rel_error(num: np.ndarray, ana: np.ndarray) -> float:
    diff = np.linalg.norm(num - ana)
    if diff < ABS_TOLERANCE:
        return 0.0
    return float(diff / (np.linalg.norm(num) + np.linalg.norm(ana)))


def numerical_gradient(f: Callable[[], float], arr: np.ndarray, idx: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(w + eps) - f(w - eps)) / 2 eps at the flat entries ``idx`` of
    ``arr``, changed in place and put back (``arr`` must be contiguous: ``reshape(-1)`` of a
    strided view would be a copy, and the changes would not reach ``f``)."""
    flat = arr.reshape(-1)
    assert np.shares_memory(flat, arr), "numerical_gradient needs a contiguous array"
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


def random_inputs(net: Network, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random inputs in [0, 1) of the width ``net`` takes, (n, n_inputs) float64, for
    ``gradcheck``; SpecError if checking that many at once would need too much memory (see
    ``nn.sizes.check_batch``)."""
    if n < 1:
        raise SpecError(f"a gradient check needs at least one input, got {n}")
    check_batch(net, n, "gradcheck", itemsize=8)
    return np.random.default_rng(seed).random((n, net.n_inputs))


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
    layers = t.layers if isinstance(t, Network) else [t]
    rng_states = [(layer, layer.rng.bit_generator.state) for layer in layers
                  if hasattr(layer, "rng")]

    def same_masks() -> None:  # Dropout draws the same mask on every call
        for layer, state in rng_states:
            layer.rng.bit_generator.state = state

    if isinstance(t, Network):
        if X is None:
            X = rng.random((4, t.n_inputs))
        check_batch(t, len(X), "gradcheck")
        X = np.asarray(X, dtype=np.float64)
        if y is None:
            y = rng.integers(0, t.n_classes, len(X))

        def loss() -> float:
            same_masks()
            return t.loss.forward(t.forward(X, training=True), y)

        loss()
        t.backward(t.loss.backward())
        grads = {name: g.copy() for name, _, g in t.parameters()}
        for name, p, _ in t.parameters():
            idx = _entries(p, max_entries, rng)
            num = numerical_gradient(loss, p, idx, eps)
            result.rows.append((name, p.shape, _rel_error(num, grads[name].reshape(-1)[idx]),
                                len(idx)))
        return result

    if X is None:
        X = rng.standard_normal((4, getattr(t, "n_in", 8)))
    X = np.array(X, dtype=np.float64)

    def layer_loss() -> float:
        same_masks()
        return float(np.sum(t.forward(X, training=True) * R))

    same_masks()
    # R from its own stream: drawn from the same generator as X it could equal X
    R = np.random.default_rng([seed, 1]).standard_normal(t.forward(X, training=True).shape)
    layer_loss()
    t.needs_input_grad = True
    dX = t.backward(R.copy())
    grads = {k: g.copy() for k, g in t.grads.items()}
    for name, p in t.params.items():
        idx = _entries(p, max_entries, rng)
        num = numerical_gradient(layer_loss, p, idx, eps)
        result.rows.append((name, p.shape, _rel_error(num, grads[name].reshape(-1)[idx]),
                            len(idx)))
    idx = _entries(X, max_entries, rng)
    num = numerical_gradient(layer_loss, X, idx, eps)
    result.rows.append(("input (dX)", X.shape, _rel_error(num, np.asarray(dX).reshape(-1)[idx]),
                        len(idx)))
    return result
