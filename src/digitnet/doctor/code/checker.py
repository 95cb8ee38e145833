"""One run of the doctor on a learner's code: their weights, the batch, and the checks of their
forward pass, gradients, cost and update against the formulas (``Checker.run``)."""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...data import load_dataset
from ...gradcheck import numerical_gradient
from ..checks import check_inputs
from ..findings import Finding, Thresholds, ordered
from ..rules import run_rules
from .binding import (
    OUTPUT_NAMES,
    BindError,
    Call,
    LearnerCodeError,
    LearnerNet,
    layer_sizes_constant,
    learning_rate,
    norm,
)
from .explain import cost_formula, explain_cost, explain_init, explain_update
from .formulas import ACTIVATIONS, cross_entropy, rel_error, true_gradients
from .forward import ForwardCheck, check_forward
from .gradients import GradientCase, explain_gradient
from .layout import Layout, Notation, architecture, cache_value
from .result import CodeDiagnosis
from .source import LearnerSource, calls_in
from .training import learner_advice, train

#: images in the batch the arrays are compared on (every class appears in it)
CHECK_BATCH = 64
#: probe images for the measurements after training
PROBE = 512
#: entries per gradient array checked against central differences
NUMERIC_ENTRIES = 12
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
            fc, fwd = self.forward_check(params, xb)
            if fc.ok:
                grads = self.gradient_check(params, fc, fwd, xb, yb)
                self.cost_check(fc, fwd, yb)
                self.update_check(params, grads)
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

    def forward_check(self, params: dict[str, Any], xb: np.ndarray) -> tuple[ForwardCheck, Call]:
        X = self.layout.X(xb)
        fwd = self.forward(params, X)
        fn = self.net.names["forward"]
        if fwd.value is None:
            arrays = ", ".join(f"{self.note.Z(l)}, {self.note.A(l)}"
                               for l in range(1, self.arch.L + 1))
            raise BindError(f"{fn}() returns None: end it with its arrays, e.g. `return "
                            f"{arrays}` (or `return {self.note.A(self.arch.L)}, cache`)")
        if self.layout.output(fwd) is None:
            raise BindError(f"{fn}() returned {_describe_value(fwd.value)}: the doctor found no "
                            f"output probabilities in it ({self.note.A(self.arch.L)}, AL, yhat or "
                            "the first array it returns)")
        get = self.layout.theirs(fwd)
        if self.arch.folded:  # which end of W holds the bias? the one that reproduces Z1
            Z1 = get("Z", 1)
            if Z1 is not None:
                self.arch.bias_first = True
                Ws, bs = self.layout.weights(params)
                first = rel_error(Z1, Ws[0] @ (X if self.arch.columns else X.T) + bs[0])
                self.arch.bias_first = False
                Ws, bs = self.layout.weights(params)
                last = rel_error(Z1, Ws[0] @ (X if self.arch.columns else X.T) + bs[0])
                self.arch.bias_first = first <= last
        Ws, bs = self.layout.weights(params)
        Xc = X if self.arch.columns else X.T
        fc = check_forward(Xc, Ws, bs, get, self.layout.output(fwd), self.guess_activation(),
                           self.note, self.th.code_tolerance)
        self.findings += fc.findings
        self.fc = fc
        self.d.network["activations"] = fc.activations
        if fc.ok:
            self.d.checked.append(f"checked on {len(xb)} sample images: forward "
                                  + (", ".join(fc.checked) or "output") + " agree with the "
                                  "formulas on the same weights")
        return fc, fwd

    def guess_activation(self) -> str:
        called = set()
        for tree in self.net._trees_reached("forward"):
            called |= {norm(c) for c in calls_in(tree)}
        for key, name in (("sigmoid", "sigmoid"), ("tanh", "tanh"), ("leaky", "leaky ReLU")):
            if any(key in c for c in called):
                return name
        return "ReLU"

    # --- backward ------------------------------------------------------------------------------
    def gradient_check(self, params: dict[str, Any], fc: ForwardCheck, fwd: Call,
                       xb: np.ndarray, yb: np.ndarray) -> None:
        Ws, _ = self.layout.weights(params)
        tg = true_gradients(fc.A, fc.Z, fc.activations, Ws, yb)
        self.params0 = params
        grads, self.layout.one_hot = self._backward_with_best_labels(params, fwd, xb, yb, tg)
        if not any(self._grad_of(k, grads) is not None for k in params):
            fn = self.net.names["backward"]
            raise BindError(
                f"{fn}() returned {_describe_value(self._last_backward)}: the doctor reads the "
                "gradients by the names in its return statement (`return dW1, db1, dW2, db2`) or "
                "from a dict with keys like \"dW1\" (or \"dw1\"), one for each weight")
        one_hot = "one-hot, (10, m)" if self.arch.columns else "one-hot, (m, 10)"
        self.d.network["labels"] = one_hot if self.layout.one_hot else "class numbers, (m,)"
        self.note.labels_one_hot = self.layout.one_hot
        m, a, note, tol = len(yb), self.arch, self.note, self.th.code_tolerance
        numeric = self._numeric_check(params, tg, xb, yb)
        groups: dict[str, Finding] = {}
        #: the first finding whose wrong dZ is carried down to the layers before it
        carried: Finding | None = None
        checked = []
        for l in range(a.L, 0, -1):
            for key, is_bias in ((a.W[l - 1], False), (a.b[l - 1], True)):
                if key is None:
                    continue
                case = GradientCase(name=f"d{key}", param=key, layer=l, is_bias=is_bias,
                                    theirs=self._grad_of(key, grads),
                                    true=self.layout.to_theirs(tg.dW[l - 1], tg.db[l - 1], l,
                                                               is_bias),
                                    param_shape=np.shape(params[key]))
                res = explain_gradient(case, m, note, tol, self.net.number_globals, tg, fc,
                                       self.layout.to_theirs)
                if res is None:
                    checked.append(case.name)
                    continue
                kind, message, ev = res
                ev["numerical_check"] = numeric.get(key)
                fid = "global_batch_size" if kind.startswith("global:") else "wrong_gradient"
                if kind in groups:  # the same mistake again (a shared helper, each layer)
                    groups[kind].evidence.setdefault("also", []).append(case.name)
                    continue
                if kind == "values" and carried is not None:  # a wrong dZ carried down
                    carried.evidence.setdefault("follows", []).append(case.name)
                    continue
                groups[kind] = Finding(fid, message, ev)
                if not is_bias and carried is None:
                    carried = groups[kind]
        for f in groups.values():
            also, follows = f.evidence.get("also"), f.evidence.get("follows")
            f.message += "."
            if also:
                f.message += f" The same mistake in {', '.join(also)}."
            if follows:
                f.message += (f" {', '.join(follows)} are wrong as a consequence: the backward "
                              "pass carries each dZ down to the layers before.")
        self.findings += groups.values()
        if checked:
            worst = max((v for v in numeric.values() if v is not None), default=0.0)
            # central differences are meaningless where a Z sits exactly at ReLU's kink (W = 0)
            self.d.checked.append(
                f"gradients {', '.join(checked)} agree with the true gradient of the "
                "cross-entropy" + (f" (which agrees with central differences to {worst:.1e})"
                                   if worst < 1e-4 else ""))
        for name, fn in self.net.batch_globals.items():
            s = self.src.where_assigned(name)
            origin = (f"set at {s.where} (`{s.text}`) by code the doctor does not run"
                      if s else "set outside any function")
            self.findings.append(Finding("global_batch_size", (
                f"{fn}() divides by the global {name}, {origin}, not by the number of examples "
                f"it is given. The doctor set {name} to the batch size ({m}) to check the rest. "
                f"It is right only while every call passes all {name} examples: with a dev "
                f"split, minibatches or the test set the gradients are scaled wrongly. Compute "
                f"it inside {fn}(): {name} = {note.A(0)}.shape[{note.batch_axis}]."),
                {"global": name, "function": fn, "where": s.where if s else None}))
        return grads

    def update_check(self, params: dict[str, Any], grads: dict[str, Any]) -> None:
        """One call of their update against W - alpha * dW, with their own gradients."""
        if "update" not in self.net.funcs:
            return
        before = {k: np.array(v) for k, v in params.items()}
        new = self.apply_update({k: np.array(v) for k, v in params.items()}, grads)
        fn = self.net.names["update"]
        problems = []
        for key in [k for pair in zip(self.arch.W, self.arch.b, strict=True) for k in pair if k]:
            why = explain_update(key, before[key], new.get(key), self._grad_of(key, grads),
                                 self.lr, self.lr_name, fn)
            if why:
                problems.append((key, why))
        if not problems:
            self.d.checked.append(f"{fn}() computes W - {self.lr_name} * dW for every weight")
            return
        keys = [k for k, _ in problems]
        if self._update_returned_none and all("unchanged" in w for _, w in problems):
            names = ", ".join(k for pair in zip(self.arch.W, self.arch.b, strict=True)
                              for k in pair if k)
            message = (f"{fn}() returns nothing (None) and changes no weight in place, so the new "
                       f"weights never reach the next step: end it with `return {names}`"
                       if self.params_style == "arrays" else
                       f"{fn}() returns nothing (None) and changes no weight in place: end it "
                       "with `return parameters`")
        else:
            message = problems[0][1] + (f"; also wrong: {', '.join(keys[1:])}" if keys[1:]
                                        else "")
        self.findings.append(Finding("wrong_update", message + ".", {
            "function": fn, "weights": keys, "lr": self.lr}))

    def _backward_with_best_labels(self, params: dict[str, Any], fwd: Call, xb: np.ndarray,
                                   yb: np.ndarray, tg: Any) -> tuple[dict[str, Any], bool]:
        """Their backward pass with labels as class numbers or one-hot, whichever their code
        takes: the one that runs and gives gradients closest to the true ones."""
        order = [False, True] if self._takes_class_numbers() else [True, False]
        best, error = None, None
        for oh in order:
            self.layout.one_hot = oh
            try:
                grads = self.backward(params, fwd, self.layout.X(xb), self.layout.Y(yb))
            except LearnerCodeError as e:
                error = error or e
                continue
            score = sum(_mismatch(self._grad_of(k, grads), self.layout.to_theirs(
                tg.dW[l], tg.db[l], l + 1, bias))
                for l in range(self.arch.L) for k, bias in ((self.arch.W[l], False),
                                                             (self.arch.b[l], True)) if k)
            if best is None or score < best[0]:
                best = (score, grads, oh)
            if score < 1e-3:
                break
        if best is None:
            raise error  # type: ignore[misc]
        return best[1], best[2]

    def _takes_class_numbers(self) -> bool:
        for tree in self.net._trees_reached("backward"):
            if any("onehot" in norm(c) or c in ("eye",) for c in calls_in(tree)):
                return True
            if "onehot" in norm(tree.name):
                return True
        for tree in self.net._trees_reached("backward"):  # dz2[y, np.arange(m)] -= 1
            for n in ast.walk(tree):
                if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Tuple) and any(
                        isinstance(e, ast.Name) and norm(e.id) in ("y", "labels", "ytrue")
                        for e in n.slice.elts):
                    return True
        return False

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

    def _grad_of(self, key: str | None, grads: dict[str, Any]) -> Any:
        """Their gradient of parameter ``key``: dW1 / dw1 / grad_W1 / W1_grad."""
        if key is None:
            return None
        for name in (f"d{key}", f"grad{key}", f"{key}grad"):
            if norm(name) in grads:
                return grads[norm(name)]
        return None

    def _numeric_check(self, params: dict[str, Any], tg: Any, xb: np.ndarray,
                       yb: np.ndarray) -> dict[str, float | None]:
        """The true gradients against central differences of J, on a few entries each."""
        Ws, bs = self.layout.weights(params)
        # contiguous copies: reshape(-1) of a strided view (a folded bias column) would copy,
        # and the finite differences would then perturb nothing
        Ws, bs = [np.ascontiguousarray(W).copy() for W in Ws], [b.copy() for b in bs]
        Xc = self.layout.X(xb) if self.arch.columns else self.layout.X(xb).T
        rng = np.random.default_rng(self.seed)
        acts = self.fc.activations

        def J() -> float:
            A = Xc
            for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                Z = W @ A + b
                A = Z if l == len(Ws) - 1 else ACTIVATIONS[acts[l]][0](Z)
            E = np.exp(A - A.max(axis=0, keepdims=True))
            return cross_entropy(E / E.sum(axis=0, keepdims=True), yb)

        out: dict[str, float | None] = {}
        for l in range(self.arch.L):
            for key, arr, true in ((self.arch.W[l], Ws[l], tg.dW[l]),
                                   (self.arch.b[l] or f"b{l + 1}", bs[l], tg.db[l])):
                idx = rng.choice(arr.size, min(NUMERIC_ENTRIES, arr.size), replace=False)
                num = numerical_gradient(J, arr, idx)
                out[key] = rel_error(num, true.reshape(-1)[idx])
        return out

    # --- cost ----------------------------------------------------------------------------------
    def cost_check(self, fc: ForwardCheck, fwd: Call, yb: np.ndarray) -> None:
        P = fc.A[-1]
        self.d.cost = {**cost_formula(self.note), "before": cross_entropy(P, yb),
                       "batch": len(yb), "function": self.net.names.get("cost")}
        if "cost" not in self.net.funcs:
            return
        extra = dict(fwd.named)
        out = self.layout.output(fwd)
        extra["@AL"] = out
        extra.setdefault(f"A{self.arch.L}", out)
        c, error = None, None
        backward_form = self.layout.one_hot
        # the cost may take the labels in another form than backward does: try both
        for form in (self.layout.one_hot, not self.layout.one_hot):
            self.layout.one_hot = form
            try:
                c = self.net.call("cost", self.values(
                    self.params0, self.layout.X(np.zeros((len(yb), 784))), self.layout.Y(yb),
                    {**extra, **self._al_aliases(fwd)}))
                break
            except LearnerCodeError as e:
                error = error or e
        self.layout.one_hot = backward_form
        if c is None:
            self.code_error(error)  # type: ignore[arg-type]
            return
        value = c.value[0] if isinstance(c.value, tuple) and c.value else c.value
        self.d.cost["yours"] = _as_float(value)
        why = explain_cost(value, P, yb, self.note, self.net.names["cost"],
                           max(self.th.code_tolerance, 1e-6))
        if why:
            self.findings.append(Finding("wrong_cost", (
                f"{why}. The cost to minimise is the cross-entropy, {self.d.cost['formula']}: "
                f"{self.d.cost['numpy']}. (Your gradients do not use the cost, but the numbers "
                "you print and compare do.)"),
                {"function": self.net.names["cost"], "yours": _as_float(value),
                 "cross_entropy": cross_entropy(P, yb)}))

    def _al_aliases(self, fwd: Call) -> dict[str, Any]:
        """Their cost's first argument is the output, whatever it is called (AL, A2, yhat)."""
        out = fwd.value[0] if isinstance(fwd.value, tuple | list) and fwd.value else fwd.value
        named = {k: v for k, v in fwd.named.items()}
        fn = self.net.funcs["cost"]
        first = next(iter(inspect.signature(fn).parameters), None)
        L = self.arch.L
        key = next((k for k in named if norm(k) in (f"a{L}", *map(norm, OUTPUT_NAMES))), None)
        if first and first not in named:
            return {first: named[key] if key else out}
        return {}

    # --- brief training with their functions ---------------------------------------------------
    def apply_update(self, p: dict[str, Any], grads: dict[str, Any]) -> dict[str, Any]:
        if "update" not in self.net.funcs:
            out = {}
            for k, v in p.items():
                g = self._grad_of(k, grads)
                out[k] = v - self.lr * np.asarray(g) if g is not None else v
            return out
        named = {k: v for k, v in grads.items()}
        extra = {**{f"d{k}": self._grad_of(k, grads) for k in p}, "@grads": _grads_dict(grads, p)}
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


