"""The doctor for a learner's own code: ``digitnet doctor --code FILE`` and ``check_code``.

    d = dn.doctor.check_code("my_notebook.ipynb")       # or a .py file
    d = dn.doctor.check_code(globals())                 # from inside the notebook itself
    d = dn.doctor.check_code(forward=forward_prop, backward=backward_prop, init=init_params)
    print(d); d.ids; d.as_dict()

What it does, in order:

1. reads the code and runs only what defines the network (``source.py``): imports, functions,
   constants; a file that is not valid Python gives ``syntax_error``;
2. finds the functions by their names (``learner.py``): ``init_params``, ``forward_prop``,
   ``backward_prop``, ``update_params``, ``compute_cost`` and their usual variants, and calls
   them with what their argument names ask for (``cannot_bind`` says what it looked for);
3. on a batch of 64 images of the shipped sample (pixels scaled as the code scales them),
   compares every array of their forward pass with the formula on the same weights
   (``wrong_forward``, ``bad_softmax``), every gradient their backward pass returns with the true
   gradient of the cross-entropy (checked by central differences) (``wrong_gradient``,
   ``global_batch_size``), and their cost with the cross-entropy (``wrong_cost``);
4. trains their network with their own functions (their update, or plain gradient descent) for
   a few hundred minibatches, measures it layer by layer and applies the doctor's rules
   (``collapsed_predictions``, ``vanishing_activations``, ``diverging``, ...), with the fixes
   written in the notebooks' notation.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_dataset
from ..errors import SpecError
from ..nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from ..nn.layers import Dense, Layer
from ..nn.network import Network
from ..nn.probe import measure
from .checks import check_inputs
from .compare import (
    ForwardCheck,
    GradientCase,
    Notation,
    check_forward,
    cost_formula,
    cross_entropy,
    explain_cost,
    explain_gradient,
    explain_init,
    explain_update,
    numerical_gradient,
    one_hot,
    rel_error,
    true_gradients,
)
from .findings import Advice, Diagnosis, Finding, Thresholds, jsonable, ordered
from .learner import (
    OUTPUT_NAMES,
    BindError,
    Call,
    LearnerCodeError,
    LearnerNet,
    architecture,
    norm,
)
from .rules import Observations, run_rules
from .source import CodeSyntaxError, LearnerSource, calls_in, from_namespace, load_file

#: images in the batch the arrays are compared on (every class appears in it)
CHECK_BATCH = 64
#: probe images for the measurements after training
PROBE = 512
#: entries per gradient array checked against central differences
NUMERIC_ENTRIES = 12
#: learning rate when the code gives none
FALLBACK_LR = 0.1
#: findings that make the brief training say nothing about the network itself
CODE_BUGS = {"code_error", "wrong_init", "wrong_forward", "bad_softmax", "wrong_gradient",
             "wrong_update"}


@dataclass
class CodeDiagnosis(Diagnosis):
    """The doctor's result for a learner's code: findings (as ``Diagnosis``), what it found in
    the code, and the cost before and after the brief training."""

    #: lines saying which function plays which role, and the network's shape
    found: list[str] = field(default_factory=list)
    #: lines saying what was compared, and how well it agreed
    checked: list[str] = field(default_factory=list)
    #: the cross-entropy in the learner's notation and its values
    cost: dict[str, Any] = field(default_factory=dict)
    #: the network as read: sizes, layout, activations, bound functions
    network: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"findings": [...], "cost": {...}, "network": {...}}``"""
        return {"findings": [f.as_dict() for f in self.findings], "cost": jsonable(self.cost),
                "network": jsonable(self.network)}

    def __str__(self) -> str:
        lines = list(self.found) + list(self.checked)
        if self.cost:
            c = self.cost
            lines.append(f"cost: {c['formula']}")
            lines.append(f"      in NumPy: {c['numpy']}")
            if c.get("before") is not None:
                lines.append(f"      J = {c['before']:.4g} on {c['batch']} sample images with the "
                             "initial weights" + (f" (your {c['function']}() gives "
                                                  f"{c['yours']:.4g})" if c.get("yours")
                                                  is not None else ""))
            if c.get("after") is not None:
                lines.append(f"      J = {c['after']:.4g} on {c['probe']} other images after "
                             f"{c['steps']} training steps with your functions")
        if self.summary:
            lines.append(self.summary)
        return "\n".join(lines + self.table() + self.findings_text())


