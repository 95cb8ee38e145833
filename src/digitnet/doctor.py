"""The doctor: why is my network not learning? Numbers measured on the network, explained in plain
words, each with the fix to try.

    diagnosis = diagnose(net, x, y)       # trains a copy briefly (net itself is not changed)
    print(diagnosis)                      # loss, a per-layer table, then the findings
    diagnosis.as_dict()                   # {"findings": [{"id", "message", "evidence"}, ...]}

What it does, in order:

1. checks the arrays it is given: pixels in [0, 1]; labels are class numbers 0..C-1;
2. checks the probabilities the network outputs: each row (one image) sums to 1 over the classes;
3. trains a copy for ``steps`` minibatch steps (random batches, constant learning rate), recording
   the loss (``steps=0`` inspects the network as it is, e.g. one loaded from a model file, and
   reads its training history instead);
4. on a fixed probe batch (``x_val`` if given, else the first images of ``x``) runs forward and
   backward once and measures, layer by layer: the RMS of each hidden activation relative to the
   RMS of the input, the share of dead ReLU units, and ``||dW|| / ||W||`` of every weight array.
   This happens after the brief training, or before it when training diverged (the weights after
   a NaN say nothing);
5. turns every number past a threshold (``Thresholds``, all in one place below) into a Finding.

A healthy network (e.g. ``build_network("mlp")`` on the sample) gives no findings.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from typing import Any

import numpy as np

from .errors import SpecError
from .nn.activations import ACTIVATIONS, ReLU
from .nn.layers import Layer
from .nn.network import Network
from .optim import make_optimizer
from .train import DEFAULT_LR

#: Every finding the doctor can report, in the order it reports them (causes before symptoms).
FINDINGS: dict[str, str] = {
    "unscaled_input": "input pixels outside [0, 1]: the images were not divided by 255",
    "bad_labels": "labels that are not class numbers 0..C-1 (one-hot rows, 1..10, fractions)",
    "bad_softmax": "the probabilities of one image do not sum to 1 (softmax over the wrong axis)",
    "diverging": "the loss became NaN/infinite or jumped far above its start: learning rate too "
                 "high",
    "not_learning": "the loss did not go down during the brief training",
    "collapsed_predictions": "(nearly) every image gets the same class",
    "vanishing_activations": "hidden activations shrink towards 0 layer by layer (init too small)",
    "exploding_activations": "hidden activations grow layer by layer (init too large)",
    "dead_relu": "most units of a ReLU layer output 0 for every image",
    "vanishing_gradients": "weight gradients far too small to move the weights",
    "exploding_gradients": "weight gradients larger than the weights themselves",
}


@dataclass(frozen=True)
class Thresholds:
    """Where a measurement becomes a finding. RMS = root mean square, over a probe batch."""

    #: pixels may stray this far outside [0, 1] (rounding) before ``unscaled_input``
    input_tolerance: float = 0.01
    #: a row of probabilities may differ this much from 1 before ``bad_softmax``
    probability_tolerance: float = 1e-3
    #: RMS of a hidden activation / RMS of the input below this: ``vanishing_activations``
    #: (He init keeps it near 1 at any depth; randn * 0.01 divides it by ~10 per layer)
    vanishing_activation_ratio: float = 1e-2
    #: ... above this: ``exploding_activations``
    exploding_activation_ratio: float = 1e2
    #: more than this share of a ReLU layer's units 0 for every probe image: ``dead_relu``
    dead_relu_share: float = 0.5
    #: ||dW|| / ||W|| below this for some weight array: ``vanishing_gradients`` ...
    vanishing_gradient_ratio: float = 1e-5
    #: ... but only while the probe loss is above this (a network that fits has small gradients)
    vanishing_gradient_min_loss: float = 0.5
    #: ||dW|| / ||W|| above this: ``exploding_gradients``
    exploding_gradient_ratio: float = 1.0
    #: one class gets at least this share of the probe predictions ...
    collapse_share: float = 0.9
    #: ... while it has at most this share of the probe labels: ``collapsed_predictions``
    collapse_label_share: float = 0.6
    #: a minibatch loss above this many times the loss before training (or than guessing,
    #: ln C, if that is larger): ``diverging``
    diverging_factor: float = 10.0
    #: probe loss after training above this share of the loss before it ...
    not_learning_ratio: float = 0.9
    #: ... and above this (a network that has learned already cannot improve much):
    #: ``not_learning``
    not_learning_min_loss: float = 0.5


#: probe images used for the measurements
PROBE_SIZE = 512
#: activation layers whose outputs are measured (ReLU, LeakyReLU, Sigmoid, Tanh)
ACTIVATION_TYPES: tuple[type[Layer], ...] = tuple(ACTIVATIONS.values())


@dataclass
class Finding:
    """One diagnosis: ``id`` from FINDINGS, a plain-words ``message`` with the fix to try, and the
    numbers behind it in ``evidence``."""

    id: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: floats rounded to 4 significant digits, NaN/inf as strings."""
        return _jsonable(asdict(self))


