"""``diagnose``: train a copy of a digitnet network briefly, measure it, and apply the rules."""

from __future__ import annotations

import copy
import math

import numpy as np

from ..errors import SpecError
from ..nn.network import Network
from ..nn.probe import measure
from ..nn.sizes import check_batch
from ..optim import default_lr, make_optimizer
from .checks import check_inputs, check_probabilities
from .findings import Diagnosis, Thresholds, ordered
from .rules import Observations, run_rules

#: probe images used for the measurements
PROBE_SIZE = 512


def diagnose(net: Network, x: np.ndarray, y: np.ndarray, *, x_val: np.ndarray | None = None,
             y_val: np.ndarray | None = None, steps: int = 300, batch_size: int = 128,
             optimizer: str = "momentum", lr: float | None = None, weight_decay: float = 0.0,
             seed: int = 0, thresholds: Thresholds | None = None) -> Diagnosis:
    """Diagnose why ``net`` does (not) learn on images ``x`` (N, 784) with labels ``y`` (N,).

    A copy of ``net`` is trained for ``steps`` minibatches of ``batch_size`` with ``optimizer``
    at a constant ``lr`` (default: the optimizer's default of `digitnet train`); ``steps=0``
    inspects the network as it is. Returns a Diagnosis; ``diagnosis.findings`` is empty for a
    healthy network.
    """
    th = thresholds or Thresholds()
    if steps < 0 or batch_size < 1:
        raise SpecError(f"steps must be >= 0 and batch size >= 1, got {steps}, {batch_size}")
    if steps:
        check_batch(net, batch_size, "batch_size")
    lr = default_lr(optimizer, lr)
    x_raw = np.asarray(x)
    findings = check_inputs(x_raw, y, net.n_classes, th, n_inputs=net.n_inputs)
    if x_val is not None and y_val is not None:
        findings += [f for f in check_inputs(np.asarray(x_val), y_val, net.n_classes, th,
                                             n_inputs=net.n_inputs)
                     if f.id not in {g.id for g in findings}]
    if any(f.id == "bad_labels" for f in findings):  # the loss cannot even be computed
        return Diagnosis(findings=ordered(findings))

    net = copy.deepcopy(net)
    x = net.check_input(x_raw)
    y = np.asarray(y).astype(np.int64)
    if x_val is not None and y_val is not None and len(x_val):
        xp = net.check_input(x_val)[:PROBE_SIZE]
        yp = np.asarray(y_val).astype(np.int64)[:PROBE_SIZE]
    else:
        xp, yp = x[:PROBE_SIZE], y[:PROBE_SIZE]

    with np.errstate(all="ignore"):  # huge or NaN values are what we are looking for
        findings += check_probabilities(net, xp, th)
        before = measure(net, xp, yp)
        losses: list[float] = []
        diverged_at = None
        if steps:
            losses, diverged_at = _brief_training(net, x, y, steps, batch_size, optimizer, lr,
                                                  weight_decay, seed)
        after = before if diverged_at is not None or not steps else measure(net, xp, yp)

    names = net.meta.get("class_names") or [str(c) for c in range(net.n_classes)]
    o = Observations(before=before, after=after, probe_labels=yp, n_classes=net.n_classes,
                     class_names=names, optimizer=optimizer, lr=lr, steps=steps, losses=losses,
                     diverged_at=diverged_at, history=net.meta.get("history"), th=th)
    run = f"{optimizer} lr {lr:g}, batch {batch_size}"
    n = len(xp)
    if not steps:
        measured = "on the network as it is"
        summary = (f"inspected without training: loss {before['loss']:.4g}, accuracy "
                   f"{before['accuracy']:.3f} on {n} probe images")
    elif o.diverged:
        # what the weights look like after blowing up is a symptom, not a cause
        o.after = after = before
        measured = "before training (training diverged)"
        summary = (f"{run}: the loss became {losses[-1]} at step {diverged_at + 1} of {steps}"
                   if diverged_at is not None else
                   f"{run}: probe loss {before['loss']:.4g} before training; the minibatch loss "
                   f"reached {max(losses):.4g}")
    else:
        measured = f"after {steps} training steps"
        summary = (f"{run}: probe loss {before['loss']:.4g} before, {after['loss']:.4g} after "
                   f"{steps} steps; probe accuracy {after['accuracy']:.3f} on {n} images")
    return Diagnosis(findings=run_rules(o, findings), activations=after["activations"],
                     gradients=after["gradients"], losses=losses, summary=summary,
                     measured=measured)


def _brief_training(net: Network, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int,
                    optimizer: str, lr: float, weight_decay: float,
                    seed: int) -> tuple[list[float], int | None]:
    """Train ``net`` in place; returns (loss per step, the step whose loss was NaN/inf or None)."""
    opt = make_optimizer(optimizer, net, lr, weight_decay)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    for step in range(steps):
        idx = rng.integers(0, len(x), batch_size)
        loss, _ = net.train_step(x[idx], y[idx])
        losses.append(float(loss))
        if not math.isfinite(loss):
            return losses, step
        opt.step()
    return losses, None