def check_code(source: str | os.PathLike | Mapping[str, Any] | None = None, *,
               init: Callable[..., Any] | str | None = None,
               forward: Callable[..., Any] | str | None = None,
               backward: Callable[..., Any] | str | None = None,
               update: Callable[..., Any] | str | None = None,
               cost: Callable[..., Any] | str | None = None,
               params: Mapping[str, np.ndarray] | None = None, steps: int = 300,
               batch_size: int = CHECK_BATCH, lr: float | None = None,
               pixels: str = "auto", seed: int = 0,
               thresholds: Thresholds | None = None) -> CodeDiagnosis:
    """Find the learner's network in their code and diagnose it.

    ``source``: a ``.py`` or ``.ipynb`` file, or a namespace such as ``globals()`` of the
    notebook. ``init``/``forward``/``backward``/``update``/``cost``: the functions themselves, or
    their names, where the doctor cannot tell them by their names (``forward`` and ``backward``
    are needed; ``init`` or ``params`` gives the weights). ``steps``: minibatches of brief
    training with their functions (0: only compare). ``pixels``: "auto" (as their code scales
    them: divided by 255 if it does so anywhere), "01" or "255".
    """
    th = thresholds or Thresholds()
    if steps < 0 or batch_size < 10:
        raise SpecError(f"steps must be >= 0 and the batch at least 10 images (one per class), "
                        f"got {steps}, {batch_size}")
    if pixels not in ("auto", "01", "255"):
        raise SpecError(f"pixels must be 'auto', '01' or '255', got {pixels!r}")
    try:
        src = _source(source, dict(init=init, forward=forward, backward=backward, update=update,
                                   cost=cost))
    except CodeSyntaxError as e:
        return CodeDiagnosis(findings=[Finding("syntax_error", (
            f"{e}. This is not valid Python, so nothing in the file can run: fix this line "
            "first (the doctor reads the whole file before it runs any of it)."),
            {"where": e.where, "text": e.text, "error": e.detail})])
    given = {k: v for k, v in dict(init=init, forward=forward, backward=backward,
                                   update=update, cost=cost).items() if v is not None}
    try:
        net = LearnerNet(src, given)
        return _Checker(net, src, params, steps, batch_size, lr, pixels, seed, th).run()
    except BindError as e:
        return CodeDiagnosis(findings=[Finding("cannot_bind", str(e), {"origin": src.origin})])


def _source(source: Any, given: dict[str, Any]) -> LearnerSource:
    if source is None:
        ns = {getattr(f, "__name__", k): f for k, f in given.items() if callable(f)}
        fns = [f for f in given.values() if callable(f)]
        glob = dict(getattr(fns[0], "__globals__", {})) if fns else {}
        return from_namespace({**glob, **ns}, origin="your functions",
                              module=getattr(fns[0], "__module__", None) if fns else None)
    if isinstance(source, Mapping):
        return from_namespace(source)
    return load_file(Path(source))