@dataclass
class Diagnosis:
    """The doctor's result: findings, plus what was measured (for the table)."""

    findings: list[Finding]
    #: per hidden activation layer: layer, rms, ratio (to the input's RMS), dead_share (ReLU)
    activations: list[dict[str, Any]] = field(default_factory=list)
    #: per weight array: param, layer, norm (||dW||), ratio (||dW|| / ||W||)
    gradients: list[dict[str, Any]] = field(default_factory=list)
    #: minibatch loss of every step of the brief training
    losses: list[float] = field(default_factory=list)
    #: what was done, in words: the loss before and after, or where training diverged
    summary: str = ""
    #: when the per-layer numbers were measured, in words
    measured: str = ""

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.findings]

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        """``{"findings": [{"id": ..., "message": ..., "evidence": {...}}, ...]}``"""
        return {"findings": [f.as_dict() for f in self.findings]}

    def __str__(self) -> str:
        lines = [self.summary] if self.summary else []
        if self.activations or self.gradients:
            lines.append(f"per layer, measured {self.measured}:")
            lines.append(f"  {'layer':<16}{'RMS/input':>10}{'dead':>7}   {'weights':<9}"
                         f"{'||dW||/||W||':>13}")
            for a, g in zip_longest(self.activations, self.gradients):
                dead = f"{a['dead_share']:.0%}" if a and "dead_share" in a else ""
                left = f"{a['layer']:<16}{a['ratio']:>10.3g}{dead:>7}" if a else " " * 33
                right = f"   {g['param']:<9}{g['ratio']:>13.3g}" if g else ""
                lines.append("  " + left + right)
        if not self.findings:
            lines.append("no findings: the network looks healthy.")
        else:
            lines.append(f"{len(self.findings)} finding{'s' * (len(self.findings) > 1)}:")
            for f in self.findings:
                lines.append(f"- {f.id}: {f.message}")
                lines.append("    evidence: " + ", ".join(f"{k}={_short(v)}"
                                                          for k, v in f.evidence.items()))
        return "\n".join(lines)


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
    lr = DEFAULT_LR.get(optimizer, 1e-3) if lr is None else lr
    x_raw = np.asarray(x)
    findings = check_inputs(x_raw, y, net.n_classes, th)
    if x_val is not None and y_val is not None:
        findings += [f for f in check_inputs(np.asarray(x_val), y_val, net.n_classes, th)
                     if f.id not in {g.id for g in findings}]
    if any(f.id == "bad_labels" for f in findings):  # the loss cannot even be computed
        return Diagnosis(findings=_ordered(findings))

    net = copy.deepcopy(net)
    x = net._check_input(x_raw)
    y = np.asarray(y).astype(np.int64)
    if x_val is not None and y_val is not None and len(x_val):
        xp = net._check_input(x_val)[:PROBE_SIZE]
        yp = np.asarray(y_val).astype(np.int64)[:PROBE_SIZE]
    else:
        xp, yp = x[:PROBE_SIZE], y[:PROBE_SIZE]

    with np.errstate(all="ignore"):  # huge or NaN values are what we are looking for
        findings += check_probabilities(net, xp, th)
        before = measure(net, xp, yp)
        diagnosis = Diagnosis(findings=[])
        diverged_at = None
        if steps:
            diagnosis.losses, diverged_at = _brief_training(net, x, y, steps, batch_size,
                                                            optimizer, lr, weight_decay, seed)
        after = before if diverged_at is not None or not steps else measure(net, xp, yp)

    n = len(xp)
    run = f"{optimizer} lr {lr:g}, batch {batch_size}"
    if not steps:
        findings += _history_findings(net.meta.get("history"), net.n_classes, th)
        diagnosis.measured = "on the network as it is"
        diagnosis.summary = (f"inspected without training: loss {before['loss']:.4g}, accuracy "
                             f"{before['accuracy']:.3f} on {n} probe images")
    else:
        findings += _diverging(diagnosis.losses, diverged_at, before["loss"], optimizer, lr,
                               net.n_classes, th)
        diagnosis.measured = f"after {steps} training steps"
        diagnosis.summary = (f"{run}: probe loss {before['loss']:.4g} before, "
                             f"{after['loss']:.4g} after {steps} steps; probe accuracy "
                             f"{after['accuracy']:.3f} on {n} images")
    diverging = bool(steps) and any(f.id == "diverging" for f in findings)
    if diverging:
        # what the weights look like after blowing up is a symptom, not a cause
        after = before
        diagnosis.measured = "before training (training diverged)"
        if diverged_at is not None:
            diagnosis.summary = (f"{run}: the loss became {diagnosis.losses[-1]} at step "
                                 f"{diverged_at + 1} of {steps}")
    if not diverging:
        findings += _collapse_findings(after["predicted"], yp, net, th)
    findings += _layer_findings(after, net, lr, th)
    if steps and not diverging:
        findings += _not_learning(before["loss"], after["loss"], steps, optimizer, lr,
                                  net.n_classes, explained=bool(findings), th=th)
    diagnosis.findings = _ordered(findings)
    diagnosis.activations, diagnosis.gradients = after["activations"], after["gradients"]
    return diagnosis


