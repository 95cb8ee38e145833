"""The doctor's rules: each a small function from what was measured to findings.

``Observations`` holds the measurements (``nn.probe.measure`` before and after a brief training,
the loss of every step); ``run_rules`` applies every rule and returns the findings in FINDINGS
order. A rule returns [] when its number is within ``Thresholds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .findings import Advice, Finding, Thresholds, ordered


@dataclass
class Observations:
    """What the rules read. ``before``/``after`` are ``nn.probe.measure`` results on the probe
    batch (``after`` is ``before`` when nothing was trained or training diverged)."""

    before: dict[str, Any]
    after: dict[str, Any]
    #: labels of the probe batch
    probe_labels: np.ndarray
    n_classes: int
    class_names: list[str]
    optimizer: str = "momentum"
    lr: float = 0.1
    #: training steps taken (0: the network was only inspected)
    steps: int = 0
    #: minibatch loss of every step, and the step whose loss was NaN/inf (None if none)
    losses: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    #: for an inspected model: its saved training history
    history: dict[str, Any] | None = None
    th: Thresholds = field(default_factory=Thresholds)
    advice: Advice = field(default_factory=Advice)

    @property
    def diverged(self) -> bool:
        """Training blew up: NaN, or a loss far above its start (see ``diverging``)."""
        return bool(self.steps) and bool(diverging(self))


Rule = Callable[[Observations], list[Finding]]


def diverging(o: Observations) -> list[Finding]:
    """A NaN/inf loss, or a minibatch loss far above where training started; for an inspected
    model, a saved history that ends in divergence."""
    if not o.steps:
        if (o.history or {}).get("stop_reason") != "diverged":
            return []
        return [Finding("diverging", (
            "Its training diverged (the saved history ends with stop_reason 'diverged'): the "
            "loss became NaN or infinite. Train again with a learning rate about ten times "
            "lower."), {"stop_reason": "diverged", "epoch_losses": o.history.get("loss") or []})]
    before, losses, lr = o.before["loss"], o.losses, o.lr
    lower = f"lower the learning rate about tenfold ({o.advice.lr(lr / 10)})"
    evidence: dict[str, Any] = {"optimizer": o.optimizer, "lr": lr, "probe_loss_before": before}
    if o.diverged_at is not None:
        evidence.update(step=o.diverged_at + 1, loss=losses[-1], first_losses=losses[:5])
        return [Finding("diverging", (
            f"Training diverged: the minibatch loss became {losses[-1]} at step "
            f"{o.diverged_at + 1} with {o.optimizer} at learning rate {lr:g}. The steps are so "
            f"large that the weights overshoot and blow up: {lower}."), evidence)]
    peak = max(losses, default=before)
    reference = max(before, math.log(o.n_classes))  # a trained network starts near 0
    if not (math.isfinite(before) and peak > o.th.diverging_factor * reference):
        return []
    step = int(np.argmax(losses)) + 1
    evidence.update(max_loss=peak, step=step, last_loss=losses[-1])
    return [Finding("diverging", (
        f"The minibatch loss jumped to {peak:.4g} (step {step}), {peak / before:.3g} times its "
        f"value before training ({before:.4g}), with {o.optimizer} at learning rate {lr:g}: the "
        f"steps overshoot. {lower[0].upper() + lower[1:]}."), evidence)]


def not_learning(o: Observations, explained: bool = False) -> list[Finding]:
    """The loss hardly went down (and is not low already). ``explained``: other findings say
    why."""
    th, chance = o.th, math.log(o.n_classes)
    if not o.steps:
        loss = (o.history or {}).get("loss") or []
        if (o.history or {}).get("stop_reason") == "diverged" or not (
                len(loss) >= 2 and loss[-1] > th.not_learning_ratio * loss[0]
                and loss[-1] > th.not_learning_min_loss):
            return []
        return [Finding("not_learning", (
            f"In its training the loss did not go down: {loss[0]:.4f} in the first epoch, "
            f"{loss[-1]:.4f} in the last (guessing gives {chance:.3f}). See the other findings "
            "for the cause; otherwise try a larger learning rate."), {"epoch_losses": loss})]
    before, after = o.before["loss"], o.after["loss"]
    if o.diverged or not (after > th.not_learning_ratio * before
                          and after > th.not_learning_min_loss):
        return []
    why = ("The other findings say why: fix those first." if explained else
           f"Nothing else looks wrong, so the learning rate {o.lr:g} may be too small for "
           f"{o.optimizer}: try it ten times larger ({o.advice.lr(o.lr * 10)})"
           + (", or --optimizer adam." if o.advice.lr_option.startswith("--") else "."))
    return [Finding("not_learning", (
        f"The loss did not go down: {before:.4f} before and {after:.4f} after {o.steps} steps "
        f"(guessing gives ln {o.n_classes} = {chance:.3f}). {why}"),
        {"optimizer": o.optimizer, "lr": o.lr, "steps": o.steps, "probe_loss_before": before,
         "probe_loss_after": after, "chance_loss": chance})]


def collapsed_predictions(o: Observations) -> list[Finding]:
    """One class gets (nearly) every probe image though few of them are that class."""
    predicted, y, th = o.after["predicted"], o.probe_labels, o.th
    if o.diverged or not len(predicted):
        return []
    counts = np.bincount(predicted, minlength=o.n_classes)
    top = int(np.argmax(counts))
    share = counts[top] / len(predicted)
    label_share = float(np.mean(y == top))
    if share < th.collapse_share or label_share > th.collapse_label_share:
        return []
    name = o.class_names[top] if top < len(o.class_names) else str(top)
    return [Finding("collapsed_predictions", (
        f"The network predicts class {name} for {share:.0%} of the {len(predicted)} probe "
        f"images, though only {label_share:.0%} of them are {name}: it gives every image "
        "(nearly) the same scores, so the input does not get through the layers. In a deep "
        f"network this comes from weights that start too small (randn * 0.01): {o.advice.init_fix}"
        "; see the other findings."),
        {"class": name, "predicted_share": float(share), "label_share": label_share,
         "predicted_counts": counts.tolist()})]


def _first_vanishing(o: Observations) -> int | None:
    """Index of the first activation layer whose signal vanished (not because its units died)."""
    th = o.th
    return next((i for i, a in enumerate(o.after["activations"])
                 if a["ratio"] < th.vanishing_activation_ratio
                 and not a.get("dead_share", 0) > th.dead_relu_share), None)


def _rms_by_layer(o: Observations) -> dict[str, float]:
    return {o.advice.name(a["layer"]): a["ratio"] for a in o.after["activations"]}


def vanishing_activations(o: Observations) -> list[Finding]:
    """A hidden layer's RMS fell below 1/100 of the input's."""
    i = _first_vanishing(o)
    if i is None:
        return []
    acts, name = o.after["activations"], o.advice.name
    a = acts[i]
    return [Finding("vanishing_activations", (
        f"The hidden activations shrink layer by layer: their RMS is {acts[0]['ratio']:.2g} of "
        f"the input's after the first activation layer ({name(acts[0]['layer'])}) and "
        f"{a['ratio']:.1e} after {name(a['layer'])} (below "
        f"{o.th.vanishing_activation_ratio:g}). The later layers get almost no signal, so every "
        "image gets the same scores and the gradients vanish too. The weights start too small "
        f"for this depth: {o.advice.init_fix}."),
        {"layer": name(a["layer"]), "rms_ratio_by_layer": _rms_by_layer(o)})]


def exploding_activations(o: Observations) -> list[Finding]:
    """A hidden layer's RMS grew above 100 times the input's."""
    acts, name = o.after["activations"], o.advice.name
    a = next((a for a in acts if not a["ratio"] <= o.th.exploding_activation_ratio), None)
    if a is None:
        return []
    return [Finding("exploding_activations", (
        f"The hidden activations grow layer by layer: their RMS reaches {a['ratio']:.3g} "
        f"times the input's after {name(a['layer'])} (above "
        f"{o.th.exploding_activation_ratio:g}). Huge scores saturate the softmax and make the "
        f"gradients huge. The weights are too large for this depth: {o.advice.init_fix}."),
        {"layer": name(a["layer"]), "rms_ratio_by_layer": _rms_by_layer(o)})]


def dead_relu(o: Observations) -> list[Finding]:
    """Over half of a ReLU layer's units are 0 for every probe image (ReLU layers after the signal
    vanished are dead as a consequence and not reported again)."""
    name = o.advice.name
    relus = [a for a in o.after["activations"][:_first_vanishing(o)] if "dead_share" in a]
    dead = [a for a in relus if a["dead_share"] > o.th.dead_relu_share]
    if not dead:
        return []
    worst = max(dead, key=lambda a: a["dead_share"])
    return [Finding("dead_relu", (
        f"{worst['dead_share']:.0%} of the {worst['units']} ReLU units of "
        f"{name(worst['layer'])} output 0 for every one of the {len(o.after['predicted'])} "
        "probe images: they are dead, and no gradient flows through them any more. Usually "
        "steps that were too large pushed them there: lower the learning rate "
        f"({o.advice.lr(o.lr / 10)}), or use {o.advice.leaky_fix}, whose units cannot die."),
        {"layer": name(worst["layer"]),
         "dead_share_by_layer": {name(a["layer"]): a["dead_share"] for a in relus}})]


def _grad_ratios(o: Observations) -> dict[str, float]:
    return {o.advice.name(g["param"]): g["ratio"] for g in o.after["gradients"]}


def vanishing_gradients(o: Observations, explained: bool = False) -> list[Finding]:
    """||dW|| / ||W|| below 1e-5 for some weight array while the loss is still high."""
    m, th, name = o.after, o.th, o.advice.name
    small = [g for g in m["gradients"] if g["ratio"] < th.vanishing_gradient_ratio]
    if not small or m["loss"] <= th.vanishing_gradient_min_loss:
        return []
    g = min(small, key=lambda g: g["ratio"])
    return [Finding("vanishing_gradients", (
        f"The gradients are too small to move the weights: ||dW|| / ||W|| is "
        f"{g['ratio']:.1e} for {name(g['param'])} (below {th.vanishing_gradient_ratio:g}) while "
        f"the loss is still {m['loss']:.3f}, so each step changes the weights by almost nothing. "
        + ("This follows from the findings above: fix those first." if explained
           else o.advice.small_gradient_fix)),
        {"param": name(g["param"]), "loss": m["loss"], "grad_ratio_by_param": _grad_ratios(o)})]


def exploding_gradients(o: Observations) -> list[Finding]:
    """||dW|| / ||W|| above 1: one step would move the weights by more than their size."""
    name = o.advice.name
    big = [g for g in o.after["gradients"] if not g["ratio"] <= o.th.exploding_gradient_ratio]
    if not big:
        return []
    g = max(big, key=lambda g: g["ratio"] if math.isfinite(g["ratio"]) else math.inf)
    return [Finding("exploding_gradients", (
        f"The gradient of {name(g['param'])} is {g['ratio']:.3g} times as large as the weights "
        f"themselves (above {o.th.exploding_gradient_ratio:g}): one step of learning rate "
        f"{o.lr:g} moves them by {o.lr * g['ratio']:.3g} of their size. Scale the inputs to "
        "[0, 1], start from He/Glorot weights, or lower the learning rate."),
        {"param": name(g["param"]), "grad_ratio_by_param": _grad_ratios(o)})]


#: the rules over measurements, in FINDINGS order; those that say "the other findings explain
#: this" run after the others and are told whether anything else was found
RULES: tuple[Rule, ...] = (diverging, collapsed_predictions, vanishing_activations,
                           exploding_activations, dead_relu, exploding_gradients)
EXPLAINED_RULES = (vanishing_gradients, not_learning)


def run_rules(o: Observations, found: list[Finding] | None = None) -> list[Finding]:
    """Every rule on ``o``; ``found``: findings from earlier checks (inputs, softmax, code).
    Returns all findings, ``found`` included, in FINDINGS order."""
    findings = list(found or [])
    for rule in RULES:
        findings += rule(o)
    for rule in EXPLAINED_RULES:
        findings += rule(o, explained=bool(findings))
    return ordered(findings)