# --- the check itself -----------------------------------------------------------------------------
class _Checker:
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
        self.lr_name, self.lr = self._learning_rate(lr)
        self.findings: list[Finding] = []
        self.d = CodeDiagnosis(findings=[])
        self.one_hot = False

    # --- data in their layout ------------------------------------------------------------------
    def X(self, rows: np.ndarray) -> np.ndarray:
        """Images (rows of the sample) as their code takes them: float64, columns or rows,
        scaled to [0, 1] or raw 0..255."""
        x = rows.astype(np.float64) * self.scale
        return x.T.copy() if self.arch.columns else x.copy()

    def Y(self, y: np.ndarray) -> np.ndarray:
        if not self.one_hot:
            return y.copy()
        Y = one_hot(y, self.arch.sizes[-1])
        return Y if self.arch.columns else Y.T.copy()

    def canon(self, a: Any) -> np.ndarray | None:
        """A learner's 2-D array in the column layout (None if it is not an array)."""
        if not isinstance(a, np.ndarray) or a.dtype == object:
            return None
        a = a.astype(np.float64)
        return a if self.arch.columns or a.ndim != 2 else a.T

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
        values = {"@nin": 784, "@nout": 10, "@dims": self._dims_constant()}
        c = self.net.call("init", {k: v for k, v in values.items() if v is not None})
        p = c.named if c.named else (c.value if isinstance(c.value, dict) else {})
        params = {str(k): np.array(v, dtype=np.float64) for k, v in p.items()
                  if isinstance(v, np.ndarray)}
        self.params_style = "dict" if isinstance(c.value, dict) else "arrays"
        return params, f"{self.net.names['init']}()"

    def _dims_constant(self) -> list[int] | None:
        for v in self.src.namespace.values():
            if isinstance(v, list | tuple) and len(v) >= 2 and all(
                    isinstance(n, int) for n in v) and v[0] in (784, 785):
                return list(v)
        return None

    def _learning_rate(self, lr: float | None) -> tuple[str, float]:
        """The learning rate: given, else the one their code trains with (a call in the skipped
        code, or a default of their update/training function), else 0.1."""
        name = "alpha"
        for role in ("update",):
            fn = self.net.funcs.get(role)
            if fn is not None:
                import inspect

                for p in inspect.signature(fn).parameters.values():
                    if norm(p.name) in ("alpha", "learningrate", "lr", "eta", "stepsize",
                                        "rate"):
                        name = p.name
                        if lr is None and isinstance(p.default, int | float) and not isinstance(
                                p.default, bool) and p.default > 0:
                            lr = float(p.default)
        if lr is None:
            lr = self._lr_from_calls()
        return name, float(lr if lr is not None else FALLBACK_LR)

    def _lr_from_calls(self) -> float | None:
        """``gradient_descent(X, Y, 0.10, 500)`` in the skipped code: the argument in the place
        of a parameter called alpha / learning_rate / lr."""
        import ast
        import inspect

        for fname, calls in self.src.calls.items():
            fn = self.src.namespace.get(fname)
            if not callable(fn) or fname not in self.src.defs:
                continue
            try:
                params = list(inspect.signature(fn).parameters.values())
            except (TypeError, ValueError):
                continue
            for args, kwargs in calls:
                for i, p in enumerate(params):
                    if norm(p.name) not in ("alpha", "learningrate", "lr", "eta"):
                        continue
                    node = kwargs.get(p.name) or (args[i] if i < len(args) else None)
                    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
                        return float(node.value)
                    if node is None and isinstance(p.default, int | float) and p.default > 0:
                        return float(p.default)
        return None

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> CodeDiagnosis:
        d = self.d
        try:
            params, origin = self.initial_params()
            self.arch = arch = architecture(params)
        except LearnerCodeError as e:
            return self._code_error(e)
        self.note = Notation(W=arch.W, b=arch.b, columns=arch.columns,
                             lower=arch.W[0][0] == "w")
        idx = self.check_batch()
        xb, yb = self.x[idx], self.y[idx]
        self.m_check = len(idx)
        self._describe(origin)
        bad_init = explain_init(self.weights(params)[0], self.note)
        if bad_init:
            self.findings.append(Finding("wrong_init", bad_init + ".", {
                "function": self.net.names.get("init"), "weights": self.arch.W}))
            if "NaN" in bad_init:
                self.d.findings = ordered(self.findings)
                return self.d
        if self.scale != 1.0:
            self.findings += check_inputs(self.X(self.xp).T if arch.columns else self.X(self.xp),
                                          self.yp, 10, self.th, self._advice())
        try:
            fc, fwd = self.forward_check(params, xb)
            if fc.ok:
                grads = self.gradient_check(params, fc, fwd, xb, yb)
                self.cost_check(fc, fwd, yb)
                self.update_check(params, grads)
        except LearnerCodeError as e:
            return self._code_error(e)
        if self.steps:
            self.train(params, fc)
        d.findings = run_rules(self.obs, self.findings) if getattr(self, "obs", None) \
            else ordered(self.findings)
        return d

    def _code_error(self, e: LearnerCodeError) -> CodeDiagnosis:
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

    def theirs(self, fwd: Call) -> Callable[[str, int], np.ndarray | None]:
        """Look up their Z[l] / A[l]: by name in what forward returned, in its local variables,
        or in course-style caches [((A_prev, W, b), Z), ...]."""
        named = {norm(k): v for k, v in fwd.locals.items()}
        named.update({norm(k): v for k, v in fwd.named.items()})
        caches = _course_caches(fwd, self.arch.L)

        def get(kind: str, l: int) -> np.ndarray | None:
            v = named.get(f"{kind.lower()}{l}")
            if v is None and caches is not None:
                if kind == "Z":
                    v = caches[l - 1][1]
                elif l < self.arch.L:
                    v = caches[l][0][0]
            return self.canon(v) if isinstance(v, np.ndarray) else None
        return get

    def output(self, fwd: Call) -> np.ndarray | None:
        L, n_out = self.arch.L, self.arch.sizes[-1]
        named = {norm(k): v for k, v in fwd.named.items()}
        for key in (f"a{L}", *(norm(n) for n in OUTPUT_NAMES)):
            if isinstance(named.get(key), np.ndarray):
                return self.canon(named[key])
        value = fwd.value
        if isinstance(value, tuple | list) and value:
            value = value[0] if isinstance(value[0], np.ndarray) and np.shape(
                value[0])[0 if self.arch.columns else -1] == n_out else value[-1]
        return self.canon(value) if isinstance(value, np.ndarray) else None

    def weights(self, params: dict[str, Any]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """W[l] (n_out, n_in) and b[l] (n_out, 1) in the column layout, biases unfolded."""
        a, Ws, bs = self.arch, [], []
        for Wk, bk in zip(a.W, a.b, strict=True):
            W = np.asarray(params[Wk], dtype=np.float64)
            W = W if a.columns else W.T
            if a.folded:
                b, W = (W[:, :1], W[:, 1:]) if a.bias_first else (W[:, -1:], W[:, :-1])
            elif bk is not None:
                b = np.asarray(params[bk], dtype=np.float64).reshape(-1, 1)
            else:
                b = np.zeros((W.shape[0], 1))
            Ws.append(W)
            bs.append(b)
        return Ws, bs

    def forward_check(self, params: dict[str, Any], xb: np.ndarray) -> tuple[ForwardCheck, Call]:
        X = self.X(xb)
        fwd = self.forward(params, X)
        fn = self.net.names["forward"]
        if fwd.value is None:
            arrays = ", ".join(f"{self.note.Z(l)}, {self.note.A(l)}"
                               for l in range(1, self.arch.L + 1))
            raise BindError(f"{fn}() returns None: end it with its arrays, e.g. `return "
                            f"{arrays}` (or `return {self.note.A(self.arch.L)}, cache`)")
        if self.output(fwd) is None:
            raise BindError(f"{fn}() returned {_describe_value(fwd.value)}: the doctor found no "
                            f"output probabilities in it ({self.note.A(self.arch.L)}, AL, yhat or "
                            "the first array it returns)")
        get = self.theirs(fwd)
        if self.arch.folded:  # which end of W holds the bias? the one that reproduces Z1
            Z1 = get("Z", 1)
            if Z1 is not None:
                self.arch.bias_first = True
                Ws, bs = self.weights(params)
                first = rel_error(Z1, Ws[0] @ (X if self.arch.columns else X.T) + bs[0])
                self.arch.bias_first = False
                Ws, bs = self.weights(params)
                last = rel_error(Z1, Ws[0] @ (X if self.arch.columns else X.T) + bs[0])
                self.arch.bias_first = first <= last
        Ws, bs = self.weights(params)
        Xc = X if self.arch.columns else X.T
        fc = check_forward(Xc, Ws, bs, get, self.output(fwd), self._guess_activation(),
                           self.note, self.th.code_tolerance)
        self.findings += fc.findings
        self.fc = fc
        self.d.network["activations"] = fc.activations
        if fc.ok:
            self.d.checked.append(f"checked on {len(xb)} sample images: forward "
                                  + (", ".join(fc.checked) or "output") + " agree with the "
                                  "formulas on the same weights")
        return fc, fwd

    def _guess_activation(self) -> str:
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
        Ws, _ = self.weights(params)
        tg = true_gradients(fc, Ws, yb)
        self.params0 = params
        grads, self.one_hot = self._backward_with_best_labels(params, fwd, xb, yb, tg)
        if not any(self._grad_of(k, grads) is not None for k in params):
            fn = self.net.names["backward"]
            raise BindError(
                f"{fn}() returned {_describe_value(self._last_backward)}: the doctor reads the "
                "gradients by the names in its return statement (`return dW1, db1, dW2, db2`) or "
                "from a dict with keys like \"dW1\" (or \"dw1\"), one for each weight")
        self.d.network["labels"] = ("one-hot, (10, m)" if self.arch.columns else
                                    "one-hot, (m, 10)") if self.one_hot else "class numbers, (m,)"
        self.note.labels_one_hot = self.one_hot
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
                                    true=self._to_theirs(tg.dW[l - 1], tg.db[l - 1], l, is_bias),
                                    param_shape=np.shape(params[key]))
                res = explain_gradient(case, m, note, tol, self.net.number_globals, tg, fc,
                                       self._to_theirs)
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
        new = self._update({k: np.array(v) for k, v in params.items()}, grads)
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
            self.one_hot = oh
            try:
                grads = self.backward(params, fwd, self.X(xb), self.Y(yb))
            except LearnerCodeError as e:
                error = error or e
                continue
            score = sum(_mismatch(self._grad_of(k, grads), self._to_theirs(
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
        import ast

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
        extra["@cache"] = _cache_value(fwd)
        out = self.output(fwd)
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

    def _to_theirs(self, dW: np.ndarray, db: np.ndarray, l: int, is_bias: bool) -> np.ndarray:
        """Column-layout gradients of layer ``l`` (dW (n_out, n_in), db (n_out, 1)) as the
        learner's array for W or b: their layout, their parameter's shape, and a folded bias as
        a column of dW."""
        a = self.arch
        if is_bias:
            shape = np.shape(self.params0[a.b[l - 1]])
            g = db if a.columns else db.T
            return g.reshape(shape) if np.prod(shape) == g.size else g
        if a.folded:
            dW = np.hstack([db, dW] if a.bias_first else [dW, db])
        return dW if a.columns else dW.T

    def _numeric_check(self, params: dict[str, Any], tg: Any, xb: np.ndarray,
                       yb: np.ndarray) -> dict[str, float | None]:
        """The true gradients against central differences of J, on a few entries each."""
        Ws, bs = self.weights(params)
        # contiguous copies: reshape(-1) of a strided view (a folded bias column) would copy,
        # and the finite differences would then perturb nothing
        Ws, bs = [np.ascontiguousarray(W).copy() for W in Ws], [b.copy() for b in bs]
        Xc = self.X(xb) if self.arch.columns else self.X(xb).T
        rng = np.random.default_rng(self.seed)
        acts = self.fc.activations

        def J() -> float:
            A = Xc
            for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                Z = W @ A + b
                A = Z if l == len(Ws) - 1 else _act(acts[l])(Z)
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
        out = self.output(fwd)
        extra["@AL"] = out
        extra.setdefault(f"A{self.arch.L}", out)
        c, error = None, None
        backward_form = self.one_hot
        for form in (self.one_hot, not self.one_hot):  # its own label form, as for backward
            self.one_hot = form
            try:
                c = self.net.call("cost", self.values(
                    self.params0, self.X(np.zeros((len(yb), 784))), self.Y(yb),
                    {**extra, **self._al_aliases(fwd)}))
                break
            except LearnerCodeError as e:
                error = error or e
        self.one_hot = backward_form
        if c is None:
            self._code_error(error)  # type: ignore[arg-type]
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
        import inspect

        first = next(iter(inspect.signature(fn).parameters), None)
        L = self.arch.L
        key = next((k for k in named if norm(k) in (f"a{L}", *map(norm, OUTPUT_NAMES))), None)
        if first and first not in named:
            return {first: named[key] if key else out}
        return {}

    # --- brief training with their functions ---------------------------------------------------
    def _advice(self) -> Advice:
        a = self.arch
        W1 = a.W[0]
        n1 = a.sizes[1]
        act = (self.fc.activations[0] if getattr(self, "fc", None) and self.fc.activations
               else "ReLU")
        he = act in ("ReLU", "leaky ReLU")
        scale = "np.sqrt(2 / n_prev)" if he else "np.sqrt(1 / n_prev)"
        names: dict[str, str] = {}
        for l in range(1, a.L + 1):
            names[f"{2 * (l - 1)}.W"] = a.W[l - 1]
            names[f"{2 * l - 1} {_layer_type(act)}"] = self.note.A(l)
        for l, act_l in enumerate(getattr(getattr(self, "fc", None), "activations", []), 1):
            names[f"{2 * l - 1} {_layer_type(act_l)}"] = self.note.A(l)
        return Advice(
            init_fix=(f"start each weight matrix at {'He' if he else 'Xavier'} scale, "
                      f"np.random.randn(n, n_prev) * {scale} with n_prev the number of inputs "
                      f"of the layer (e.g. {W1} = np.random.randn({n1}, 784) * "
                      f"np.sqrt({2 if he else 1} / 784)), not * 0.01"),
            scale_fix="divide the pixels by 255 where you load them (X = X / 255.)",
            leaky_fix="a leaky ReLU, np.where(Z > 0, Z, 0.01 * Z), with derivative "
                      "np.where(Z > 0, 1, 0.01)",
            small_gradient_fix=("Start the weights at He scale (np.random.randn(n, n_prev) * "
                                "np.sqrt(2 / n_prev)); sigmoid and tanh saturate in deep "
                                "networks: prefer ReLU."),
            lr_option=f"{self.lr_name} = {{lr:g}}", names=names)

    def train(self, params: dict[str, Any], fc: ForwardCheck) -> None:
        """Train with their functions for ``steps`` minibatches; measure before and after."""
        rng = np.random.default_rng(self.seed)
        p = {k: v.copy() for k, v in params.items()}
        acts = fc.activations if fc.ok else [self._guess_activation()] * (self.arch.L - 1)
        before = self._measure(p, acts)
        losses: list[float] = []
        diverged_at, stopped = None, ""
        update = self.net.names.get("update")
        for step in range(self.steps):
            idx = rng.integers(0, len(self.y), self.batch)
            X, Y = self.X(self.x[idx]), self.Y(self.y[idx])
            try:
                fwd = self.forward(p, X)
                out = self.output(fwd)
                loss = cross_entropy(out, self.y[idx]) if out is not None and out.shape == (
                    self.arch.sizes[-1], len(idx)) else math.nan
                losses.append(loss)
                if not math.isfinite(loss):
                    diverged_at = step
                    break
                grads = self.backward(p, fwd, X, Y)
                p = self._update(p, grads)
            except LearnerCodeError as e:
                stopped = f"training stopped at step {step + 1}: {e}"
                break
        shapes_kept = all(np.shape(p[k]) == np.shape(v) for k, v in params.items() if k in p)
        after = self._measure(p, acts) if diverged_at is None and shapes_kept else None
        self.d.losses = losses
        how = f"your {update}()" if update else "plain gradient descent (W -= alpha * dW)"
        run = f"{self.steps} steps of {how}, {self.lr_name} {self.lr:g}, batch {self.batch}"
        if before is None:
            self.d.summary = f"trained {run} (not measured: {self._unmeasurable})"
            return
        if not shapes_kept:
            changed = [f"{k} {np.shape(params[k])} -> {np.shape(p[k])}" for k in params
                       if k in p and np.shape(p[k]) != np.shape(params[k])]
            self.d.summary = (f"trained {run}: the weights changed shape ({', '.join(changed)}),"
                              " so they were not measured after training")
            for f in self.findings:
                if f.id == "wrong_gradient":
                    f.evidence["shapes_after_training"] = changed
            after = before
        if stopped:
            self.d.summary = f"trained {run}; {stopped}"
        if after is not None and diverged_at is None and not stopped:
            self.d.summary = (f"trained {run}: probe loss {before['loss']:.4g} before, "
                              f"{after['loss']:.4g} after; probe accuracy "
                              f"{after['accuracy']:.3f} on {len(self.yp)} images")
            self.d.cost.update(after=after["loss"], probe=len(self.yp), steps=len(losses))
        elif diverged_at is not None:
            self.d.summary = f"trained {run}: the loss became {losses[-1]} at step " \
                             f"{diverged_at + 1}"
        blocking = sorted({f.id for f in self.findings} & CODE_BUGS)
        if not fc.ok or blocking:
            # the training ran on code that is wrong: its measurements show symptoms of that,
            # and the advice they would give (e.g. a lower learning rate) would mislead
            self.d.summary += (f" (the per-layer measurements are not read into findings until "
                               f"the {', '.join(blocking) or 'forward'} findings are fixed)")
            return
        self.d.measured = f"after {len(losses)} training steps with your functions"
        o = Observations(before=before, after=after if after is not None else before,
                         probe_labels=self.yp, n_classes=10,
                         class_names=[str(i) for i in range(10)],
                         optimizer=f"{update}()" if update else "gradient descent",
                         lr=self.lr, steps=len(losses) or self.steps, losses=losses,
                         diverged_at=diverged_at, th=self.th, advice=self._advice())
        self.obs = o
        shown = o.after if not o.diverged else before
        self.d.activations = [{**a, "layer": o.advice.name(a["layer"])}
                              for a in shown["activations"]]
        self.d.gradients = [{**g, "param": o.advice.name(g["param"])}
                            for g in shown["gradients"]]

    def _update(self, p: dict[str, Any], grads: dict[str, Any]) -> dict[str, Any]:
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
            import inspect

            order = [n for n in inspect.signature(self.net.funcs["update"]).parameters if n in p]
            if len(order) == len(c.value):
                new.update(dict(zip(order, c.value, strict=True)))
        return new

    def _measure(self, p: dict[str, Any], acts: list[str]) -> dict[str, Any] | None:
        try:
            net = self._network(p, acts)
        except (SpecError, ValueError, KeyError) as e:
            self._unmeasurable = str(e)
            return None
        with np.errstate(all="ignore"):
            return measure(net, self.xp.astype(np.float64) * self.scale, self.yp)

    def _network(self, p: dict[str, Any], acts: list[str]) -> Network:
        """digitnet's Network with the learner's weights (rows: W.T, b as a vector)."""
        Ws, bs = self.weights(p)
        layers: list[Layer] = []
        for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            dense = Dense(W.shape[1], W.shape[0], dtype=np.float64)
            dense.params["W"][...] = W.T
            dense.params["b"][...] = b.reshape(-1)
            layers.append(dense)
            if l < len(Ws) - 1:
                layers.append(_layer_class(acts[l] if l < len(acts) else "ReLU")())
        return Network(layers, seed=None, dtype=np.float64)


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


def _act(name: str) -> Callable[[np.ndarray], np.ndarray]:
    from .compare import ACTIVATIONS

    return ACTIVATIONS[name][0]


def _layer_class(act: str) -> type[Layer]:
    return {"ReLU": ReLU, "leaky ReLU": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}[act]


def _layer_type(act: str) -> str:
    return _layer_class(act).__name__


def _as_float(v: Any) -> float | None:
    try:
        return float(np.squeeze(np.asarray(v, dtype=np.float64)))
    except (TypeError, ValueError):
        return None


def _course_caches(fwd: Call, L: int) -> list[Any] | None:
    """The course's list of caches, [((A_prev, W, b), Z), ...], one per layer, if returned."""
    candidates = list(fwd.named.values())
    if isinstance(fwd.value, tuple | list):
        candidates += list(fwd.value)
    for c in candidates:
        if isinstance(c, list) and len(c) == L and all(
                isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], tuple)
                and len(e[0]) == 3 and isinstance(e[1], np.ndarray) for e in c):
            return c
    return None


def _cache_value(fwd: Call) -> Any:
    """What their backward pass calls ``cache``: the second returned value, usually."""
    v = fwd.value
    if isinstance(v, tuple | list) and len(v) == 2:
        return v[1]
    return v


def _grads_dict(grads: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """Their gradients as a dict keyed like their code keys it ("dW1" or "dw1")."""
    out = {}
    for k in p:
        for cand in (f"d{k}",):
            if norm(cand) in grads:
                out[cand] = grads[norm(cand)]
    return out


__all__ = ["CodeDiagnosis", "check_code"]
