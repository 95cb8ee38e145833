"""A brief training of the learner's network with their own functions (their update, or plain
gradient descent), measured before and after like a digitnet network, and read by the doctor's
rules with advice written in the notebooks' notation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import SpecError
from ...nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from ...nn.layers import Dense, Layer
from ...nn.network import Network
from ...nn.probe import measure
from ..findings import Advice
from ..rules import Observations
from .binding import LearnerCodeError
from .formulas import cross_entropy

if TYPE_CHECKING:
    from .checker import Checker
    from .forward import ForwardCheck

#: findings that make the brief training say nothing about the network itself: its measurements
#: would show symptoms of the bug, and the advice they give (a lower learning rate, ...) mislead
CODE_BUGS = {"code_error", "wrong_init", "wrong_forward", "bad_softmax", "wrong_gradient",
             "wrong_update"}


def train(c: Checker, params: dict[str, Any], fc: ForwardCheck) -> Observations | None:
    """Train a copy of ``params`` with their functions for ``c.steps`` minibatches; fill in the
    summary, the cost after training and the per-layer table. Returns what the rules read, or
    None when there is nothing sound to read (the code has bugs of CODE_BUGS, or it could not be
    measured)."""
    d, lay = c.d, c.layout
    rng = np.random.default_rng(c.seed)
    p = {k: v.copy() for k, v in params.items()}
    acts = fc.activations if fc.ok else [c.guess_activation()] * (lay.arch.L - 1)
    before, why_not = _measure(c, p, acts)
    losses: list[float] = []
    diverged_at, stopped = None, ""
    update = c.net.names.get("update")
    for step in range(c.steps):
        idx = rng.integers(0, len(c.y), c.batch)
        X, Y = lay.X(c.x[idx]), lay.Y(c.y[idx])
        try:
            fwd = c.forward(p, X)
            out = lay.output(fwd)
            loss = cross_entropy(out, c.y[idx]) if out is not None and out.shape == (
                lay.arch.sizes[-1], len(idx)) else math.nan
            losses.append(loss)
            if not math.isfinite(loss):
                diverged_at = step
                break
            p = c.apply_update(p, c.backward(p, fwd, X, Y))
        except LearnerCodeError as e:
            stopped = f"training stopped at step {step + 1}: {e}"
            break
    d.losses = losses
    how = f"your {update}()" if update else "plain gradient descent (W -= alpha * dW)"
    run = f"trained {c.steps} steps of {how}, {c.lr_name} {c.lr:g}, batch {c.batch}"
    if before is None:
        d.summary = f"{run} (not measured: {why_not})"
        return None
    changed = [f"{k} {np.shape(v)} -> {np.shape(p[k])}" for k, v in params.items()
               if k in p and np.shape(p[k]) != np.shape(v)]
    after = None
    if stopped:
        d.summary = f"{run}; {stopped}"
    elif diverged_at is not None:
        d.summary = f"{run}: the loss became {losses[-1]} at step {diverged_at + 1}"
    elif changed:
        d.summary = (f"{run}: the weights changed shape ({', '.join(changed)}), so they were not "
                     "measured after training")
        for f in c.findings:
            if f.id == "wrong_gradient":
                f.evidence["shapes_after_training"] = changed
    else:
        after, _ = _measure(c, p, acts)
    if after is not None:
        d.summary = (f"{run}: probe loss {before['loss']:.4g} before, {after['loss']:.4g} after; "
                     f"probe accuracy {after['accuracy']:.3f} on {len(c.yp)} images")
        d.cost.update(after=after["loss"], probe=len(c.yp), steps=len(losses))
    blocking = sorted({f.id for f in c.findings} & CODE_BUGS)
    if not fc.ok or blocking:
        d.summary += (" (the per-layer measurements are not read into findings until the "
                      f"{', '.join(blocking) or 'forward'} findings are fixed)")
        return None
    advice = learner_advice(c)
    o = Observations(before=before, after=after if after is not None else before,
                     probe_labels=c.yp, n_classes=10, class_names=[str(i) for i in range(10)],
                     optimizer=f"{update}()" if update else "gradient descent", lr=c.lr,
                     steps=len(losses) or c.steps, losses=losses, diverged_at=diverged_at,
                     th=c.th, advice=advice)
    shown = before if o.diverged else o.after
    d.measured = f"after {len(losses)} training steps with your functions"
    d.activations = [{**a, "layer": advice.name(a["layer"])} for a in shown["activations"]]
    d.gradients = [{**g, "param": advice.name(g["param"])} for g in shown["gradients"]]
    return o


def _measure(c: Checker, p: dict[str, Any], acts: list[str]
             ) -> tuple[dict[str, Any] | None, str]:
    """``nn.probe.measure`` of their network on the probe images; (None, why) if it cannot be
    built (weights of shapes that do not chain)."""
    try:
        net = to_network(c.layout.weights(p), acts)
    except (SpecError, ValueError, KeyError) as e:
        return None, str(e)
    with np.errstate(all="ignore"):
        return measure(net, c.xp.astype(np.float64) * c.layout.scale, c.yp), ""


def to_network(weights: tuple[list[np.ndarray], list[np.ndarray]], acts: list[str]) -> Network:
    """digitnet's Network with the learner's weights: column-layout W[l] (n_out, n_in) and b[l]
    (n_out, 1) become Dense weights W.T (n_in, n_out) and b as a vector."""
    Ws, bs = weights
    layers: list[Layer] = []
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        dense = Dense(W.shape[1], W.shape[0], dtype=np.float64)
        dense.params["W"][...] = W.T
        dense.params["b"][...] = b.reshape(-1)
        layers.append(dense)
        if l < len(Ws) - 1:
            layers.append(layer_class(acts[l] if l < len(acts) else "ReLU")())
    return Network(layers, seed=None, dtype=np.float64)


def layer_class(act: str) -> type[Layer]:
    """digitnet's layer for an activation as the checks name it ("ReLU", "tanh", ...)."""
    return {"ReLU": ReLU, "leaky ReLU": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}[act]