def _describe_value(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, tuple | list):
        return f"a {type(v).__name__} of {len(v)} values"
    if isinstance(v, dict):
        return f"a dict with keys {', '.join(map(str, list(v)[:8]))}"
    return f"{v!r} ({type(v).__name__})" if v is None or isinstance(v, int | float | str) \
        else type(v).__name__


def _mismatch(g: Any, t: np.ndarray) -> float:
    """0 when g is t up to a constant factor, 1 when unrelated or of another shape: how the
    label forms are compared (a 1/m too many must not make the wrong form look better)."""
    if not isinstance(g, np.ndarray) or g.shape != t.shape or not np.all(np.isfinite(g)):
        return 1.0
    norms = float(np.linalg.norm(g)) * float(np.linalg.norm(t))
    return 1.0 - abs(float(np.sum(g * t))) / norms if norms else 1.0


def _as_float(v: Any) -> float | None:
    try:
        return float(np.squeeze(np.asarray(v, dtype=np.float64)))
    except (TypeError, ValueError):
        return None


def _grads_dict(grads: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """Their gradients as a dict keyed like their code keys it ("dW1" or "dw1")."""
    out = {}
    for k in p:
        for cand in (f"d{k}",):
            if norm(cand) in grads:
                out[cand] = grads[norm(cand)]
    return out

