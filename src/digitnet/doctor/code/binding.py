"""A learner's network as their own functions: found by name, called with the arguments their
names ask for, their results read back by the names in their ``return`` statements.

The conventions of the course and Kaggle notebooks are recognised:

- separate arrays, ``forward_prop(W1, b1, W2, b2, X) -> Z1, A1, Z2, A2`` and
  ``backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y) -> dW1, db1, dW2, db2``;
- dicts, ``forward_propagation(X, parameters) -> A2, cache`` with ``cache["Z1"]``, a ``grads``
  dict with ``"dW1"`` (or ``"dw1"``), ``update_parameters(parameters, grads, learning_rate)``;
- the L-layer course style, ``L_model_forward(X, parameters) -> AL, caches`` with a list of
  ``((A_prev, W, b), Z)`` caches, and ``L_model_backward(AL, Y, caches) -> grads``;
- weights with the bias folded in as an extra column (a row of ones padded onto the input);
- labels as class numbers ``(m,)`` or one-hot columns ``(10, m)``, whichever their code takes;
- a global (``m``) used where the batch size belongs.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .source import LearnerSource, calls_in, divides_by, free_globals, return_names
from .timing import time_limit

#: role -> the function names looked for (compared without case and underscores), in order
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "init": ("init_params", "init_parameters", "initialize_parameters", "initialise_parameters",
             "initialize_parameters_deep", "init_weights", "initialize_weights", "init_network",
             "initialize", "initialise", "init"),
    "forward": ("forward_prop", "forward_propagation", "forward_pass", "l_model_forward",
                "feedforward", "feed_forward", "forward_propagate", "model_forward", "forward"),
    "backward": ("backward_prop", "back_prop", "backward_propagation", "back_propagation",
                 "backprop", "backward_pass", "l_model_backward", "model_backward", "backward"),
    "update": ("update_params", "update_parameters", "update_weights", "gradient_step",
               "sgd_step", "update"),
    "cost": ("compute_cost", "cost_function", "compute_loss", "cross_entropy",
             "cross_entropy_loss", "categorical_cross_entropy", "log_loss", "cost", "loss"),
}
ROLE_WORDS = {"init": "initializes the weights", "forward": "runs the forward pass",
              "backward": "computes the gradients", "update": "updates the weights",
              "cost": "computes the cost"}
REQUIRED = ("forward", "backward")

#: argument names (compared without case and underscores) -> what the doctor passes for them
ALIASES: dict[str, tuple[str, ...]] = {
    "@X": ("x", "xbatch", "xtrain", "a0", "inputs", "input", "images", "features", "data", "xb",
           "xmini", "minibatchx"),
    "@Y": ("y", "ybatch", "ytrain", "labels", "label", "targets", "target", "yb", "ytrue",
           "onehoty", "yonehot", "t", "ymini", "minibatchy"),
    "@params": ("parameters", "params", "param", "weights", "theta", "model", "network", "net",
                "nn", "p", "w"),
    "@cache": ("cache", "caches", "forwardcache", "store", "activations", "fwd", "outputs"),
    "@grads": ("grads", "gradients", "grad", "derivatives", "g", "d", "dparams"),
    "@lr": ("alpha", "learningrate", "lr", "eta", "stepsize", "rate", "learnrate"),
    "@m": ("m", "batchsize", "numexamples", "nexamples", "nsamples", "msamples"),
    "@dims": ("layerdims", "layersdims", "dims", "layersizes", "sizes", "layers", "architecture",
              "nnarchitecture", "layerssizes", "shape", "shapes", "nunits", "units"),
    "@nin": ("nx", "n0", "inputsize", "nin", "inputdim", "ninput", "ninputs", "inputlayer",
             "inputnodes"),
    "@nout": ("ny", "outputsize", "nout", "outputdim", "numclasses", "nclasses", "noutput",
              "noutputs", "outputlayer", "outputnodes"),
}
OUTPUT_NAMES = ("al", "a_l", "yhat", "y_hat", "probs", "probabilities", "output", "out", "h",
                "ypred", "y_pred", "predictions", "a_out")


#: longest a single call of a learner's function may take (a loop that never ends)
CALL_SECONDS = 30


def norm(name: str) -> str:
    return name.replace("_", "").lower()


class BindError(Exception):
    """The doctor could not find or call one of the learner's functions (message in words)."""


