"""The four checks of a learner's functions against the formulas, on one batch: their forward
pass, their gradients (with the label form their code takes), their cost, their update. Each
adds its findings to the run (``Checker``) and the lines of what agreed to its diagnosis."""

from __future__ import annotations

import ast
import inspect
from typing import TYPE_CHECKING, Any

import numpy as np

from ...gradcheck import numerical_gradient
from ..findings import Finding
from .binding import OUTPUT_NAMES, BindError, Call, LearnerCodeError, norm
from .explain import cost_formula, explain_cost, explain_update
from .formulas import ACTIVATIONS, cross_entropy, rel_error, true_gradients
from .forward import ForwardCheck, check_forward
from .gradients import GradientCase, explain_gradient
from .source import calls_in

if TYPE_CHECKING:
    from .checker import Checker

#: entries per gradient array checked against central differences
NUMERIC_ENTRIES = 12


def forward_check(c: Checker, params: dict[str, Any], xb: np.ndarray) -> tuple[ForwardCheck, Call]:
    X = c.layout.X(xb)
    fwd = c.forward(params, X)
    fn = c.net.names["forward"]
    if fwd.value is None:
        arrays = ", ".join(f"{c.note.Z(l)}, {c.note.A(l)}"
                           for l in range(1, c.arch.L + 1))
        raise BindError(f"{fn}() returns None: end it with its arrays, e.g. `return "
                        f"{arrays}` (or `return {c.note.A(c.arch.L)}, cache`)")
    if c.layout.output(fwd) is None:
        raise BindError(f"{fn}() returned {_describe_value(fwd.value)}: the doctor found no "
                        f"output probabilities in it ({c.note.A(c.arch.L)}, AL, yhat or "
                        "the first array it returns)")
    get = c.layout.theirs(fwd)
    if c.arch.folded:  # which end of W holds the bias? the one that reproduces Z1
        Z1 = get("Z", 1)
        if Z1 is not None:
            c.arch.bias_first = True
            Ws, bs = c.layout.weights(params)
            first = rel_error(Z1, Ws[0] @ (X if c.arch.columns else X.T) + bs[0])
            c.arch.bias_first = False
            Ws, bs = c.layout.weights(params)
            last = rel_error(Z1, Ws[0] @ (X if c.arch.columns else X.T) + bs[0])
            c.arch.bias_first = first <= last
    Ws, bs = c.layout.weights(params)
    Xc = X if c.arch.columns else X.T
    fc = check_forward(Xc, Ws, bs, get, c.layout.output(fwd), c.guess_activation(),
                       c.note, c.th.code_tolerance)
    c.findings += fc.findings
    c.fc = fc
    c.d.network["activations"] = fc.activations
    if fc.ok:
        c.d.checked.append(f"checked on {len(xb)} sample images: forward "
                              + (", ".join(fc.checked) or "output") + " agree with the "
                              "formulas on the same weights")
    return fc, fwd


