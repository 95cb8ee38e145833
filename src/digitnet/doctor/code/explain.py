"""The learner's other functions against the formulas: the initial weights (not NaN, not all
equal), the cost (the cross-entropy, J = -1/m sum(Y * log(A))) and the update (W - alpha * dW)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .formulas import cross_entropy, one_hot, rel_error, scale_of
from .layout import Notation


def explain_cost(value: Any, P: np.ndarray, y: np.ndarray, note: Notation, name: str,
                 tol: float) -> str | None:
    """None when the learner's cost is the cross-entropy of P; else what it computes instead."""
    try:
        c = float(np.squeeze(np.asarray(value, dtype=np.float64)))
    except (TypeError, ValueError):
        return (f"{name}() returns {type(value).__name__} of shape {np.shape(value)}, not one "
                "number")
    true = cross_entropy(P, y)
    m, a = len(y), note.A(len(note.W))
    if not (math.isfinite(c) and math.isfinite(true)):
        return None if (math.isnan(c) and math.isnan(true)) else (
            f"{name}() gives {c:.4g} where the cross-entropy is {true:.4g}")
    if abs(c - true) <= tol * max(abs(true), 1e-12):
        return None
    Y = one_hot(y, P.shape[0])
    with np.errstate(all="ignore"):
        binary = float(-np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P)) / m)
    for factor, words in ((m, f"sums over the {m} examples without dividing by m"),
                          (-1.0, "has the wrong sign: J = -1/m sum(Y * log(A)), with a minus"),
                          (1 / P.shape[0], f"averages over all {P.shape[0]} x m elements "
                                           "(np.mean), which divides by 10 too many"),
                          (1 / math.log(10), "uses np.log10; the cross-entropy uses the "
                                             "natural log, np.log")):
        if abs(c - factor * true) <= tol * abs(factor * true):
            return f"{name}() {words}"
    if abs(c - binary) <= tol * abs(binary):
        return (f"{name}() computes the binary cross-entropy, -1/m sum(Y log({a}) + (1 - Y) "
                f"log(1 - {a})), which is for one sigmoid output; with a softmax over 10 classes "
                f"the cost is -1/m sum(Y log({a})), and its gradient is the {note.dZ(len(note.W))}"
                f" = {a} - Y your backward pass uses")
    return f"{name}() gives {c:.6g} where the cross-entropy is {true:.6g}"


def cost_formula(note: Notation) -> dict[str, str]:
    """The cross-entropy in the learner's notation, in words and in NumPy."""
    a = note.A(len(note.W))
    if note.columns:
        math_ = f"J = -1/m * sum over examples i of log {a}[y_i, i]"
        numpy_ = (f"J = -np.sum(Y * np.log({a})) / m   (Y one-hot, (10, m)); or "
                  f"-np.mean(np.log({a}[y, np.arange(m)])) with labels y")
    else:
        math_ = f"J = -1/m * sum over examples i of log {a}[i, y_i]"
        numpy_ = (f"J = -np.sum(Y * np.log({a})) / m   (Y one-hot, (m, 10)); or "
                  f"-np.mean(np.log({a}[np.arange(m), y])) with labels y")
    return {"formula": math_, "numpy": numpy_, "output": a}


def explain_init(Ws: list[np.ndarray], note: Notation) -> str | None:
    """Weights that cannot learn from the start: NaN/inf, or a hidden layer whose units all start
    the same (``np.zeros``: every unit gets the same gradient and they never become different)."""
    for l, W in enumerate(Ws, 1):
        name = note.W[l - 1]
        if not np.all(np.isfinite(W)):
            return (f"{name} starts with NaN or infinite values, so every output is NaN and "
                    "nothing can learn: look for np.empty (memory left as it was) instead of "
                    "np.random.randn, a division by zero or np.sqrt of a negative number")
        if l < len(Ws) and W.shape[0] > 1 and np.all(W == W[:1]):
            what = "all 0" if not np.any(W) else "all the same in every unit"
            return (f"{name} starts {what}: every unit of layer {l} computes the same value and "
                    f"gets the same gradient, so the units stay identical forever (the symmetry "
                    f"is never broken). Start {name} random: np.random.randn{W.shape} * "
                    f"np.sqrt(2 / {W.shape[1]}) (biases may start at 0)")
    return None


def explain_update(key: str, before: np.ndarray, got: Any, g: Any, lr: float, lr_name: str,
                   fn: str) -> str | None:
    """None when ``got`` is ``before - lr * g``; else what the update does instead."""
    if g is None:
        return None
    g = np.asarray(g, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = before - lr * g
    rule = f"{key} = {key} - {lr_name} * d{key}"
    if got is None:
        return f"{fn}() gives back no {key}"
    got = np.asarray(got, dtype=np.float64)
    if rel_error(got, expected) <= 1e-9:
        return None
    if got.shape == before.shape and np.array_equal(got, before):
        return f"{fn}() leaves {key} unchanged: {rule}"
    with np.errstate(all="ignore"):
        if rel_error(got, before + lr * g) <= 1e-9:
            return (f"{fn}() adds the gradient to {key}, so each step climbs the cost: {rule} "
                    "(gradient descent goes downhill)")
        if rel_error(got, before - g) <= 1e-9 and lr != 1:
            return f"{fn}() ignores the learning rate {lr_name} = {lr:g}: {rule}"
        step = scale_of(before - got, g, 1e-9) if got.shape == before.shape else None
    if step is not None:
        return (f"{fn}() moves {key} by {step:.4g} * d{key}, not by the {lr_name} = {lr:g} it "
                f"is given: {rule}")
    return f"{fn}() does not compute {rule} (relative error {rel_error(got, expected):.2g})"
