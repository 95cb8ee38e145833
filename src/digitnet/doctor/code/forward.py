"""A learner's forward pass against the formulas: the first Z or A that differs is named, with the
mistake that reproduces it (a bias left out, Z2 computed from Z1, a softmax over the wrong axis or
over every element, exp overflowing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..findings import Finding
from .formulas import ACTIVATIONS, rel_error, sigmoid, softmax
from .layout import Notation


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
        elif rel_error(Pc, sigmoid(Z)) <= 1e-6:
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