def gradient_check(c: Checker, params: dict[str, Any], fc: ForwardCheck, fwd: Call,
                   xb: np.ndarray, yb: np.ndarray) -> None:
    Ws, _ = c.layout.weights(params)
    tg = true_gradients(fc.A, fc.Z, fc.activations, Ws, yb)
    c.params0 = params
    grads, c.layout.one_hot = _backward_with_best_labels(c, params, fwd, xb, yb, tg)
    if not any(c.grad_of(k, grads) is not None for k in params):
        fn = c.net.names["backward"]
        raise BindError(
            f"{fn}() returned {_describe_value(c._last_backward)}: the doctor reads the "
            "gradients by the names in its return statement (`return dW1, db1, dW2, db2`) or "
            "from a dict with keys like \"dW1\" (or \"dw1\"), one for each weight")
    one_hot = "one-hot, (10, m)" if c.arch.columns else "one-hot, (m, 10)"
    c.d.network["labels"] = one_hot if c.layout.one_hot else "class numbers, (m,)"
    c.note.labels_one_hot = c.layout.one_hot
    m, a, note, tol = len(yb), c.arch, c.note, c.th.code_tolerance
    numeric = _numeric_check(c, params, tg, xb, yb)
    groups: dict[str, Finding] = {}
    #: the first finding whose wrong dZ is carried down to the layers before it
    carried: Finding | None = None
    checked = []
    for l in range(a.L, 0, -1):
        for key, is_bias in ((a.W[l - 1], False), (a.b[l - 1], True)):
            if key is None:
                continue
            case = GradientCase(name=f"d{key}", param=key, layer=l, is_bias=is_bias,
                                theirs=c.grad_of(key, grads),
                                true=c.layout.to_theirs(tg.dW[l - 1], tg.db[l - 1], l,
                                                           is_bias),
                                param_shape=np.shape(params[key]))
            res = explain_gradient(case, m, note, tol, c.net.number_globals, tg, fc,
                                   c.layout.to_theirs)
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
    c.findings += groups.values()
    if checked:
        worst = max((v for v in numeric.values() if v is not None), default=0.0)
        # central differences are meaningless where a Z sits exactly at ReLU's kink (W = 0)
        c.d.checked.append(
            f"gradients {', '.join(checked)} agree with the true gradient of the "
            "cross-entropy" + (f" (which agrees with central differences to {worst:.1e})"
                               if worst < 1e-4 else ""))
    for name, fn in c.net.batch_globals.items():
        s = c.src.where_assigned(name)
        origin = (f"set at {s.where} (`{s.text}`) by code the doctor does not run"
                  if s else "set outside any function")
        c.findings.append(Finding("global_batch_size", (
            f"{fn}() divides by the global {name}, {origin}, not by the number of examples "
            f"it is given. The doctor set {name} to the batch size ({m}) to check the rest. "
            f"It is right only while every call passes all {name} examples: with a dev "
            f"split, minibatches or the test set the gradients are scaled wrongly. Compute "
            f"it inside {fn}(): {name} = {note.A(0)}.shape[{note.batch_axis}]."),
            {"global": name, "function": fn, "where": s.where if s else None}))
    return grads


def update_check(c: Checker, params: dict[str, Any], grads: dict[str, Any]) -> None:
    """One call of their update against W - alpha * dW, with their own gradients."""
    if "update" not in c.net.funcs:
        return
    before = {k: np.array(v) for k, v in params.items()}
    new = c.apply_update({k: np.array(v) for k, v in params.items()}, grads)
    fn = c.net.names["update"]
    problems = []
    for key in [k for pair in zip(c.arch.W, c.arch.b, strict=True) for k in pair if k]:
        why = explain_update(key, before[key], new.get(key), c.grad_of(key, grads),
                             c.lr, c.lr_name, fn)
        if why:
            problems.append((key, why))
    if not problems:
        c.d.checked.append(f"{fn}() computes W - {c.lr_name} * dW for every weight")
        return
    keys = [k for k, _ in problems]
    if c._update_returned_none and all("unchanged" in w for _, w in problems):
        names = ", ".join(k for pair in zip(c.arch.W, c.arch.b, strict=True)
                          for k in pair if k)
        message = (f"{fn}() returns nothing (None) and changes no weight in place, so the new "
                   f"weights never reach the next step: end it with `return {names}`"
                   if c.params_style == "arrays" else
                   f"{fn}() returns nothing (None) and changes no weight in place: end it "
                   "with `return parameters`")
    else:
        message = problems[0][1] + (f"; also wrong: {', '.join(keys[1:])}" if keys[1:]
                                    else "")
    c.findings.append(Finding("wrong_update", message + ".", {
        "function": fn, "weights": keys, "lr": c.lr}))


def _backward_with_best_labels(c: Checker, params: dict[str, Any], fwd: Call, xb: np.ndarray,
                               yb: np.ndarray, tg: Any) -> tuple[dict[str, Any], bool]:
    """Their backward pass with labels as class numbers or one-hot, whichever their code
    takes: the one that runs and gives gradients closest to the true ones."""
    order = [False, True] if _takes_class_numbers(c) else [True, False]
    best, error = None, None
    for oh in order:
        c.layout.one_hot = oh
        try:
            grads = c.backward(params, fwd, c.layout.X(xb), c.layout.Y(yb))
        except LearnerCodeError as e:
            error = error or e
            continue
        score = sum(_mismatch(c.grad_of(k, grads), c.layout.to_theirs(
            tg.dW[l], tg.db[l], l + 1, bias))
            for l in range(c.arch.L) for k, bias in ((c.arch.W[l], False),
                                                         (c.arch.b[l], True)) if k)
        if best is None or score < best[0]:
            best = (score, grads, oh)
        if score < 1e-3:
            break
    if best is None:
        raise error  # type: ignore[misc]
    return best[1], best[2]


