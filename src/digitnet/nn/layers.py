"""Layers with explicit forward and backward passes.

The contract every layer keeps (activations in `activations.py` too):

- ``forward(X, training=False) -> A`` computes the output; with ``training=True`` it also keeps
  what backward needs. With ``training=False`` (predicting, evaluating) digitnet's layers keep
  nothing, so one network can answer several threads at once;
- ``backward(dA) -> dX`` takes the gradient of the loss w.r.t. the output and returns it w.r.t.
  the input, filling ``self.grads`` (same keys and shapes as ``self.params``), in place or with
  new arrays: the optimizers read ``grads`` afresh at every step;
- ``params`` / ``grads``: dicts of named arrays, so optimizers, gradient checks and model files
  treat every layer alike; ``state``: arrays saved with the model but not trained;
- ``n_in`` (values per example) on a layer that can come first, so a network can check inputs;
- ``config()``: the constructor arguments as JSON, so a model file can rebuild the layer (a class
  of your own must also be registered: ``dn.register_layer(MyLayer)``).

Arrays are batch-first: ``(N, features)``, one example per row, where the course notebooks keep
one per column: each formula here is the transpose of theirs (``Z = X @ W + b`` is their
``Z = W X + b``; ``reference.py`` has their versions, and the tests say both agree). Gradients
are of the *mean* loss over the batch, so the 1/m of the notebooks' ``dW = 1/m dZ X.T`` is
already inside ``dZ`` (the loss puts it there).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import SpecError
from .init import get_initializer


def as_rows(X: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, values per example): one example per row, a view where NumPy can. Unlike
    ``X.reshape(len(X), -1)`` it works for N = 0 (an empty batch)."""
    return X.reshape(len(X), int(np.prod(X.shape[1:])))


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype: str) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.flags.writeable = False  # shared by every layer and thread
    return ones


