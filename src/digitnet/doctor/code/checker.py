"""One run of the doctor on a learner's code: their weights, the batch, and the checks of their
forward pass, gradients, cost and update against the formulas (``Checker.run``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...data import load_dataset
from ...errors import SpecError
from ..checks import check_inputs
from ..findings import Finding, Thresholds, ordered
from ..rules import run_rules
from .binding import (
    BindError,
    Call,
    LearnerCodeError,
    LearnerNet,
    layer_sizes_constant,
    learning_rate,
    norm,
)
from .checks import cost_check, forward_check, gradient_check, update_check
from .explain import explain_init
from .layout import Layout, Notation, architecture, cache_value
from .result import CodeDiagnosis
from .source import LearnerSource, calls_in
from .training import learner_advice, train

#: images in the batch the arrays are compared on (every class appears in it)
CHECK_BATCH = 64
#: probe images for the measurements after training
PROBE = 512
#: learning rate when the code gives none
FALLBACK_LR = 0.1


class Checker:
    """One run of the doctor on a learner's code (state shared by the steps of ``run``)."""

    def __init__(self, net: LearnerNet, src: LearnerSource, params: Mapping[str, Any] | None,
                 steps: int, batch: int, lr: float | None, pixels: str, seed: int,
                 th: Thresholds) -> None:
        self.net, self.src, self.steps, self.batch, self.seed, self.th = (
            net, src, steps, batch, seed, th)
        self.given_params = params
        self.params_style = "arrays"
        self._update_returned_none = False
        self._last_backward: Any = None
        self.x, self.y, self.xp, self.yp = _sample()
        if batch > len(self.y) // 2:  # its images are drawn from these (and kept apart)
            raise SpecError(f"a batch of {batch:,} images is more than the doctor can draw "
                            f"from its {len(self.y):,} sample training images: use at most "
                            f"{len(self.y) // 2:,} (the default is {CHECK_BATCH})")
        self.scale = 255.0 if pixels == "255" or (
            pixels == "auto" and src.scales_pixels is False) else 1.0
        self.lr_name, self.lr = learning_rate(net, lr, FALLBACK_LR)
        self.findings: list[Finding] = []
        self.d = CodeDiagnosis(findings=[])

    # --- data in their layout ------------------------------------------------------------------
    def check_batch(self) -> np.ndarray:
        """Indices of about ``batch`` training images with every class among them. Their number
        differs from every layer's width, so that a shape like (1, m) cannot be mistaken for
        (1, n1)."""
        m = self.batch
        while m in self.arch.sizes or m in (1, 784 + 1):
            m += 1
        rng = np.random.default_rng(self.seed)
        first = [int(rng.choice(np.flatnonzero(self.y == c))) for c in np.unique(self.y)]
        rest = rng.choice(np.setdiff1d(np.arange(len(self.y)), first), m - len(first),
                          replace=False)
        return rng.permutation(np.concatenate([first, rest]))

    # --- weights -----------------------------------------------------------------------------
    def initial_params(self) -> tuple[dict[str, Any], str]:
        if self.given_params is not None:
            return {k: np.array(v, dtype=np.float64) for k, v in self.given_params.items()}, \
                "the weights you passed"
        if "init" not in self.net.funcs:
            found = {k: v for k, v in self.src.namespace.items()
                     if isinstance(v, np.ndarray) and k[:1] in "WwBb" and k[1:].isdigit()}
            if found:
                return {k: v.astype(np.float64) for k, v in found.items()}, \
                    "the weights W1, b1, ... of your notebook"
            raise BindError(self.net._not_found(["init"]) + " (or pass the weights: "
                            "check_code(..., params={'W1': W1, 'b1': b1, ...}))")
        np.random.seed(self.seed)  # their init draws from NumPy's global generator
        values = {"@nin": 784, "@nout": 10, "@dims": layer_sizes_constant(self.src)}
        c = self.net.call("init", {k: v for k, v in values.items() if v is not None})
        p = c.named if c.named else (c.value if isinstance(c.value, dict) else {})
        params = {str(k): np.array(v, dtype=np.float64) for k, v in p.items()
                  if isinstance(v, np.ndarray)}
        self.params_style = "dict" if isinstance(c.value, dict) else "arrays"
        return params, f"{self.net.names['init']}()"

    def run(self) -> CodeDiagnosis:
        d = self.d
        try:
            params, origin = self.initial_params()
            self.arch = arch = architecture(params)
        except LearnerCodeError as e:
            return self.code_error(e)
        self.layout = Layout(arch, self.scale, {k: np.shape(params[k]) for k in arch.b if k})
        self.note = Notation(W=arch.W, b=arch.b, columns=arch.columns,
                             lower=arch.W[0][0] == "w")
        idx = self.check_batch()
        xb, yb = self.x[idx], self.y[idx]
        self.m_check = len(idx)
        self._describe(origin)
        bad_init = explain_init(self.layout.weights(params)[0], self.note)
        if bad_init:
            self.findings.append(Finding("wrong_init", bad_init + ".", {
                "function": self.net.names.get("init"), "weights": self.arch.W}))
            if "NaN" in bad_init:
                self.d.findings = ordered(self.findings)
                return self.d
        if self.scale != 1.0:
            self.findings += check_inputs(self.xp * self.scale, self.yp, 10, self.th,
                                          learner_advice(self))
        try:
            fc, fwd = forward_check(self, params, xb)
            if fc.ok:
                grads = gradient_check(self, params, fc, fwd, xb, yb)
                cost_check(self, fc, fwd, yb)
                update_check(self, params, grads)
        except LearnerCodeError as e:
            return self.code_error(e)
        obs = train(self, params, fc) if self.steps else None
        d.findings = run_rules(obs, self.findings) if obs else ordered(self.findings)
        return d

    def code_error(self, e: LearnerCodeError) -> CodeDiagnosis:
        where = f", {e.where}," if e.where else ""
        arch = getattr(self, "arch", None)
        layout = "as columns, X (784, m)" if arch is None or arch.columns else "as rows, X (m, 784)"
        self.findings.append(Finding("code_error", (
            f"Your {e.name}() raised {type(e.error).__name__}{where} when the doctor called it on "
            f"a batch of {getattr(self, 'm_check', self.batch)} sample images {layout}: "
            f"{e.error}. Run it yourself on a small batch and print the shapes of its arrays."),
            {"function": e.name, "role": e.role, "error": f"{type(e.error).__name__}: {e.error}",
             "where": e.where}))
        self.d.findings = ordered(self.findings)
        return self.d

    def _describe(self, origin: str) -> None:
        a, net = self.arch, self.net
        layout = ("examples as columns, X (784, m)" if a.columns
                  else "examples as rows, X (m, 784)")
        bias = "biases folded into W (a row of ones)" if a.folded else "biases " + ", ".join(
            b or "-" for b in a.b)
        self.d.found = [f"doctor --code {self.src.origin}: a {a.describe()} network "
                        f"({layout}; {bias}) from {origin}"]
        self.d.found.append("  functions: " + ", ".join(
            f"{role} = {name}()" for role, name in net.names.items()))
        self.d.network = {"sizes": a.sizes, "layout": "columns" if a.columns else "rows",
                          "weights": a.W, "biases": a.b, "folded_bias": a.folded,
                          "functions": dict(net.names),
                          "pixels": "0..255" if self.scale != 1 else "0..1"}

    # --- forward -------------------------------------------------------------------------------
    def values(self, params: dict[str, Any], X: np.ndarray, Y: np.ndarray | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        v: dict[str, Any] = dict(params)
        v.update({"@params": params, "@X": X, "@m": X.shape[1] if self.arch.columns
                  else X.shape[0], "@lr": self.lr})
        if Y is not None:
            v["@Y"] = Y
        if extra:
            v.update(extra)
        for name in self.net.batch_globals:
            self.src.namespace[name] = v["@m"]
        for k, p in params.items():  # code that reads its weights as globals
            if k in self.src.namespace and isinstance(self.src.namespace[k], np.ndarray):
                self.src.namespace[k] = p
        return v

    def forward(self, params: dict[str, Any], X: np.ndarray) -> Call:
        return self.net.call("forward", self.values(params, X))


    def guess_activation(self) -> str:
        called = set()
        for tree in self.net._trees_reached("forward"):
            called |= {norm(c) for c in calls_in(tree)}
        for key, name in (("sigmoid", "sigmoid"), ("tanh", "tanh"), ("leaky", "leaky ReLU")):
            if any(key in c for c in called):
                return name
        return "ReLU"

    # --- backward ------------------------------------------------------------------------------


    def backward(self, params: dict[str, Any], fwd: Call, X: np.ndarray,
                 Y: np.ndarray) -> dict[str, Any]:
        extra = dict(fwd.named)
        extra["@cache"] = cache_value(fwd)
        out = self.layout.output(fwd)
        if out is not None:
            extra.setdefault("@AL", out)
        c = self.net.call("backward", self.values(params, X, Y, extra))
        self._last_backward = c.value
        return {norm(k): v for k, v in c.named.items()}

    def grad_of(self, key: str | None, grads: dict[str, Any]) -> Any:
        """Their gradient of parameter ``key``: dW1 / dw1 / grad_W1 / W1_grad."""
        if key is None:
            return None
        for name in (f"d{key}", f"grad{key}", f"{key}grad"):
            if norm(name) in grads:
                return grads[norm(name)]
        return None


    def apply_update(self, p: dict[str, Any], grads: dict[str, Any]) -> dict[str, Any]:
        if "update" not in self.net.funcs:
            out = {}
            for k, v in p.items():
                g = self.grad_of(k, grads)
                out[k] = v - self.lr * np.asarray(g) if g is not None else v
            return out
        named = {k: v for k, v in grads.items()}
        extra = {**{f"d{k}": self.grad_of(k, grads) for k in p}, "@grads": _grads_dict(grads, p)}
        extra.update({k: v for k, v in named.items() if k not in extra})
        c = self.net.call("update", self.values(p, np.zeros((784, 1)) if self.arch.columns
                                                else np.zeros((1, 784)), None, extra))
        self._update_returned_none = c.value is None
        new = dict(p)
        if isinstance(c.value, dict):
            new.update({str(k): v for k, v in c.value.items() if isinstance(v, np.ndarray)})
        elif c.named and any(k in p for k in c.named):
            new.update({k: v for k, v in c.named.items() if k in p})
        elif isinstance(c.value, tuple | list):
            # `return W1 - lr * dW1, b1 - lr * db1, ...`: in the order it takes the weights
            order = [n for n in inspect.signature(self.net.funcs["update"]).parameters if n in p]
            if len(order) == len(c.value):
                new.update(dict(zip(order, c.value, strict=True)))
        return new


@functools.cache
def _sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The shipped sample's training images and labels, and PROBE validation images (read once;
    never written to)."""
    ds = load_dataset("sample", val_size=PROBE, seed=0)
    for a in (ds.x_train, ds.y_train, ds.x_val, ds.y_val):
        a.flags.writeable = False
    return ds.x_train, ds.y_train, ds.x_val, ds.y_val


def _grads_dict(grads: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """Their gradients as a dict keyed like their code keys it ("dW1" or "dw1")."""
    out = {}
    for k in p:
        for cand in (f"d{k}",):
            if norm(cand) in grads:
                out[cand] = grads[norm(cand)]
    return out
