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

from typing import Any

import numpy as np

from ..errors import SpecError
from .init import get_initializer


def as_rows(X: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, values per example): one example per row, a view where NumPy can. Unlike
    ``X.reshape(len(X), -1)`` it works for N = 0 (an empty batch)."""
    return X.reshape(len(X), int(np.prod(X.shape[1:])))


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
        if training:
            mu = X2.mean(axis=0)
            Xc = X2 - mu
            var = np.einsum("mc,mc->c", Xc, Xc) / len(X2)  # one pass, no squared copy
            m = self.momentum
            self.state["running_mean"] *= m
            self.state["running_mean"] += (1 - m) * mu
            self.state["running_var"] *= m
            self.state["running_var"] += (1 - m) * var
        else:  # A = X * scale + shift: the same sums in two passes over X instead of four
            scale, shift = self.scale_shift()
            A = X2 * scale.astype(X.dtype)
            A += shift.astype(X.dtype)
            return A.reshape(X.shape)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(X.dtype)
        Xc *= inv_std  # now Xhat, (m, n)
        if training:
            self.inv_std, self.Xhat = inv_std, Xc
        A = Xc * self.params["gamma"]
        A += self.params["beta"]
        return A.reshape(X.shape)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation's BatchNorm as A = X * scale + shift, per feature:
        scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale."""
        scale = self.params["gamma"] / np.sqrt(self.state["running_var"] + self.eps)
        return scale, self.params["beta"] - self.state["running_mean"] * scale

    def backward(self, dA: np.ndarray) -> np.ndarray | None:
        dA2 = dA.reshape(-1, self.n)
        m = len(dA2)
        np.einsum("mc,mc->c", dA2, self.Xhat, out=self.grads["gamma"])
        np.sum(dA2, axis=0, out=self.grads["beta"])
        if not self.needs_input_grad:
            return None
        # dX = (dXhat - (sum(dXhat) + Xhat * sum(dXhat * Xhat)) / m) * inv_std, dXhat = gamma dA,
        # where sum(dXhat) = gamma * dbeta and sum(dXhat * Xhat) = gamma * dgamma: so dX is
        # dA * a + Xhat * b + c with per-feature a, b, c (three passes over the big arrays)
        a = self.params["gamma"] * self.inv_std
        b = -a * self.grads["gamma"] / m
        c = -a * self.grads["beta"] / m
        dX = dA2 * a
        dX += self.Xhat * b
        dX += c
        return dX.reshape(dA.shape)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "momentum": self.momentum, "eps": self.eps}