class LearnerCodeError(Exception):
    """One of the learner's functions raised: ``role``, ``where`` (their line) and the error."""

    def __init__(self, role: str, name: str, error: BaseException, where: str) -> None:
        super().__init__(f"{name}() raised {type(error).__name__}: {error}")
        self.role, self.name, self.error, self.where = role, name, error, where


# --- calling their functions ---------------------------------------------------------------------
@dataclass
class Call:
    """What one call of a learner's function gave back."""

    value: Any
    #: the arrays it returned (and those inside returned dicts / caches), by name
    named: dict[str, Any] = field(default_factory=dict)
    #: the local variables of the function when it returned
    locals: dict[str, Any] = field(default_factory=dict)


class LearnerNet:
    """The learner's functions, bound by role, and how to call them."""

    def __init__(self, src: LearnerSource, given: dict[str, Any] | None = None) -> None:
        self.src = src
        self.ns = src.namespace
        self.funcs: dict[str, Callable[..., Any]] = {}
        self.names: dict[str, str] = {}
        given = given or {}
        for role in ROLE_NAMES:
            fn = given.get(role)
            if isinstance(fn, str):
                if not callable(self.ns.get(fn)):
                    raise BindError(f"you named {fn!r} as the function that {ROLE_WORDS[role]},"
                                    f" but {src.origin} has no function {fn!r}"
                                    + self._found_functions())
                fn = self.ns[fn]
            if fn is None:
                fn = self._find(role)
            if fn is not None:
                self.funcs[role] = fn
                self.names[role] = getattr(fn, "__name__", role)
        missing = [r for r in REQUIRED if r not in self.funcs]
        if missing:
            raise BindError(self._not_found(missing))
        #: globals their backward pass divides by but that their code sets outside a function
        #: (``m, n = data.shape``): the doctor sets them to the batch size
        self.batch_globals: dict[str, str] = {}
        self._compiled: dict[str, Callable[..., Any]] = {}
        self._returns: dict[str, list[str | None] | None] = {}
        #: globals it divides by that the code sets to a number (``m_train = 41000``)
        self.number_globals: dict[str, float] = {}
        self._look_at_globals()

    # --- finding -------------------------------------------------------------------------------
    def _functions(self) -> dict[str, Callable[..., Any]]:
        return {k: v for k, v in self.ns.items() if self.src.is_own(k, v)}

    def _find(self, role: str) -> Callable[..., Any] | None:
        funcs = {norm(k): v for k, v in self._functions().items()}
        for name in ROLE_NAMES[role]:
            if norm(name) in funcs:
                return funcs[norm(name)]
        return None

    def _found_functions(self) -> str:
        names = sorted(self._functions())
        return (f"; it defines {', '.join(n + '()' for n in names)}" if names
                else "; it defines no functions")

    def _not_found(self, roles: list[str]) -> str:
        parts = [f"no function that {ROLE_WORDS[r]}: looked for "
                 + ", ".join(ROLE_NAMES[r][:6]) + ", ..." for r in roles]
        example = " ".join(f"--bind {r}=NAME" for r in roles)
        return ("; ".join(parts) + f" in {self.src.origin}" + self._found_functions() + ". Name "
                f"yours like one of these, or say which it is: `digitnet doctor --code FILE "
                f"{example}`, or in Python dn.doctor.check_code(..., "
                + ", ".join(f"{r}=my_function" for r in roles) + ").")

    def tree(self, role: str) -> Any:
        name = self.names.get(role)
        return self.src.defs.get(name) if name else None

    def _trees_reached(self, role: str) -> list[Any]:
        """The role's function and every learner function it calls, transitively."""
        out, todo, seen = [], [self.names.get(role)], set()
        while todo:
            name = todo.pop()
            if not name or name in seen or name not in self.src.defs:
                continue
            seen.add(name)
            tree = self.src.defs[name]
            out.append(tree)
            todo += list(calls_in(tree))
        return out

    def _look_at_globals(self) -> None:
        for tree in self._trees_reached("backward"):
            for name in free_globals(tree):
                if not divides_by(tree, name):
                    continue
                value = self.ns.get(name)
                if name not in self.ns:
                    self.batch_globals[name] = tree.name
                elif isinstance(value, int | float | np.integer | np.floating):
                    self.number_globals[name] = float(value)

    # --- calling -------------------------------------------------------------------------------
    def call(self, role: str, values: dict[str, Any]) -> Call:
        """Call the function of ``role`` with arguments chosen by their names from ``values``
        (the learner's names, e.g. "W1", "cache", or roles "@X", "@Y", "@params", ...)."""
        kwargs = self.arguments(role, values)
        frames: dict[str, Any] = {}
        fn = self._capturing(role, frames) if role == "forward" else self.funcs[role]
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"), \
                    time_limit(CALL_SECONDS):
                value = fn(**kwargs)
        except (Exception, SystemExit) as e:  # their code failed: say where, in their file
            raise LearnerCodeError(role, self.names[role], e, self._where(e)) from None
        return Call(value=value, named=self.named_results(role, value), locals=frames)

    def _capturing(self, role: str, into: dict[str, Any]) -> Callable[..., Any]:
        """The function of ``role``, recompiled so that each ``return`` also copies its local
        variables into ``into`` (Z1, A1, ... that it does not return); the function itself when
        its source is not available."""
        fn, tree = self.funcs[role], self.tree(role)
        if tree is None or getattr(fn, "__closure__", None):
            return fn
        if role not in self._compiled:
            class Capture(ast.NodeTransformer):
                def visit_Return(self, node: ast.Return) -> ast.Return:
                    value = node.value or ast.Constant(None)
                    call = ast.Call(func=ast.Name("__digitnet_capture__", ast.Load()),
                                    args=[ast.Call(ast.Name("locals", ast.Load()), [], []),
                                          value], keywords=[])
                    return ast.copy_location(ast.Return(call), node)

                def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
                    return self.generic_visit(node) if node is tree else node

            new = Capture().visit(copy.deepcopy(tree))  # line numbers stay those of their file
            new.decorator_list = []
            namespace: dict[str, Any] = {}
            filename = self.src.def_file.get(tree.name, fn.__code__.co_filename)
            try:
                exec(compile(ast.fix_missing_locations(ast.Module([new], [])),  # noqa: S102
                             filename, "exec"), fn.__globals__, namespace)
            except Exception:  # a function we cannot recompile is called as it is
                return fn
            compiled = namespace[tree.name]
            compiled.__defaults__, compiled.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__
            self._compiled[role] = compiled
        self._sink = into

        def capture(local_vars: dict[str, Any], value: Any) -> Any:
            self._sink.update(local_vars)
            return value

        self._compiled[role].__globals__["__digitnet_capture__"] = capture
        return self._compiled[role]

    def arguments(self, role: str, values: dict[str, Any]) -> dict[str, Any]:
        fn = self.funcs[role]
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            raise BindError(f"cannot read the arguments of {self.names[role]}()") from None
        kwargs = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            found, value = lookup(p.name, values, self.ns)
            if found:
                kwargs[p.name] = value
            elif p.default is p.empty:
                have = sorted(k for k in values if not k.startswith("@"))
                raise BindError(
                    f"{self.names[role]}() takes an argument {p.name!r}, and the doctor does not "
                    f"know what to pass for it (it passes the images as X, the labels as Y, the "
                    f"weights by their names or as `parameters`, the learning rate as alpha or "
                    f"learning_rate, and what the other functions return by the names in their "
                    f"return statements: {', '.join(have) or 'none yet'}). Give it a default "
                    f"value or one of these names.")
        return kwargs

    def _where(self, e: BaseException) -> str:
        """The last line of the learner's code the error went through: "in relu(), line 25:
        `return ...`" ("" if none)."""
        tb = e.__traceback__
        where = ""
        while tb is not None:
            place = self.src.place(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            if place:
                where = f"in {tb.tb_frame.f_code.co_name}(), {place}"
            tb = tb.tb_next
        return where

    def named_results(self, role: str, value: Any) -> dict[str, Any]:
        """The returned values by the names of the return statement; dicts contribute their keys;
        tuples assigned to a returned name (``cache = (Z1, A1)``) contribute theirs too."""
        if role not in self._returns:
            self._returns[role] = return_names(self.tree(role))
        names = self._returns[role]
        out: dict[str, Any] = {}
        if isinstance(value, tuple | list) and names and len(names) == len(value):
            for n, v in zip(names, value, strict=True):
                if n:
                    out[n] = v
                if isinstance(v, dict):
                    out.update({str(k): x for k, x in v.items()})
        elif isinstance(value, dict):
            out.update({str(k): x for k, x in value.items()})
        else:
            single = names[0] if names and len(names) == 1 else _single_return_name(
                self.tree(role))
            if single:
                out[single] = value
        return out


def _single_return_name(tree: Any) -> str | None:
    if tree is None:
        return None
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None]
    if returns and isinstance(returns[-1].value, ast.Name):
        return returns[-1].value.id
    return None