# --- measurements ---------------------------------------------------------------------------------
def forward_trace(net: Network, X: np.ndarray) -> list[tuple[int, Layer, np.ndarray]]:
    """Run ``X`` through the layers (evaluation mode) and return (index, layer, output) for each.

    Each layer keeps what its backward needs, so ``net.backward`` may follow.
    """
    A = net._check_input(X)
    out = []
    for i, layer in enumerate(net.layers):
        A = layer.forward(A, training=False)
        out.append((i, layer, A))
    return out


def measure(net: Network, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """One forward and backward pass on a probe batch; the numbers the doctor reads.

    Returns a dict: ``loss``, ``accuracy``, ``predicted`` (N,), ``input_rms``, ``activations``
    (per activation layer: layer, rms, ratio to the input RMS, dead_share for ReLU) and
    ``gradients`` (per weight array W: param, layer, norm of dW, ratio ||dW|| / ||W||).
    """
    X = net._check_input(X)
    input_rms = _rms(X) or 1.0
    trace = forward_trace(net, X)
    activations = []
    for i, layer, A in trace[:-1]:
        if not isinstance(layer, ACTIVATION_TYPES):
            continue
        rms = _rms(A)
        entry: dict[str, Any] = {"layer": f"{i} {type(layer).__name__}", "rms": rms,
                                 "ratio": rms / input_rms}
        if isinstance(layer, ReLU):  # a unit (or conv channel) that is 0 for every image
            entry["dead_share"] = float(np.mean(np.all(A <= 0, axis=tuple(range(A.ndim - 1)))))
            entry["units"] = int(A.shape[-1])
        activations.append(entry)
    Z = trace[-1][2]
    predicted = net.loss.labels(Z)
    loss = float(net.loss.forward(Z, y))
    net.backward(net.loss.backward())
    gradients = []
    for i, layer in enumerate(net.layers):
        if "W" in layer.params:
            W, dW = layer.params["W"], layer.grads["W"]
            norm = float(np.linalg.norm(dW.astype(np.float64)))
            gradients.append({"param": f"{i}.W", "layer": f"{i} {type(layer).__name__}",
                              "norm": norm,
                              "ratio": norm / (float(np.linalg.norm(W.astype(np.float64)))
                                               or 1.0)})
    return {"loss": loss, "accuracy": float(np.mean(predicted == y)), "predicted": predicted,
            "input_rms": input_rms, "activations": activations, "gradients": gradients}


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


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


# --- checks ---------------------------------------------------------------------------------------
def check_inputs(x: np.ndarray, y: Any, n_classes: int,
                 th: Thresholds | None = None) -> list[Finding]:
    """``unscaled_input`` when pixels leave [0, 1]; ``bad_labels`` when labels are not 0..C-1."""
    th = th or Thresholds()
    findings = []
    x = np.asarray(x)
    if x.size and np.issubdtype(x.dtype, np.number):
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if lo < -th.input_tolerance or hi > 1 + th.input_tolerance:
            if lo >= 0 and hi > 1.5:
                how = ("they look like raw 0..255 values: divide the images by 255 "
                       "(x = x / 255.0) before training (digitnet's load_dataset does this)")
            else:
                how = ("scale them to [0, 1] the way digitnet's load_dataset does: raw 0..255 "
                       "pixels divided by 255, not standardized to mean 0")
            findings.append(Finding("unscaled_input", (
                f"The input pixels run from {lo:.4g} to {hi:.4g}, but the network expects values "
                f"in [0, 1]: {how}. Large inputs make the first layer's outputs and gradients "
                "huge, so training jumps around or diverges."),
                {"min": lo, "max": hi, "mean": float(np.nanmean(x)), "dtype": x.dtype.name}))
    y = np.asarray(y)
    evidence: dict[str, Any] = {"shape": list(y.shape), "dtype": y.dtype.name,
                                "n_classes": n_classes}
    problem = None
    if y.ndim == 2 and y.shape[1] == n_classes:
        problem = (f"The labels are rows of {n_classes} values (one-hot, shape {y.shape}); "
                   "digitnet takes one class number per image: use y.argmax(axis=1).")
    elif y.ndim != 1:
        problem = (f"The labels have shape {y.shape}; digitnet takes one class number per "
                   "image, shape (N,): use y.reshape(-1) if it is (N, 1).")
    elif len(y) != len(x):
        problem = f"There are {len(x)} images but {len(y)} labels: pass one label per image."
    elif len(y) and not np.issubdtype(y.dtype, np.number):
        problem = f"The labels are {y.dtype.name} values; digitnet takes class numbers 0..9."
    elif len(y):
        lo, hi = float(y.min()), float(y.max())
        evidence.update(min=lo, max=hi)
        if not np.all(np.mod(y, 1) == 0):
            problem = ("The labels are not whole numbers (e.g. probabilities); digitnet takes "
                       f"class numbers 0..{n_classes - 1}: convert them with y.astype(int).")
        elif lo == 1 and hi == n_classes:
            problem = (f"The labels run 1..{n_classes} (one-based, as in MATLAB); digitnet takes "
                       f"0..{n_classes - 1}: subtract 1 (y - 1).")
        elif lo < 0 or hi > n_classes - 1:
            problem = (f"The labels run {lo:g}..{hi:g} but this network tells {n_classes} classes "
                       f"apart, numbered 0..{n_classes - 1}: fix the labels, or give the last "
                       f"layer as many outputs as there are classes.")
    if problem:
        findings.append(Finding("bad_labels", problem + " (The doctor did not train: the loss "
                                "cannot be computed with these labels.)", evidence))
    return findings


def check_probabilities(net: Network, X: np.ndarray, th: Thresholds | None = None) -> list[Finding]:
    """``bad_softmax`` when a row of the probabilities (one image) does not sum to 1 or holds
    values outside [0, 1]; says so when the columns (axis=0, the batch) sum to 1 instead."""
    th = th or Thresholds()
    # the whole probe batch at once (predict_proba works in chunks): P is (N, classes)
    P = np.asarray(net.loss.probabilities(net.forward(net._check_input(X))), dtype=np.float64)
    rows = P.sum(axis=1)
    bad_rows = ~np.isfinite(rows) | (np.abs(rows - 1) > th.probability_tolerance)
    out_of_range = bool(np.any(P < -th.probability_tolerance)
                        | np.any(P > 1 + th.probability_tolerance))
    if not (np.any(bad_rows) or out_of_range):
        return []
    cols = P.sum(axis=0)
    over_batch = bool(np.all(np.abs(cols - 1) <= th.probability_tolerance))
    message = (f"The probabilities the network gives one image should sum to 1 over its "
               f"{P.shape[1]} classes, but the rows of predict_proba (axis=1) sum to "
               f"{np.nanmin(rows):.3g}..{np.nanmax(rows):.3g}")
    if over_batch:
        message += (". Its columns (axis=0, over the batch of images) sum to 1 instead: the "
                    "softmax normalizes over the wrong axis. For scores Z of shape (N, classes) "
                    "use E = exp(Z - Z.max(axis=1, keepdims=True)); P = E / E.sum(axis=1, "
                    "keepdims=True).")
    else:
        message += (". Check the loss's probabilities(): exponentiate the scores (minus their "
                    "row maximum) and divide each row by its sum (axis=1).")
    return [Finding("bad_softmax", message, {
        "row_sum_min": float(np.nanmin(rows)), "row_sum_max": float(np.nanmax(rows)),
        "column_sum_min": float(np.nanmin(cols)), "column_sum_max": float(np.nanmax(cols)),
        "rows_wrong": int(np.sum(bad_rows)), "rows": len(rows), "min": float(np.nanmin(P)),
        "max": float(np.nanmax(P))})]



def _diverging(losses: list[float], diverged_at: int | None, before: float, optimizer: str,
               lr: float, n_classes: int, th: Thresholds) -> list[Finding]:
    """``diverging``: a NaN/inf loss, or a minibatch loss far above where training started."""
    lower = f"lower the learning rate about tenfold (--lr {lr / 10:g})"
    evidence: dict[str, Any] = {"optimizer": optimizer, "lr": lr, "probe_loss_before": before}
    if diverged_at is not None:
        evidence.update(step=diverged_at + 1, loss=losses[-1], first_losses=losses[:5])
        return [Finding("diverging", (
            f"Training diverged: the minibatch loss became {losses[-1]} at step {diverged_at + 1}"
            f" with {optimizer} at learning rate {lr:g}. The steps are so large that the weights "
            f"overshoot and blow up: {lower}."), evidence)]
    peak = max(losses, default=before)
    reference = max(before, math.log(n_classes))  # a trained network starts near 0
    if not (math.isfinite(before) and peak > th.diverging_factor * reference):
        return []
    step = int(np.argmax(losses)) + 1
    evidence.update(max_loss=peak, step=step, last_loss=losses[-1])
    return [Finding("diverging", (
        f"The minibatch loss jumped to {peak:.4g} (step {step}), {peak / before:.3g} times its "
        f"value before training ({before:.4g}), with {optimizer} at learning rate {lr:g}: the "
        f"steps overshoot. {lower.capitalize()}."), evidence)]


def _not_learning(before: float, after: float, steps: int, optimizer: str, lr: float,
                  n_classes: int, explained: bool, th: Thresholds) -> list[Finding]:
    """``not_learning``: the probe loss hardly went down (and is not low already)."""
    if not (after > th.not_learning_ratio * before and after > th.not_learning_min_loss):
        return []
    why = ("The other findings say why: fix those first." if explained else
           f"Nothing else looks wrong, so the learning rate {lr:g} may be too small for "
           f"{optimizer}: try it ten times larger (--lr {lr * 10:g}), or --optimizer adam.")
    return [Finding("not_learning", (
        f"The loss did not go down: {before:.4f} before and {after:.4f} after {steps} steps "
        f"(guessing gives ln {n_classes} = {math.log(n_classes):.3f}). {why}"),
        {"optimizer": optimizer, "lr": lr, "steps": steps, "probe_loss_before": before,
         "probe_loss_after": after, "chance_loss": math.log(n_classes)})]


def _history_findings(history: dict[str, Any] | None, n_classes: int,
                      th: Thresholds) -> list[Finding]:
    """For a network as loaded from a model file: what its saved training history says."""
    if not history:
        return []
    loss = history.get("loss") or []
    if history.get("stop_reason") == "diverged":
        return [Finding("diverging", (
            "Its training diverged (the saved history ends with stop_reason 'diverged'): the "
            "loss became NaN or infinite. Train again with a learning rate about ten times "
            "lower."), {"stop_reason": "diverged", "epoch_losses": loss})]
    if len(loss) >= 2 and loss[-1] > th.not_learning_ratio * loss[0] \
            and loss[-1] > th.not_learning_min_loss:
        return [Finding("not_learning", (
            f"In its training the loss did not go down: {loss[0]:.4f} in the first epoch, "
            f"{loss[-1]:.4f} in the last (guessing gives {math.log(n_classes):.3f}). See the "
            "other findings for the cause; otherwise try a larger learning rate."),
            {"epoch_losses": loss})]
    return []


def _collapse_findings(predicted: np.ndarray, y: np.ndarray, net: Network,
                       th: Thresholds) -> list[Finding]:
    if not len(predicted):
        return []
    counts = np.bincount(predicted, minlength=net.n_classes)
    top = int(np.argmax(counts))
    share = counts[top] / len(predicted)
    label_share = float(np.mean(y == top))
    if share < th.collapse_share or label_share > th.collapse_label_share:
        return []
    names = net.meta.get("class_names") or [str(c) for c in range(net.n_classes)]
    return [Finding("collapsed_predictions", (
        f"The network predicts class {names[top]} for {share:.0%} of the {len(predicted)} probe "
        f"images, though only {label_share:.0%} of them are {names[top]}: it gives every image "
        "(nearly) the same scores, so the input does not get through the layers. In a deep "
        "network this comes from weights that start too small (randn * 0.01): use He "
        "initialization (--init he) for ReLU, Glorot for sigmoid/tanh; see the other findings."),
        {"class": names[top], "predicted_share": float(share), "label_share": label_share,
         "predicted_counts": counts.tolist()})]


def _layer_findings(m: dict[str, Any], net: Network, lr: float,
                    th: Thresholds) -> list[Finding]:
    findings = []
    acts = m["activations"]
    ratios = [a["ratio"] for a in acts]
    rms_by_layer = {a["layer"]: a["ratio"] for a in acts}
    # a layer that is small because its units are dead is reported as dead_relu instead
    first_vanishing = next((i for i, a in enumerate(acts)
                            if a["ratio"] < th.vanishing_activation_ratio
                            and not a.get("dead_share", 0) > th.dead_relu_share), None)
    if first_vanishing is not None:
        a = acts[first_vanishing]
        findings.append(Finding("vanishing_activations", (
            f"The hidden activations shrink layer by layer: their RMS is {ratios[0]:.2g} of the "
            f"input's after the first activation layer and {a['ratio']:.1e} after layer "
            f"{a['layer']} (below {th.vanishing_activation_ratio:g}). The later layers get almost "
            "no signal, so every image gets the same scores and the gradients vanish too. The "
            "weights start too small for this depth: use He initialization (--init he, "
            "W ~ N(0, 2/n_in)) for ReLU or Glorot for sigmoid/tanh, not randn * 0.01."),
            {"layer": a["layer"], "rms_ratio_by_layer": rms_by_layer}))
    first_exploding = next((i for i, r in enumerate(ratios)
                            if not r <= th.exploding_activation_ratio), None)
    if first_exploding is not None:
        a = acts[first_exploding]
        findings.append(Finding("exploding_activations", (
            f"The hidden activations grow layer by layer: their RMS reaches {a['ratio']:.3g} "
            f"times the input's after layer {a['layer']} (above "
            f"{th.exploding_activation_ratio:g}). Huge scores saturate the softmax and make the "
            "gradients huge. The weights are too large for this depth: use He initialization "
            "(--init he) for ReLU or Glorot for sigmoid/tanh."),
            {"layer": a["layer"], "rms_ratio_by_layer": rms_by_layer}))
    # ReLU layers after the signal has vanished are dead as a consequence: not reported again
    relus = [a for a in acts[:first_vanishing] if "dead_share" in a]
    dead = [a for a in relus if a["dead_share"] > th.dead_relu_share]
    if dead:
        worst = max(dead, key=lambda a: a["dead_share"])
        findings.append(Finding("dead_relu", (
            f"{worst['dead_share']:.0%} of the {worst['units']} ReLU units of layer "
            f"{worst['layer']} output 0 for every one of the {len(m['predicted'])} probe images: "
            "they are dead, and no gradient flows through them any more. Usually steps that were "
            f"too large pushed them there: lower the learning rate (--lr {lr / 10:g}), or use "
            "--activation leaky_relu, whose units cannot die."),
            {"layer": worst["layer"], "dead_share_by_layer": {a["layer"]: a["dead_share"]
                                                               for a in relus}}))
    grads = {g["param"]: g["ratio"] for g in m["gradients"]}
    small = [g for g in m["gradients"] if g["ratio"] < th.vanishing_gradient_ratio]
    if small and m["loss"] > th.vanishing_gradient_min_loss:
        g = min(small, key=lambda g: g["ratio"])
        findings.append(Finding("vanishing_gradients", (
            f"The gradients are too small to move the weights: ||dW|| / ||W|| is "
            f"{g['ratio']:.1e} for {g['param']} (below {th.vanishing_gradient_ratio:g}) while the "
            f"loss is still {m['loss']:.3f}, so each step changes the weights by almost nothing. "
            + ("This follows from the findings above: fix those first." if findings else
               "With ReLU use He initialization (--init he); sigmoid/tanh saturate in deep "
               "networks: prefer ReLU; --optimizer adam rescales small gradients.")),
            {"param": g["param"], "loss": m["loss"], "grad_ratio_by_param": grads}))
    big = [g for g in m["gradients"] if not g["ratio"] <= th.exploding_gradient_ratio]
    if big:
        g = max(big, key=lambda g: g["ratio"] if math.isfinite(g["ratio"]) else math.inf)
        findings.append(Finding("exploding_gradients", (
            f"The gradient of {g['param']} is {g['ratio']:.3g} times as large as the weights "
            f"themselves (above {th.exploding_gradient_ratio:g}): one step of learning rate "
            f"{lr:g} moves them by {lr * g['ratio']:.3g} of their size. Scale the inputs to "
            "[0, 1], start from He/Glorot weights, or lower the learning rate."),
            {"param": g["param"], "grad_ratio_by_param": grads}))
    return findings


def _ordered(findings: list[Finding]) -> list[Finding]:
    order = list(FINDINGS)
    return sorted(findings, key=lambda f: order.index(f.id))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        v = float(v)
        return float(f"{v:.4g}") if math.isfinite(v) else str(v)
    return v


def _short(v: Any) -> str:
    """A compact rendering of an evidence value for the text report."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)
