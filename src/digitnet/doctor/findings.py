"""What the doctor can find, where a number becomes a finding, and how a finding is reported."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from typing import Any

import numpy as np

#: Every finding the doctor can report, in the order it reports them (causes before symptoms).
FINDINGS: dict[str, str] = {
    "syntax_error": "the learner's file is not valid Python (line and text given)",
    "cannot_bind": "the doctor could not find or call the learner's network functions",
    "code_error": "one of the learner's functions raised an error on a real batch",
    "wrong_init": "the initial weights cannot learn: NaN, or every unit of a layer the same",
    "unscaled_input": "input pixels outside [0, 1]: the images were not divided by 255",
    "bad_labels": "labels that are not class numbers 0..C-1 (one-hot rows, 1..10, fractions)",
    "bad_softmax": "the probabilities of one image do not sum to 1 (softmax over the wrong axis)",
    "wrong_forward": "a forward-pass array (Z or A) differs from what its formula gives",
    "wrong_gradient": "a gradient (dW, db) differs from the true gradient of the cost",
    "global_batch_size": "the backward pass divides by a global m, not the batch's size",
    "wrong_cost": "the cost function does not compute the cross-entropy",
    "wrong_update": "the update function does not compute W - alpha * dW",
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
    #: a learner's array (forward value or gradient) differs from the reference by more than
    #: this relative error: ``wrong_forward`` / ``wrong_gradient`` (float64 code agrees to ~1e-12;
    #: float32 code to ~1e-6)
    code_tolerance: float = 1e-4


@dataclass(frozen=True)
class Advice:
    """How findings name things and which fixes they suggest: digitnet's options by default;
    the doctor of a learner's own code (``check_code``) speaks the notebook's notation instead."""

    #: the fix for weights that start too small or too large
    init_fix: str = ("use He initialization (--init he, W ~ N(0, 2/n_in)) for ReLU or Glorot "
                     "for sigmoid/tanh, not randn * 0.01")
    #: the fix for unscaled pixels
    scale_fix: str = ("divide the images by 255 (x = x / 255.0) before training (digitnet's "
                      "load_dataset does this)")
    #: the fix for dead ReLU units, besides a lower learning rate
    leaky_fix: str = "--activation leaky_relu"
    #: other ways to make small gradients move the weights
    small_gradient_fix: str = ("With ReLU use He initialization (--init he); sigmoid/tanh "
                               "saturate in deep networks: prefer ReLU; --optimizer adam "
                               "rescales small gradients.")
    #: how a learning rate is written: "--lr {lr}" or "alpha = {lr}"
    lr_option: str = "--lr {lr:g}"
    #: names of hidden activations and weight arrays as the measurements give them
    #: ("1 ReLU", "0.W") -> how the reader knows them ("A1", "W1")
    names: dict[str, str] = field(default_factory=dict)

    def lr(self, value: float) -> str:
        return self.lr_option.format(lr=value)

    def name(self, key: str) -> str:
        return self.names.get(key, key)


@dataclass
class Finding:
    """One diagnosis: ``id`` from FINDINGS, a plain-words ``message`` with the fix to try, and the
    numbers behind it in ``evidence``."""

    id: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: floats rounded to 4 significant digits, NaN/inf as strings."""
        return jsonable(asdict(self))


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

    def table(self) -> list[str]:
        """The per-layer measurements as lines of text (none if nothing was measured)."""
        if not (self.activations or self.gradients):
            return []
        lines = [f"per layer, measured {self.measured}:",
                 f"  {'layer':<16}{'RMS/input':>10}{'dead':>7}   {'weights':<9}"
                 f"{'||dW||/||W||':>13}"]
        for a, g in zip_longest(self.activations, self.gradients):
            dead = f"{a['dead_share']:.0%}" if a and "dead_share" in a else ""
            left = f"{a['layer']:<16}{a['ratio']:>10.3g}{dead:>7}" if a else " " * 33
            right = f"   {g['param']:<9}{g['ratio']:>13.3g}" if g else ""
            lines.append("  " + left + right)
        return lines

    def findings_text(self) -> list[str]:
        if not self.findings:
            return ["no findings: the network looks healthy."]
        lines = [f"{len(self.findings)} finding{'s' * (len(self.findings) > 1)}:"]
        for f in self.findings:
            lines.append(f"- {f.id}: {f.message}")
            lines.append("    evidence: " + ", ".join(f"{k}={short(v)}"
                                                      for k, v in f.evidence.items()))
        return lines

    def __str__(self) -> str:
        return "\n".join(([self.summary] if self.summary else []) + self.table()
                         + self.findings_text())


def ordered(findings: list[Finding]) -> list[Finding]:
    """Findings in FINDINGS order (causes first); the order among equal ids is kept."""
    order = list(FINDINGS)
    return sorted(findings, key=lambda f: order.index(f.id))


def jsonable(v: Any) -> Any:
    """Plain JSON values: floats rounded to 4 significant digits, NaN/inf as strings."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [jsonable(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        v = float(v)
        return float(f"{v:.4g}") if math.isfinite(v) else str(v)
    return v


def short(v: Any) -> str:
    """A compact rendering of an evidence value for the text report."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(short(x) for x in v) + "]"
    return str(v)
