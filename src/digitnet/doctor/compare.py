"""Comparing a learner's arrays with what the formulas give on the same weights and batch.

Everything here is in the notebooks' column layout, float64 (a learner's row-layout arrays are
transposed before they get here):

    Z[l] = W[l] @ A[l-1] + b[l]          A[l] = g(Z[l])          A[L] = softmax(Z[L]) (axis=0)
    J = -1/m sum_i log A[L][y_i, i]      dZ[L] = A[L] - Y         (Y one-hot, (10, m))
    dW[l] = 1/m dZ[l] @ A[l-1].T         db[l] = 1/m sum(dZ[l], axis=1, keepdims=True)
    dZ[l-1] = W[l].T @ dZ[l] * g'(Z[l-1])

When an array differs, the common mistakes are tried one by one (a softmax over the wrong axis,
1/m applied twice, a bias gradient summed over the wrong axis, a wrong ReLU derivative, ...)
and the finding names the one that reproduces the learner's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .findings import Finding

# --- the formulas -------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


#: hidden activations: name -> (g, g')
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray],
                             Callable[[np.ndarray], np.ndarray]]] = {
    "ReLU": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky ReLU": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
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


# --- naming -------------------------------------------------------------------------------------
@dataclass
class Notation:
    """How the learner writes things: their names of W1.., their layout, their label form."""

    W: list[str]                      # "W1" or "w1"
    b: list[str | None]
    columns: bool = True
    lower: bool = False               # z1, a1, dz1 rather than Z1, A1, dZ1
    labels_one_hot: bool = False

    def Z(self, l: int) -> str:
        return f"{'z' if self.lower else 'Z'}{l}"

    def A(self, l: int) -> str:
        return f"{'a' if self.lower else 'A'}{l}" if l else ("x" if self.lower else "X")

    def dZ(self, l: int) -> str:
        return f"d{self.Z(l)}"

    def d(self, key: str) -> str:
        return f"d{key}"

    @property
    def image_axis(self) -> str:
        return "column" if self.columns else "row"

    @property
    def class_axis(self) -> int:
        return 0 if self.columns else 1

    @property
    def batch_axis(self) -> int:
        return 1 if self.columns else 0

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape if self.columns or len(shape) != 2 else shape[::-1]

    @property
    def Y(self) -> str:
        return "Y" if self.labels_one_hot else "one_hot(Y)"


# --- forward --------------------------------------------------------------------------------------
@dataclass
class ForwardCheck:
    findings: list[Finding] = field(default_factory=list)
    #: the hidden activation of each layer 1..L-1, as read off the learner's arrays
    activations: list[str] = field(default_factory=list)
    #: A[0] = X, A[1] .. A[L-1], and the output probabilities A[L] (their values)
    A: list[np.ndarray] = field(default_factory=list)
    Z: list[np.ndarray] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def check_forward(X: np.ndarray, Ws: list[np.ndarray], bs: list[np.ndarray],
                  theirs: Callable[[str, int], np.ndarray | None], output: np.ndarray | None,
                  guess: str, note: Notation, tol: float) -> ForwardCheck:
    """Walk the layers: Z[l] against W[l] @ A[l-1] + b[l] (with *their* A[l-1], so the first wrong
    array is the one named), A[l] against the activations, the output against softmax."""
    fc = ForwardCheck(A=[X])
    L = len(Ws)
    A_prev = X
    for l in range(1, L + 1):
        W, b = Ws[l - 1], bs[l - 1]
        Z_ref = W @ A_prev + b
        Z = theirs("Z", l)
        if Z is not None:
            err = rel_error(Z, Z_ref)
            if err > tol:
                fc.findings.append(_wrong_z(l, Z, Z_ref, W, b, fc, note, err))
                return fc
            fc.checked.append(note.Z(l))
        else:
            Z = Z_ref
        fc.Z.append(Z)
        if l == L:
            break
        A = theirs("A", l)
        if A is None:
            act = guess
            A = ACTIVATIONS[act][0](Z)
        else:
            act = next((name for name, (g, _) in ACTIVATIONS.items()
                        if rel_error(A, g(Z)) <= tol), "")
            if not act:
                fc.findings.append(_wrong_a(l, A, Z, note))
                return fc
            fc.checked.append(note.A(l))
        fc.activations.append(act)
        fc.A.append(A)
        A_prev = A
    if output is None:
        output = softmax(fc.Z[-1])
    else:
        finding = _check_softmax(output, fc.Z[-1], note, L, tol)
        if finding:
            fc.findings.append(finding)
            return fc
        fc.checked.append(f"{note.A(L)} (softmax)")
    fc.A.append(output)
    return fc


def _wrong_z(l: int, Z: np.ndarray, Z_ref: np.ndarray, W: np.ndarray, b: np.ndarray,
             fc: ForwardCheck, note: Notation, err: float) -> Finding:
    z, a_prev, w = note.Z(l), note.A(l - 1), note.W[l - 1]
    bname = note.b[l - 1] or "the bias column"
    formula = f"{z} = {w} @ {a_prev} + {bname}"
    evidence: dict[str, Any] = {"array": z, "shape": list(note.shape(np.shape(Z))),
                                "expected_shape": list(note.shape(Z_ref.shape)),
                                "relative_error": err}
    if np.shape(Z) != Z_ref.shape:
        why = (f"{z} has shape {note.shape(np.shape(Z))}, but {formula} has shape "
               f"{note.shape(Z_ref.shape)}")
    elif rel_error(Z, W @ fc.A[-1]) <= 1e-9:
        why = f"{z} leaves out the bias {bname}: {formula}"
    elif l > 1 and rel_error(Z, W @ fc.Z[-1] + b) <= 1e-9:
        why = (f"{z} is computed from {note.Z(l - 1)}, the scores before the activation; it "
               f"needs {a_prev} = g({note.Z(l - 1)}): {formula}")
    else:
        why = f"{z} is not {formula} (relative error {err:.2g})"
    return Finding("wrong_forward", f"{why}. {_one_image(note)}", evidence)


def _wrong_a(l: int, A: np.ndarray, Z: np.ndarray, note: Notation) -> Finding:
    a, z = note.A(l), note.Z(l)
    return Finding("wrong_forward", (
        f"{a} is not an activation of {z}: it matches none of ReLU, np.maximum({z}, 0); leaky "
        f"ReLU; sigmoid, 1 / (1 + np.exp(-{z})); tanh (relative error to ReLU "
        f"{rel_error(A, np.maximum(Z, 0)):.2g}). Apply the activation elementwise to {z}."),
        {"array": a, "shape": list(note.shape(np.shape(A))),
         "relative_error_to_relu": rel_error(A, np.maximum(Z, 0))})


def _one_image(note: Notation) -> str:
    return (f"(One image = one {note.image_axis}: X is "
            f"{'(784, m)' if note.columns else '(m, 784)'}.)")


def _check_softmax(P: np.ndarray, Z: np.ndarray, note: Notation, L: int,
                   tol: float) -> Finding | None:
    """``bad_softmax`` with the mistake that reproduces the learner's output, if any."""
    a, z = note.A(L), note.Z(L)
    ref = softmax(Z)
    P = np.asarray(P, dtype=np.float64)
    err = rel_error(P, ref)
    if err <= tol:
        return None
    # P and Z are in the column layout here (classes on axis 0, images on axis 1); the words
    # use the learner's own axis numbers
    ax, other = note.class_axis, 1 - note.class_axis
    fix = f"e = np.exp({z} - np.max({z}, axis={ax}, keepdims=True)); {a} = e / np.sum(e, " \
          f"axis={ax}, keepdims=True)"
    evidence: dict[str, Any] = {"array": a, "shape": list(note.shape(np.shape(P))),
                                "relative_error": err}
    Pc = P if P.shape == ref.shape else None
    with np.errstate(all="ignore"):
        E = np.exp(Z - Z.max())
        if np.shape(P) != ref.shape:
            why = (f"{a} has shape {note.shape(np.shape(P))}; it should have one probability per "
                   f"class and image, {note.shape(ref.shape)}")
        elif not np.all(np.isfinite(Pc)) and np.all(np.isfinite(Z)):
            why = (f"{a} holds NaN or inf: np.exp({z}) overflows for large scores. Subtract each "
                   f"{note.image_axis}'s maximum first (it does not change the softmax)")
        elif abs(float(Pc.sum()) - 1) < 1e-6:
            why = (f"{a}: each {note.image_axis} should sum to 1 (one image = one "
                   f"{note.image_axis}), but all of {a} together sums to 1: your softmax divides "
                   f"by the sum over all elements. Use np.sum(e, axis={ax}, keepdims=True)")
            evidence["sums_to_one"] = "all elements"
        elif rel_error(Pc, E / E.sum(axis=1, keepdims=True)) <= 1e-6 or np.allclose(
                Pc.sum(axis=1), 1, atol=1e-6):
            why = (f"{a}: each {note.image_axis} should sum to 1 (one image = one "
                   f"{note.image_axis}), but your softmax sums over axis={other}, across the "
                   f"images of the batch. Use np.sum(e, axis={ax}, keepdims=True)")
            evidence["sums_to_one"] = f"axis={other}"
        elif rel_error(Pc, np.exp(Z)) <= 1e-6:
            why = f"{a} is np.exp({z}) without dividing by its sum over the classes"
        elif rel_error(Pc, _sigmoid(Z)) <= 1e-6:
            why = (f"{a} is sigmoid({z}): with 10 classes the output is a softmax, whose "
                   f"{note.image_axis}s sum to 1")
        elif rel_error(Pc, Z) <= 1e-9:
            why = f"{a} is {z} itself: the output layer needs a softmax"
        else:
            sums = Pc.sum(axis=0)
            why = (f"{a} is not softmax({z}): its {note.image_axis}s sum to "
                   f"{float(np.min(sums)):.3g}..{float(np.max(sums)):.3g} instead of 1 "
                   f"(relative error {err:.2g})")
    return Finding("bad_softmax", f"{why}: {fix}. {_one_image(note)}", evidence)


