"""Temperature scaling: probabilities that mean what they say, fitted after training.

A trained network's softmax is usually too sure of itself (or, trained with label smoothing, too
unsure). One number fixes most of that: divide the scores by a temperature T > 0 before softmax,

    P = softmax(Z / T)          Z: (N, C) scores (logits)     T > 1: softer, T < 1: sharper

with T chosen to minimize the negative log-likelihood on held-out labelled images (the
validation split, never the training images):

    NLL(T) = 1/N * sum_i [logsumexp(Z_i / T) - Z[i, y_i] / T]

NLL is convex in 1/T, so it has one minimum; ``fit_temperature`` finds it by golden-section
search on log T within TEMPERATURE_BOUNDS. Dividing by T > 0 keeps each row's order, so the
predicted class (argmax) never changes: only how sure the answer says it is.

These functions take scores, not a network: ``calibrate`` works with any model that has
``logits(X)`` and a ``meta`` dict (a Network; an ensemble can pass log of its averaged
probabilities as scores). A one-output sigmoid network's scores z become the two-class scores
[0, z], since softmax([0, z] / T) = [1 - sigmoid(z / T), sigmoid(z / T)].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SpecError
from .losses import softmax

#: the range T is searched in (and the range a model file's temperature must be in, widened)
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: fewer held-out images than this give a temperature too noisy to trust: not fitted
MIN_CALIBRATION_IMAGES = 100
_GOLDEN = (math.sqrt(5) - 1) / 2


def as_two_class(Z: np.ndarray) -> np.ndarray:
    """Scores (N, C) as they are for C >= 2; a sigmoid network's (N, 1) as [0, z] (N, 2)."""
    Z = np.asarray(Z)
    return np.concatenate([np.zeros_like(Z), Z], axis=1) if Z.shape[1] == 1 else Z


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(Z / T), (N, C) -> (N, C); each row sums to 1 and keeps its argmax."""
    Z = as_two_class(logits)
    return softmax(Z / np.asarray(temperature, Z.dtype) if temperature != 1 else Z)


def temperature_nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """NLL(T) = mean_i [logsumexp(Z_i / T) - Z[i, y_i] / T], in float64 (finite for any Z)."""
    Z = as_two_class(logits).astype(np.float64) / temperature
    top = Z.max(axis=1)
    lse = top + np.log(np.exp(Z - top[:, None]).sum(axis=1))
    return float(np.mean(lse - Z[np.arange(len(Z)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray,
                    bounds: tuple[float, float] = TEMPERATURE_BOUNDS, tol: float = 1e-4) -> float:
    """The T in ``bounds`` that minimizes ``temperature_nll(logits, y, T)``: golden-section
    search on log T (NLL is convex in 1/T, hence unimodal in log T) to within ``tol`` in log T,
    about 30 evaluations of a vectorized (N, C) expression. ``logits`` (N, C) or (N, 1);
    ``y`` (N,) class numbers. A T at a bound means the minimum lies beyond it (e.g. every
    held-out image right: NLL keeps falling as T -> 0)."""
    Z = as_two_class(logits).astype(np.float64)
    y = np.asarray(y, dtype=np.int64)
    if Z.ndim != 2 or len(Z) != len(y) or not len(y):
        raise SpecError(f"fit_temperature needs scores (N, C) and N labels, N >= 1; got "
                        f"{np.shape(logits)} and {np.shape(y)}")
    if y.min() < 0 or y.max() >= Z.shape[1]:
        raise SpecError(f"labels must be class numbers 0..{Z.shape[1] - 1}")
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = (temperature_nll(Z, y, math.exp(t)) for t in (a, b))
    while hi - lo > tol:
        if fa <= fb:  # the minimum is left of b
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = temperature_nll(Z, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = temperature_nll(Z, y, math.exp(b))
    return math.exp((lo + hi) / 2)


def calibrate(model: Any, X: np.ndarray, y: np.ndarray, *,
              fitted_on: str = "validation") -> dict[str, Any]:
    """Fit ``model``'s temperature on held-out labelled images ``X`` (N, 784), ``y`` (N,) and
    keep it in ``model.meta["calibration"]`` (saved with the model file; ``predict_proba`` then
    returns softmax(Z / T)). Returns that record: temperature, fitted_on, n, and the NLL on
    these images before (T = 1) and after.

    Fit on images the model did not train on (the validation split); measure the result on
    others (the test split). Needs at least MIN_CALIBRATION_IMAGES images."""
    y = np.asarray(y)
    if len(y) < MIN_CALIBRATION_IMAGES:
        raise SpecError(f"calibrating needs at least {MIN_CALIBRATION_IMAGES} held-out labelled "
                        f"images, got {len(y)}: a temperature fitted on fewer is mostly noise")
    Z = model.logits(X)  # the scores as trained: before any temperature
    y = y.astype(np.int64)
    T = fit_temperature(Z, y)  # a bad label fails here, keeping the model's old temperature
    record = {"temperature": T, "fitted_on": fitted_on, "n": int(len(y)),
              "nll_before": temperature_nll(Z, y, 1.0), "nll_after": temperature_nll(Z, y, T)}
    model.meta["calibration"] = record
    return record