def _takes_class_numbers(c: Checker) -> bool:
    for tree in c.net._trees_reached("backward"):
        if any("onehot" in norm(c) or c in ("eye",) for c in calls_in(tree)):
            return True
        if "onehot" in norm(tree.name):
            return True
    for tree in c.net._trees_reached("backward"):  # dz2[y, np.arange(m)] -= 1
        for n in ast.walk(tree):
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Tuple) and any(
                    isinstance(e, ast.Name) and norm(e.id) in ("y", "labels", "ytrue")
                    for e in n.slice.elts):
                return True
    return False


def _numeric_check(c: Checker, params: dict[str, Any], tg: Any, xb: np.ndarray,
                   yb: np.ndarray) -> dict[str, float | None]:
    """The true gradients against central differences of J, on a few entries each."""
    Ws, bs = c.layout.weights(params)
    # contiguous copies: reshape(-1) of a strided view (a folded bias column) would copy,
    # and the finite differences would then perturb nothing
    Ws, bs = [np.ascontiguousarray(W).copy() for W in Ws], [b.copy() for b in bs]
    Xc = c.layout.X(xb) if c.arch.columns else c.layout.X(xb).T
    rng = np.random.default_rng(c.seed)
    acts = c.fc.activations

    def J() -> float:
        A = Xc
        for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            Z = W @ A + b
            A = Z if l == len(Ws) - 1 else ACTIVATIONS[acts[l]][0](Z)
        E = np.exp(A - A.max(axis=0, keepdims=True))
        return cross_entropy(E / E.sum(axis=0, keepdims=True), yb)

    out: dict[str, float | None] = {}
    for l in range(c.arch.L):
        for key, arr, true in ((c.arch.W[l], Ws[l], tg.dW[l]),
                               (c.arch.b[l] or f"b{l + 1}", bs[l], tg.db[l])):
            idx = rng.choice(arr.size, min(NUMERIC_ENTRIES, arr.size), replace=False)
            num = numerical_gradient(J, arr, idx)
            out[key] = rel_error(num, true.reshape(-1)[idx])
    return out

# --- cost ----------------------------------------------------------------------------------


def cost_check(c: Checker, fc: ForwardCheck, fwd: Call, yb: np.ndarray) -> None:
    P = fc.A[-1]
    c.d.cost = {**cost_formula(c.note), "before": cross_entropy(P, yb),
                   "batch": len(yb), "function": c.net.names.get("cost")}
    if "cost" not in c.net.funcs:
        return
    extra = dict(fwd.named)
    out = c.layout.output(fwd)
    extra["@AL"] = out
    extra.setdefault(f"A{c.arch.L}", out)
    call, error = None, None
    backward_form = c.layout.one_hot
    # the cost may take the labels in another form than backward does: try both
    for form in (c.layout.one_hot, not c.layout.one_hot):
        c.layout.one_hot = form
        try:
            call = c.net.call("cost", c.values(
                c.params0, c.layout.X(np.zeros((len(yb), 784))), c.layout.Y(yb),
                {**extra, **_al_aliases(c, fwd)}))
            break
        except LearnerCodeError as e:
            error = error or e
    c.layout.one_hot = backward_form
    if call is None:
        c.code_error(error)  # type: ignore[arg-type]
        return
    value = call.value[0] if isinstance(call.value, tuple) and call.value else call.value
    c.d.cost["yours"] = _as_float(value)
    why = explain_cost(value, P, yb, c.note, c.net.names["cost"],
                       max(c.th.code_tolerance, 1e-6))
    if why:
        c.findings.append(Finding("wrong_cost", (
            f"{why}. The cost to minimise is the cross-entropy, {c.d.cost['formula']}: "
            f"{c.d.cost['numpy']}. (Your gradients do not use the cost, but the numbers "
            "you print and compare do.)"),
            {"function": c.net.names["cost"], "yours": _as_float(value),
             "cross_entropy": cross_entropy(P, yb)}))


def _al_aliases(c: Checker, fwd: Call) -> dict[str, Any]:
    """Their cost's first argument is the output, whatever it is called (AL, A2, yhat)."""
    out = fwd.value[0] if isinstance(fwd.value, tuple | list) and fwd.value else fwd.value
    named = {k: v for k, v in fwd.named.items()}
    fn = c.net.funcs["cost"]
    first = next(iter(inspect.signature(fn).parameters), None)
    L = c.arch.L
    key = next((k for k in named if norm(k) in (f"a{L}", *map(norm, OUTPUT_NAMES))), None)
    if first and first not in named:
        return {first: named[key] if key else out}
    return {}

# --- brief training with their functions ---------------------------------------------------


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