# --- gradients ----------------------------------------------------------------------------------
ToTheirs = Callable[[np.ndarray, np.ndarray, int, bool], np.ndarray]


@dataclass
class TrueGradients:
    """The gradients of J on the learner's weights, by the formulas above (their layout of
    each array is applied when comparing)."""

    dW: list[np.ndarray]
    db: list[np.ndarray]
    #: the pieces the mistakes are built from: dA[l] = W[l+1].T @ dZ[l+1] (before g'), dZ[l]
    dA: list[np.ndarray | None]
    dZ: list[np.ndarray]


def true_gradients(fc: ForwardCheck, Ws: list[np.ndarray], y: np.ndarray) -> TrueGradients:
    """Backward pass of softmax + cross-entropy through the learner's (checked) forward values."""
    L, m = len(Ws), len(y)
    dW: list[Any] = [None] * L
    db: list[Any] = [None] * L
    dA: list[Any] = [None] * L
    dZs: list[Any] = [None] * L
    dZ = (fc.A[L] - one_hot(y, fc.A[L].shape[0])) / m          # dZ[L], with the 1/m
    for l in range(L, 0, -1):
        dZs[l - 1] = dZ
        dW[l - 1] = dZ @ fc.A[l - 1].T
        db[l - 1] = dZ.sum(axis=1, keepdims=True)
        if l > 1:
            dA[l - 2] = Ws[l - 1].T @ dZ
            dZ = dA[l - 2] * ACTIVATIONS[fc.activations[l - 2]][1](fc.Z[l - 2])
    return TrueGradients(dW=dW, db=db, dA=dA, dZ=dZs)


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
    "sigmoid": (lambda z: _sigmoid(z) * (1 - _sigmoid(z)), "the sigmoid's derivative"),
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


# --- numerical check -----------------------------------------------------------------------------
def numerical_gradient(f: Callable[[], float], arr: np.ndarray, idx: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(w + eps) - f(w - eps)) / 2 eps at the flat entries ``idx``."""
    flat = arr.reshape(-1)
    out = np.empty(len(idx))
    for j, i in enumerate(idx):  # a check on a few entries, not a hot path
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        out[j] = (up - down) / (2 * eps)
    return out


# --- cost ---------------------------------------------------------------------------------------
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


# --- initial weights and the update ---------------------------------------------------------------
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
