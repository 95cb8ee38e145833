"""A learner's gradients against the true ones: when an array differs, the common mistakes are
tried one by one (1/m applied twice or missing, a global m, the wrong sign, a bias gradient summed
over the wrong axis or over everything, a wrong derivative of the activation, Z where A belongs)
and the one that reproduces the learner's numbers is named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .formulas import ACTIVATIONS, TrueGradients, rel_error, scale_of, sigmoid
from .forward import ForwardCheck
from .layout import Notation

ToTheirs = Callable[[np.ndarray, np.ndarray, int, bool], np.ndarray]


@dataclass
class GradientCase:
    """One of the learner's gradient arrays, with everything needed to explain it."""

    name: str                    # "dW2", as they call it
    param: str                   # "W2"
    layer: int
    is_bias: bool
    theirs: Any                  # as returned (their layout), or None when missing
    true: np.ndarray             # in their layout and the shape of their parameter
    param_shape: tuple[int, ...]


def explain_gradient(c: GradientCase, m: int, note: Notation, tol: float,
                     globals_: dict[str, float], tg: TrueGradients,
                     fc: ForwardCheck, to_theirs: ToTheirs,
                     ) -> tuple[str, str, dict[str, Any]] | None:
    """None when the learner's array is right; else (kind, message, evidence) with the mistake
    that reproduces it. ``kind`` groups arrays that share one cause ("twice", "db_axis",
    "global:m_train", ...). ``to_theirs(dW, db, layer, is_bias)`` turns column-layout gradients
    into the learner's array (their layout, a folded bias as a column of dW)."""
    g = c.theirs
    dz = note.dZ(c.layer)
    ev: dict[str, Any] = {"array": c.name, "expected_shape": list(c.param_shape)}
    if g is None:
        return ("missing", f"your backward pass returns no {c.name} (the gradient of "
                f"{c.param}), so {c.param} never learns", ev)
    g = np.asarray(g, dtype=np.float64) if np.size(g) else np.asarray(g)
    ev["shape"] = list(np.shape(g))
    if np.shape(g) != c.param_shape:
        return _shape_mistake(c, g, m, note, ev)
    err = rel_error(g, c.true)
    ev["relative_error"] = err
    if err <= tol:
        return None
    k = scale_of(g, c.true, tol)
    if k is not None:
        ev["factor"] = k
        for name, value in globals_.items():
            if value and abs(k * value / m - 1) < 1e-6:
                ev.update(global_name=name, global_value=value, batch=m)
                return (f"global:{name}", (
                    f"{c.name} is {m}/{value:g} = {k:.3g} times the true gradient: your "
                    f"backward pass divides by the global {name} = {value:g}, but this batch has "
                    f"{m} examples. Use the number of examples in this call, "
                    f"m = {note.A(0)}.shape[{note.batch_axis}]"), ev)
        for kind, factor, words in (
                ("twice", 1 / m, f"1/{m} of the true gradient: 1/m is applied twice (once "
                                 f"in {dz} and again in {c.name} = 1/m ...). Apply it once"),
                ("thrice", 1 / m**2, f"1/{m}² of the true gradient: 1/m is applied three "
                                     "times. Apply it once"),
                ("missing_m", float(m), f"{m} times the true gradient: the 1/m is missing "
                                        f"({c.name} = 1/m ... with m = {m}, the batch size)"),
                ("sign", -1.0, f"the true gradient with the wrong sign: {note.dZ(len(note.W))} "
                               f"= {note.A(len(note.W))} - {note.Y}, not {note.Y} - "
                               f"{note.A(len(note.W))} (and the update subtracts alpha * "
                               "gradient)")):
            if abs(k / factor - 1) < 1e-6:
                return (kind, f"{c.name} is {words}", ev)
        return ("scale", f"{c.name} is {k:.4g} times the true gradient: a constant factor too "
                         "many or too few in its formula", ev)
    return _value_mistake(c, g, m, note, tol, tg, fc, to_theirs, ev)