def learner_advice(c: Checker) -> Advice:
    """The doctor's fixes in the learner's notation: their weight names, their layer numbers,
    their learning-rate argument, NumPy instead of digitnet's options."""
    a, note = c.layout.arch, c.note
    acts = getattr(getattr(c, "fc", None), "activations", None) or ["ReLU"] * (a.L - 1)
    he = acts[0] in ("ReLU", "leaky ReLU") if acts else True
    names: dict[str, str] = {}
    for l in range(1, a.L + 1):
        names[f"{2 * (l - 1)}.W"] = a.W[l - 1]
        if l <= len(acts):
            names[f"{2 * l - 1} {layer_class(acts[l - 1]).__name__}"] = note.A(l)
    k = 2 if he else 1
    return Advice(
        init_fix=(f"start each weight matrix at {'He' if he else 'Xavier'} scale, "
                  f"np.random.randn(n, n_prev) * np.sqrt({k} / n_prev) with n_prev the number of "
                  f"inputs of the layer (e.g. {a.W[0]} = np.random.randn({a.sizes[1]}, 784) * "
                  f"np.sqrt({k} / 784)), not * 0.01"),
        scale_fix="divide the pixels by 255 where you load them (X = X / 255.)",
        leaky_fix="a leaky ReLU, np.where(Z > 0, Z, 0.01 * Z), with derivative "
                  "np.where(Z > 0, 1, 0.01)",
        small_gradient_fix=("Start the weights at He scale (np.random.randn(n, n_prev) * "
                            "np.sqrt(2 / n_prev)); sigmoid and tanh saturate in deep networks: "
                            "prefer ReLU."),
        lr_option=f"{c.lr_name} = {{lr:g}}", names=names)
