"""The formulas a learner's network is checked against, in the notebooks' column layout, float64:

    Z[l] = W[l] @ A[l-1] + b[l]          A[l] = g(Z[l])          A[L] = softmax(Z[L]) (axis=0)
    J = -1/m sum_i log A[L][y_i, i]      dZ[L] = A[L] - Y         (Y one-hot, (10, m))
    dW[l] = 1/m dZ[l] @ A[l-1].T         db[l] = 1/m sum(dZ[l], axis=1, keepdims=True)
    dZ[l-1] = W[l].T @ dZ[l] * g'(Z[l-1])

(the 1/m is folded into dZ here, as digitnet's loss does), and how two arrays are compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


#: hidden activations: name -> (g, g')
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray],
                             Callable[[np.ndarray], np.ndarray]]] = {
    "ReLU": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky ReLU": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


def softmax(Z: np.ndarray) -> np.ndarray:
    """Column-wise softmax: each column (one image) sums to 1."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    Y = np.zeros((n, len(y)))
    Y[y, np.arange(len(y))] = 1
    return Y


def cross_entropy(P: np.ndarray, y: np.ndarray) -> float:
    """J = -1/m sum_i log P[y_i, i], for probabilities P (classes, m) and labels y (m,)."""
    with np.errstate(all="ignore"):
        return float(-np.mean(np.log(P[y, np.arange(len(y))])))


def rel_error(a: Any, b: Any) -> float:
    """||a - b|| / (||a|| + ||b||); inf when the shapes differ or a value is not finite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.inf
    d = float(np.linalg.norm(a - b))
    return 0.0 if d < 1e-14 else d / (float(np.linalg.norm(a)) + float(np.linalg.norm(b)))


def scale_of(g: np.ndarray, t: np.ndarray, tol: float) -> float | None:
    """k when g = k * t (to ``tol``), else None."""
    g, t = np.asarray(g, dtype=np.float64), np.asarray(t, dtype=np.float64)
    tt = float(np.sum(t * t))
    if g.shape != t.shape or tt == 0 or not np.all(np.isfinite(g)):
        return None
    k = float(np.sum(g * t)) / tt
    return k if rel_error(g, k * t) < tol and k != 0 else None


@dataclass
class TrueGradients:
    """The gradients of J on the learner's weights, by the formulas above (their layout of
    each array is applied when comparing)."""

    dW: list[np.ndarray]
    db: list[np.ndarray]
    #: the pieces the mistakes are built from: dA[l] = W[l+1].T @ dZ[l+1] (before g'), dZ[l]
    dA: list[np.ndarray | None]
    dZ: list[np.ndarray]


def true_gradients(A: list[np.ndarray], Z: list[np.ndarray], activations: list[str],
                   Ws: list[np.ndarray], y: np.ndarray) -> TrueGradients:
    """Backward pass of softmax + cross-entropy. ``A``: X, A[1] .. A[L-1] and the probabilities
    A[L]; ``Z``: Z[1] .. Z[L]; ``activations``: g of layers 1 .. L-1; ``y``: class numbers."""
    L, m = len(Ws), len(y)
    dW: list[Any] = [None] * L
    db: list[Any] = [None] * L
    dA: list[Any] = [None] * L
    dZs: list[Any] = [None] * L
    dZ = (A[L] - one_hot(y, A[L].shape[0])) / m          # dZ[L], with the 1/m
    for l in range(L, 0, -1):
        dZs[l - 1] = dZ
        dW[l - 1] = dZ @ A[l - 1].T
        db[l - 1] = dZ.sum(axis=1, keepdims=True)
        if l > 1:
            dA[l - 2] = Ws[l - 1].T @ dZ
            dZ = dA[l - 2] * ACTIVATIONS[activations[l - 2]][1](Z[l - 2])
    return TrueGradients(dW=dW, db=db, dA=dA, dZ=dZs)