def _shape_mistake(c: GradientCase, g: np.ndarray, m: int, note: Notation,
                   ev: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    shape, want = np.shape(g), c.param_shape
    dz, ba = note.dZ(c.layer), note.batch_axis
    fix = f"1/m * np.sum({dz}, axis={ba}, keepdims=True)"
    grows = (f" Then {c.param} - alpha * {c.name} has shape "
             f"{np.broadcast_shapes(want, shape) if _broadcasts(want, shape) else '(error)'}: "
             f"{c.param} silently changes shape, and the network still seems to learn")
    if c.is_bias and np.size(g) == 1:
        return ("db_all", f"{c.name} is a single number: np.sum({dz}) adds up all of {dz}, "
                          f"over the units and the examples. Sum over the examples only: {fix}, "
                          f"shape {want}", ev)
    if c.is_bias and (shape in ((1, m), (m,), (m, 1))) and m not in want:
        return ("db_axis", f"{c.name} has shape {shape}: it sums {dz} over the units "
                           f"(axis={1 - ba}) instead of over the examples (axis={ba}). Use "
                           f"{fix}, shape {want}.{grows}", ev)
    if c.is_bias and m in shape and len(shape) == 2:
        return ("db_none", f"{c.name} has shape {shape}: it is not summed over the m = {m} "
                           f"examples at all. Use {fix}, shape {want}.{grows}", ev)
    if c.is_bias and len(shape) == 1 and len(want) == 2 and shape[0] == np.prod(want):
        return ("db_keepdims", f"{c.name} has shape {shape} but {c.param} has shape {want}: "
                               f"add keepdims=True ({fix}).{grows}", ev)
    if shape == want[::-1]:
        return ("transposed", f"{c.name} has shape {shape}, the transpose of {c.param}'s "
                              f"{want}: {c.name} = 1/m {dz} @ {note.A(c.layer - 1)}.T "
                              f"(one row per unit of layer {c.layer})", ev)
    return ("shape", f"{c.name} has shape {shape}, but {c.param} has shape {want}: a gradient "
                     "has the shape of its parameter", ev)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


#: wrong derivatives of ReLU learners write: name -> (g'(Z), words)
WRONG_DERIVATIVES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "relu_itself": (lambda z: np.maximum(z, 0), "np.maximum({z}, 0), the ReLU itself"),
    "z": (lambda z: z, "{z} itself"),
    "one": (lambda z: np.ones_like(z), "1 everywhere (the derivative is left out)"),
    "inverted": (lambda z: (z <= 0).astype(float), "({z} <= 0), inverted"),
    "sigmoid_formula": (lambda z: np.maximum(z, 0) * (1 - np.maximum(z, 0)),
                        "{a} * (1 - {a}), the sigmoid's derivative formula"),
    "sigmoid": (lambda z: sigmoid(z) * (1 - sigmoid(z)), "the sigmoid's derivative"),
    "tanh": (lambda z: 1 - np.tanh(z) ** 2, "the tanh's derivative"),
}


def _value_mistake(c: GradientCase, g: np.ndarray, m: int, note: Notation, tol: float,
                   tg: TrueGradients, fc: ForwardCheck, to_theirs: ToTheirs,
                   ev: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    l, L = c.layer, len(note.W)
    dz, z, a = note.dZ(l), note.Z(l), note.A(l)

    def matches(dZ: np.ndarray, A_prev: np.ndarray | None = None) -> bool:
        """Does the layer's gradient computed from this dZ (and A_prev) give their array?"""
        A_prev = fc.A[l - 1] if A_prev is None else A_prev
        alt = to_theirs(dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True), l, c.is_bias)
        return alt.shape == g.shape and (rel_error(g, alt) <= tol
                                         or scale_of(g, alt, tol) is not None)

    if l < L and tg.dA[l - 1] is not None:
        act = fc.activations[l - 1]
        for kind, (d, words) in WRONG_DERIVATIVES.items():
            if act != "ReLU" and kind in ("relu_itself", "inverted", "sigmoid_formula"):
                continue
            if ACTIVATIONS[act][1] is d or (kind == act.lower()):
                continue
            if matches(tg.dA[l - 1] * d(fc.Z[l - 1])):
                ev["derivative"] = kind
                right = ("({z} > 0): 1 where {z} > 0, else 0" if act == "ReLU"
                         else f"the derivative of {act}")
                return (f"deriv:{kind}", (
                    f"{c.name} is wrong while the gradients of the layers after it are right: "
                    f"in {dz} = {note.W[l]}.T @ {note.dZ(l + 1)} * g'({z}) your derivative "
                    f"g'({z}) is {words.format(z=z, a=a)}; the derivative of {act} is "
                    + right.format(z=z)), ev)
    if not c.is_bias and l > 1 and matches(tg.dZ[l - 1], fc.Z[l - 2]):
        return ("dw_uses_z", f"{c.name} uses {note.Z(l - 1)} where it needs "
                             f"{note.A(l - 1)}: {c.name} = 1/m {dz} @ {note.A(l - 1)}.T", ev)
    where = (f"in {dz} = {note.A(L)} - {note.Y} or in {c.name} itself" if l == L else
             f"in {dz} = {note.W[l]}.T @ {note.dZ(l + 1)} * g'({z}) or in {c.name} itself")
    formula = (f"1/m * np.sum({dz}, axis={note.batch_axis}, keepdims=True)" if c.is_bias
               else f"1/m {dz} @ {note.A(l - 1)}.T")
    return ("values", f"{c.name} differs from the true gradient (relative error "
                      f"{ev['relative_error']:.2g}); the error is {where} (it should be "
                      f"{c.name} = {formula})", ev)