def lookup(name: str, values: dict[str, Any], ns: dict[str, Any]) -> tuple[bool, Any]:
    """What to pass for an argument called ``name``: the same name in ``values``, the same name
    without case and underscores, a role its name stands for, or a constant of their code."""
    if name in values:
        return True, values[name]
    n = norm(name)
    for k, v in values.items():
        if not k.startswith("@") and norm(k) == n:
            return True, v
    for role, aliases in ALIASES.items():
        if n in aliases and role in values:
            return True, values[role]
    if name in ns and not callable(ns[name]) and not inspect.ismodule(ns[name]):
        return True, ns[name]
    return False, None


# --- what their code says about training ---------------------------------------------------------
#: argument names that hold a learning rate (compared without case and underscores)
LR_NAMES = ("alpha", "learningrate", "lr", "eta", "stepsize", "rate", "learnrate")


def learning_rate(net: LearnerNet, lr: float | None, fallback: float) -> tuple[str, float]:
    """(the name their update gives the learning rate, the rate to train with): ``lr`` if given,
    else a default of their update function, else the one their skipped code trains with
    (``gradient_descent(X, Y, 0.10, 500)``), else ``fallback``."""
    name = "alpha"
    fn = net.funcs.get("update")
    if fn is not None:
        for p in inspect.signature(fn).parameters.values():
            if norm(p.name) in LR_NAMES:
                name = p.name
                if lr is None and _positive_number(p.default):
                    lr = float(p.default)
    if lr is None:
        lr = _lr_from_calls(net.src)
    return name, float(lr if lr is not None else fallback)


def _positive_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def _lr_from_calls(src: LearnerSource) -> float | None:
    """The number their skipped code passes where one of their functions takes a learning
    rate."""
    for fname, calls in src.calls.items():
        fn = src.namespace.get(fname)
        if not callable(fn) or fname not in src.defs:
            continue
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            continue
        for args, kwargs in calls:
            for i, p in enumerate(params):
                if norm(p.name) not in LR_NAMES:
                    continue
                node = kwargs.get(p.name) or (args[i] if i < len(args) else None)
                if isinstance(node, ast.Constant) and _positive_number(node.value):
                    return float(node.value)
                if node is None and _positive_number(p.default):
                    return float(p.default)
    return None


def layer_sizes_constant(src: LearnerSource) -> list[int] | None:
    """A list of layer sizes among their constants (``layers_dims = [784, 20, 7, 10]``), for an
    init function that takes one."""
    for v in src.namespace.values():
        if isinstance(v, list | tuple) and len(v) >= 2 and all(
                isinstance(n, int) for n in v) and v[0] in (784, 785):
            return list(v)
    return None