def column_sums(X2: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """X2 (m, n) -> its column sums (n,), as ones @ X2: a BLAS matrix-vector product. NumPy's
    X2.sum(axis=0) adds row by row, over short rows: ~10x slower here for LeNet's (100352, 6),
    ~5x for (25088, 64). (Conv2D's db, BatchNorm's mean and dbeta.)"""
    return np.matmul(_ones(len(X2), X2.dtype.str), X2, out=out)


#: the longest row per_feature widens (m, n) arrays to: measured here, (25088, 64) - v took
#: 0.58 ms as it is, 0.40 ms as (3136, 512); rows of 1024 values and more were slower again
WIDE_ROW = 512


def per_feature(op: Any, X2: np.ndarray, v: np.ndarray, out: np.ndarray | None = None
                ) -> np.ndarray:
    """``op(X2, v)`` for X2 (m, n) and a per-feature v (n,), e.g. np.subtract for X2 - v. The
    same values, computed on X2 viewed as (m/k, n*k) rows with v repeated k times: NumPy loops
    over the last axis, and m loops of n = 64 values cost ~1.5x one pass over the array."""
    m, n = X2.shape
    v = v.astype(X2.dtype, copy=False)
    k = max([j for j in range(1, WIDE_ROW // max(n, 1) + 1) if m % j == 0] or [1])
    if k > 1 and X2.flags.c_contiguous and (out is None or out.flags.c_contiguous):
        wide = op(X2.reshape(m // k, n * k), np.tile(v, k),
                  out=None if out is None else out.reshape(m // k, n * k))
        return wide.reshape(m, n)
    return op(X2, v, out=out)


class Layer:
    """Base class: a layer without parameters that passes its input through."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: arrays a layer keeps that are not trained, e.g. BatchNorm's running statistics
        self.state: dict[str, np.ndarray] = {}
        #: set to False by Network on the first layer: nobody needs dX of the input images
        self.needs_input_grad = True

    def initialize(self, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        """(Re)draw the parameters with ``rng``; layers without parameters do nothing."""

    def astype(self, dtype: Any) -> None:
        for d in (self.params, self.grads, self.state):
            for k, v in d.items():
                d[k] = v.astype(dtype)

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dA: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {}

    def output_size(self, n_in: int) -> int:
        return n_in

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer: the notebooks' Z = W X + b, transposed (W here is their W.T).

    Forward:   Z = X @ W + b          X:(N, n_in)  W:(n_in, n_out)  b:(n_out,)  Z:(N, n_out)
    Backward:  dW = X.T @ dZ          (n_in, n_out)
               db = sum over N of dZ  (n_out,)
               dX = dZ @ W.T          (N, n_in)
    """

    def __init__(self, n_in: int, n_out: int, init: str = "he", seed: int | None = 0,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if int(n_in) < 1 or int(n_out) < 1:
            raise SpecError(f"Dense layer sizes must be positive, got {n_in} -> {n_out}")
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init
        self._init_fn = get_initializer(init)
        self.initialize(np.random.default_rng(seed), dtype)

    def initialize(self, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        W = self._init_fn(self.n_in, self.n_out, rng).astype(dtype)
        self.params = {"W": W, "b": np.zeros(self.n_out, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise SpecError(
                f"Dense layer expects input of shape (N, {self.n_in}), got {X.shape}"
            )
        if training:
            self.X = X
        Z = X @ self.params["W"]
        Z += self.params["b"]
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray | None:
        np.matmul(self.X.T, dZ, out=self.grads["W"])
        np.sum(dZ, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return dZ @ self.params["W"].T

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}

    def output_size(self, n_in: int) -> int:
        return self.n_out


class Dropout(Layer):
    """Inverted dropout: at training time each unit is kept with probability 1 - p and scaled by
    1 / (1 - p), so nothing changes at evaluation time.

    Forward:   A = X * M,   M = (U >= p) / (1 - p),  U ~ uniform(0, 1)   (N, n)
    Backward:  dX = dA * M
    """

    def __init__(self, p: float = 0.5, seed: int | None = 0) -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise SpecError(f"Dropout rate must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def initialize(self, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        self.rng = np.random.default_rng(rng.integers(2**63))

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if not training:
            return X
        if self.p == 0.0:
            self.M = None
            return X
        # draw U, then overwrite it with M: one buffer, no float64 temporaries
        self.M = self.rng.random(X.shape, dtype=np.float32 if X.dtype == np.float32 else None)
        np.multiply(self.M >= self.p, X.dtype.type(1.0 / (1.0 - self.p)), out=self.M)
        return X * self.M

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA if self.M is None else dA * self.M

    def config(self) -> dict[str, Any]:
        return {"p": self.p}


class BatchNorm(Layer):
    """Batch normalization over the last axis: features of (N, F), or channels of (N, H, W, C).

    Training:  mu, var = mean and variance of X over every axis but the last (per feature)
               Xhat = (X - mu) / sqrt(var + eps)          A = gamma * Xhat + beta
               running_mean/var <- momentum * running + (1 - momentum) * batch value
    Evaluation: the same with the running statistics instead of the batch's.
    Backward (m values per feature):
               dgamma = sum(dA * Xhat)      dbeta = sum(dA)      dXhat = dA * gamma
               dX = (m * dXhat - sum(dXhat) - Xhat * sum(dXhat * Xhat)) / (m * sqrt(var + eps))
    """

    def __init__(self, n: int, momentum: float = 0.9, eps: float = 1e-5,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if int(n) < 1:
            raise SpecError(f"BatchNorm needs a positive number of features, got {n}")
        self.n, self.momentum, self.eps = int(n), float(momentum), float(eps)
        self.initialize(np.random.default_rng(0), dtype)

    def initialize(self, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        self.params = {"gamma": np.ones(self.n, dtype), "beta": np.zeros(self.n, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.state = {"running_mean": np.zeros(self.n, dtype),
                      "running_var": np.ones(self.n, dtype)}

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if X.shape[-1] != self.n:
            raise SpecError(f"BatchNorm({self.n}) got {X.shape[-1]} features (shape {X.shape})")
        X2 = X.reshape(-1, self.n)  # (m, n): every value of a feature/channel in one column
        if not training:  # A = X * scale + shift: the same sums in two passes over X
            scale, shift = self.scale_shift()
            A = per_feature(np.multiply, X2, scale.astype(X.dtype))
            return per_feature(np.add, A, shift.astype(X.dtype), out=A).reshape(X.shape)
        m = len(X2)
        mu = column_sums(X2) / m
        Xc = per_feature(np.subtract, X2, mu)
        var = np.einsum("mc,mc->c", Xc, Xc) / m  # one pass, no squared copy
        k = self.momentum
        self.state["running_mean"] *= k
        self.state["running_mean"] += (1 - k) * mu
        self.state["running_var"] *= k
        self.state["running_var"] += (1 - k) * var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(X.dtype)
        self.Xc, self.inv_std = Xc, inv_std  # Xhat = Xc * inv_std, never made
        A = per_feature(np.multiply, Xc, self.params["gamma"] * inv_std)  # gamma * Xhat
        return per_feature(np.add, A, self.params["beta"], out=A).reshape(X.shape)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation's BatchNorm as A = X * scale + shift, per feature:
        scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale."""
        scale = self.params["gamma"] / np.sqrt(self.state["running_var"] + self.eps)
        return scale, self.params["beta"] - self.state["running_mean"] * scale

    def backward(self, dA: np.ndarray) -> np.ndarray | None:
        dA2 = dA.reshape(-1, self.n)
        m, Xc, inv_std = len(dA2), self.Xc, self.inv_std
        self.grads["gamma"][...] = np.einsum("mc,mc->c", dA2, Xc) * inv_std  # sum(dA * Xhat)
        column_sums(dA2, out=self.grads["beta"])
        if not self.needs_input_grad:
            return None
        # dX = (dXhat - (sum(dXhat) + Xhat * sum(dXhat * Xhat)) / m) * inv_std, dXhat = gamma dA,
        # where sum(dXhat) = gamma * dbeta and sum(dXhat * Xhat) = gamma * dgamma: so dX is
        # dA * a + Xc * b + c with per-feature a, b, c (three passes over the big arrays)
        a = self.params["gamma"] * inv_std
        b = -a * self.grads["gamma"] * inv_std / m
        c = -a * self.grads["beta"] / m
        dX = per_feature(np.multiply, dA2, a)
        dX += per_feature(np.multiply, Xc, b)
        return per_feature(np.add, dX, c, out=dX).reshape(dA.shape)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "momentum": self.momentum, "eps": self.eps}
