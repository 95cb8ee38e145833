"""One training step by hand: every Z, A, dZ, dW, db of one minibatch, layer by layer, the loss,
and the update the optimizer applies (``Network.trace``, ``digitnet trace``), in digitnet's row
layout or in the notebooks' column layout.

    t = trace_step(net, X, y, lr=0.1, layout="columns")      # = net.trace(X, y, ...)
    print(t); t["dW1"]; t.as_dict()
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError
from .nn.layers import Dense, Dropout, Layer
from .nn.losses import SigmoidBinaryCrossEntropy
from .nn.probe import ACTIVATION_TYPES
from .nn.sizes import check_batch
from .optim import default_lr, make_optimizer

if TYPE_CHECKING:
    from .nn.network import Network

LAYOUTS = ("rows", "columns")

#: per activation: g's name and its derivative
_G = {"ReLU": ("relu", "g'(Z) = (Z > 0)"),
      "LeakyReLU": ("leaky_relu", "g'(Z) = 1 if Z > 0 else alpha"),
      "Sigmoid": ("sigmoid", "g'(Z) = A * (1 - A)"), "Tanh": ("tanh", "g'(Z) = 1 - A**2")}

#: per optimizer: the update of a parameter p with gradient g, and what it means on a first step
UPDATES = {
    "sgd": ("{p} -= lr * {g}", ""),
    "momentum": ("{p} -= lr * v_{p}",
                 "v = 0.9 v + dW, starting from v = 0: on this first step v = dW"),
    "adam": ("{p} -= lr * m_{p} / (sqrt(v_{p}) + eps)",
             "m, v: bias-corrected running means of dW and dW**2; on a first step "
             "m / sqrt(v) = sign(dW), so each weight moves by about lr"),
}

_NOTES = {
    "rows": [
        "layout rows: digitnet's own view, one image per row: X:(m, 784), Z1 = X @ W1 + b1 with "
        "W1:(784, n1), b1:(n1,). The loss's backward gives dZ of the mean loss, dZ = (A - Y) / m: "
        "the 1/m is inside dZ, so dW = A_prev.T @ dZ needs none. layout='columns' shows the "
        "notebooks' view.",
    ],
    "columns": [
        "layout columns: the notebooks' view, one image per column: X:(784, m), Z1 = W1 @ X + b1 "
        "with W1:(n1, 784), b1:(n1, 1). digitnet computes with one image per row: each array "
        "here is the transpose of its own (image arrays (m, H, W, C) and conv filters keep "
        "their order, as in the course's CNN notebooks).",
        "dZ and dA are shown as the notebooks compute them: m times digitnet's. digitnet's loss "
        "gives dZ of the mean loss, (A - Y) / m, with the 1/m inside dZ; the notebooks put the "
        "1/m into dW = 1/m dZ @ A_prev.T and db instead. dW, db and the update are the same "
        "numbers either way.",
    ],
}


@dataclass(eq=False)
class TracedArray:
    """One array of a traced step: its name (``Z1``, ``dW1``), how it was computed (in the
    trace's layout and notation; empty when there is no short formula) and its value."""

    name: str
    formula: str
    value: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.name} = {self.formula}" if self.formula else self.name

    def summary(self) -> dict[str, Any]:
        """Shape and a few numbers (float64): mean, std, min, max and the first 3 values."""
        flat = np.asarray(self.value, dtype=np.float64).ravel()
        stats = ([flat.mean(), flat.std(), flat.min(), flat.max()] if flat.size else [0.0] * 4)
        # + 0.0 turns -0.0 (from dA * (Z > 0)) into 0.0
        return {"shape": list(np.shape(self.value)),
                **{k: float(v) + 0.0 for k, v in zip(("mean", "std", "min", "max"), stats,
                                                         strict=True)},
                "first": [float(v) + 0.0 for v in flat[:3]]}


@dataclass
class TracedLayer:
    """One layer of a traced step: ``forward``, its parameters and then its output (Z1 or A1);
    ``backward``, the gradient that reached its output (dZ1) and then its parameter gradients
    (dW1, db1); ``updates``, per parameter the change the optimizer applied (new - old), with
    the update rule as formula."""

    index: int
    layer: str
    name: str
    forward: list[TracedArray] = field(default_factory=list)
    backward: list[TracedArray] = field(default_factory=list)
    updates: list[TracedArray] = field(default_factory=list)


@dataclass
class StepTrace:
    """One training step on one minibatch, layer by layer (made by ``trace_step``).

    ``trace["dW1"]`` (or ``trace.arrays["dW1"]``) is a full array in the trace's layout,
    ``trace.updates["W1"]`` the change applied to W1, ``str(trace)`` the table and
    ``trace.as_dict()`` the shapes and summary numbers, ready for JSON.
    """

    layout: str
    m: int
    optimizer: str
    lr: float
    loss: float
    loss_formula: str
    x: TracedArray
    layers: list[TracedLayer]
    probabilities: TracedArray
    notes: list[str]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every forward and backward array by name: X, W1, b1, Z1, A1, ..., dZ2, dW2, db2 ..."""
        return {a.name: a.value for a in self._forward() + self._backward()}

    @property
    def updates(self) -> dict[str, np.ndarray]:
        """Per parameter name (W1, b1, ...): its value after the step minus before."""
        return {a.name: a.value for a in self._updates()}

    def __getitem__(self, name: str) -> np.ndarray:
        arrays = self.arrays
        if name not in arrays:
            raise KeyError(f"no array {name!r} in this trace; it has {', '.join(arrays)}")
        return arrays[name]

    def _forward(self) -> list[TracedArray]:
        return [self.x] + [a for t in self.layers for a in t.forward] + [self.probabilities]

    def _backward(self) -> list[TracedArray]:
        return [a for t in reversed(self.layers) for a in t.backward]

    def _updates(self) -> list[TracedArray]:
        return [a for t in self.layers for a in t.updates]

    def _relative(self, update: TracedArray) -> float | None:
        """||change|| / ||parameter before the step||; None when the parameter was all 0."""
        norm = _norm(self.arrays[update.name])
        return _norm(update.value) / norm if norm else None

    def as_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data: per array its name, formula, shape and summary
        numbers (not the full arrays)."""
        def rows(items: list[TracedArray]) -> list[dict[str, Any]]:
            return [{"name": a.name, "formula": a.formula, **a.summary()} for a in items]

        updates = rows(self._updates())
        for u, a in zip(updates, self._updates(), strict=True):
            u.update(norm=_norm(a.value), relative=self._relative(a))
        return {"layout": self.layout, "m": self.m, "optimizer": self.optimizer, "lr": self.lr,
                "loss": self.loss, "loss_formula": self.loss_formula, "notes": self.notes,
                "layers": [{"index": t.index, "layer": t.layer, "name": t.name}
                           for t in self.layers],
                "forward": rows(self._forward()), "backward": rows(self._backward()),
                "updates": updates}

    def __str__(self) -> str:
        meaning = UPDATES[self.optimizer][1]
        backward = "backward" + (" (dZ, dA: m times digitnet's, as in the notebooks)"
                                 if self.layout == "columns" else "")
        sections = [("forward (training mode)", [(a.label, a) for a in self._forward()]),
                    (backward, [(a.label, a) for a in self._backward()]),
                    (f"update ({self.optimizer}, lr {self.lr:g})",
                     [(a.formula, a) for a in self._updates()])]
        rows = [r for _, items in sections for r in items]
        w = max(len(label) for label, _ in rows)
        ws = max(len(str(tuple(a.value.shape))) for _, a in rows) + 2
        lines = [f"one training step on m = {self.m} images, layout {self.layout!r}",
                 f"{'':{w}}  {'shape':<{ws}}{'mean':>10}{'std':>11}{'min':>11}{'max':>11}"
                 "  first values"]
        for title, items in sections:
            lines.append(title + ":")
            for label, a in items:
                s = a.summary()
                line = (f"{label:<{w}}  {str(tuple(s['shape'])):<{ws}}{s['mean']:>10.4g}"
                        + "".join(f"{s[k]:>11.4g}" for k in ("std", "min", "max"))
                        + "  " + " ".join(f"{v:.4g}" for v in s["first"]))
                if title.startswith("update"):
                    rel = self._relative(a)
                    line += (f"  ||change|| {_norm(a.value):.3g}"
                             + (f" = {rel:.2%} of ||{a.name}||" if rel is not None
                                else f" ({a.name} was 0)"))
                lines.append(line)
            if title.startswith("forward"):
                lines.append(f"{self.loss_formula} = {self.loss:.6g}")
        notes = self.notes + ([f"{self.optimizer}: {meaning}"] if meaning else [])
        lines.append("notes:")
        lines += [textwrap.fill(n, 100, initial_indent="- ", subsequent_indent="  ")
                  for n in notes]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """In IPython/Jupyter a trace shows as its table."""
        p.text(str(self))


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def _names(net: Network) -> tuple[list[str], list[dict[str, str]], str]:
    """The notebooks' names: per layer its output's and its parameters', and the
    probabilities'.

    Dense layers are numbered 1..L: Dense l outputs Z_l (parameters W_l, b_l) and the first
    activation after it outputs A_l. Every other layer is named by its type and index
    (Conv2D_1, with parameters Conv2D_1.W, Conv2D_1.b)."""
    outputs, params = [], []
    dense, named_a = 0, True
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            dense, named_a = dense + 1, False
            outputs.append(f"Z{dense}")
            params.append({k: f"{k}{dense}" for k in layer.params})
            continue
        if isinstance(layer, ACTIVATION_TYPES) and not named_a:
            name, named_a = f"A{dense}", True
        else:
            name = f"{type(layer).__name__}_{i}"
        outputs.append(name)
        params.append({k: f"{name}.{k}" for k in layer.params})
    return outputs, params, f"A{dense}" if isinstance(net.layers[-1], Dense) else "P"


def _grad_name(param: str) -> str:
    """dW1 for W1; Conv2D_1.dW for Conv2D_1.W."""
    head, _, tail = param.rpartition(".")
    return f"{head}.d{tail}" if head else f"d{param}"


def _forward_formula(layer: Layer, inp: str, p: dict[str, str], cols: bool) -> str:
    """How the layer computes its output from ``inp`` (its parameters named in ``p``)."""
    kind = type(layer).__name__
    if isinstance(layer, Dense):
        return f"{p['W']} @ {inp} + {p['b']}" if cols else f"{inp} @ {p['W']} + {p['b']}"
    if kind in _G:
        return f"{_G[kind][0]}({inp})"
    if isinstance(layer, Dropout):
        return f"{inp} * M"
    return {"Conv2D": f"conv({inp}, W) + b", "BatchNorm": f"gamma * normalize({inp}) + beta",
            "MaxPool2D": f"maxpool({inp})", "AvgPool2D": f"avgpool({inp})",
            "Flatten": f"flatten({inp})", "Reshape": f"reshape({inp})",
            "Deskew": f"deskew({inp})"}.get(kind, "")


def _gradient_formula(layers: list[Layer], i: int, names: list[str],
                      params: list[dict[str, str]], probs: str, binary: bool, cols: bool) -> str:
    """How the gradient at layer i's output was computed: by the loss for the last layer, else
    by the layer after it."""
    if i == len(layers) - 1:
        Y = "y" if binary else "Y"
        return f"{probs} - {Y}" if cols else f"({probs} - {Y}) / m"
    nxt, d_next = layers[i + 1], "d" + names[i + 1]
    if isinstance(nxt, Dense):
        W = params[i + 1]["W"]
        return f"{W}.T @ {d_next}" if cols else f"{d_next} @ {W}.T"
    if type(nxt).__name__ in _G:
        z = names[i]
        if i + 2 < len(layers) and isinstance(layers[i + 2], Dense):  # d_next = W.T @ dZ
            W, dz = params[i + 2]["W"], "d" + names[i + 2]
            return f"{W}.T @ {dz} * g'({z})" if cols else f"{dz} @ {W}.T * g'({z})"
        return f"{d_next} * g'({z})"
    if isinstance(nxt, Dropout):
        return f"{d_next} * M"
    return ""


def trace_step(net: Network, X: np.ndarray, y: np.ndarray, *, lr: float | None = None,
               optimizer: str = "sgd", layout: str = "rows") -> StepTrace:
    """One training step on the minibatch ``(X, y)``, kept array by array.

    On a copy of ``net`` (``net`` itself does not change): the forward pass in training mode,
    keeping every layer's output (Z, A); the loss; the backward pass, keeping the gradient
    that reaches each layer's output (dZ, dA) and each layer's parameter gradients (dW, db);
    then one step of ``optimizer`` (sgd, momentum or adam from a fresh state; ``lr`` defaults
    to its usual rate), keeping the change of every parameter (W_new - W_old).

    ``layout="rows"``: digitnet's arrays as they are (one image per row, X:(m, 784)).
    ``layout="columns"``: the notebooks' view, one image per column: every 2-D array
    transposed, biases as (n, 1) columns, and dZ, dA multiplied by m, since the notebooks put
    the 1/m into dW and db where digitnet's loss puts it into dZ. Formulas follow the layout.
    """

    if layout not in LAYOUTS:
        raise SpecError(f"unknown layout {layout!r}: use 'rows' (digitnet's: one image per row) "
                        "or 'columns' (the notebooks': one image per column)")
    lr = default_lr(optimizer, lr)
    X = net.check_input(X)
    check_batch(net, len(X), "trace (it keeps every array of the step)", copies=2)
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer):
        raise SpecError(f"trace needs one integer class label per image, shape ({len(X)},); "
                        f"got an array of shape {y.shape} ({y.dtype})")
    if len(y) == 0 or y.min() < 0 or y.max() >= net.n_classes:
        raise SpecError(f"trace needs labels 0..{net.n_classes - 1} for this network"
                        + (f", got {y.min()}..{y.max()}" if len(y) else ", got none"))
    m, cols = len(X), layout == "columns"
    work = copy.deepcopy(net)
    layers = work.layers

    outputs, A = [], X  # forward, keeping each layer's output
    for layer in layers:
        A = layer.forward(A, training=True)
        outputs.append(A.copy())
    loss = float(work.loss.forward(A, y))
    binary = isinstance(work.loss, SigmoidBinaryCrossEntropy)
    P = (work.loss.A[:, None] if binary else work.loss.P).copy()  # backward reuses P
    arriving: list[np.ndarray | None] = [None] * len(layers)  # backward, keeping each dZ/dA
    dA: np.ndarray | None = work.loss.backward()
    for i in reversed(range(len(layers))):
        arriving[i] = dA.copy()
        dA = layers[i].backward(dA)
        if dA is None:  # the layers before the first one with parameters need no gradient
            break
    grads = [{k: g.copy() for k, g in layer.grads.items()} for layer in layers]
    before = [{k: p.copy() for k, p in layer.params.items()} for layer in layers]
    make_optimizer(optimizer, work, lr).step()

    def view(a: np.ndarray, gradient: bool = False) -> np.ndarray:
        """``a`` in the trace's layout."""
        if not cols:
            return a
        if gradient:
            a = m * a
        return a[:, None] if a.ndim == 1 else a.T if a.ndim == 2 else a

    names, params, probs = _names(work)
    traced = []
    for i, layer in enumerate(layers):
        p, name = params[i], names[i]
        inp = names[i - 1] if i else "X"
        t = TracedLayer(i, repr(layer), name)
        t.forward = [TracedArray(p[k], "", view(v)) for k, v in before[i].items()]
        t.forward.append(TracedArray(name, _forward_formula(layer, inp, p, cols),
                                     view(outputs[i])))
        if arriving[i] is not None:
            d = _gradient_formula(layers, i, names, params, probs, binary, cols)
            t.backward.append(TracedArray("d" + name, d, view(arriving[i], gradient=True)))
            dZ = "d" + name
            if isinstance(layer, Dense):
                grad_formula = ({"W": f"1/m {dZ} @ {inp}.T",
                                 "b": f"1/m sum({dZ}, axis=1, keepdims=True)"} if cols else
                                {"W": f"{inp}.T @ {dZ}", "b": f"sum({dZ}, axis=0)"})
            else:
                grad_formula = {}
            t.backward += [TracedArray(_grad_name(p[k]), grad_formula.get(k, ""), view(g))
                           for k, g in grads[i].items()]
        t.updates = [TracedArray(p[k], UPDATES[optimizer][0].format(p=p[k], g=_grad_name(p[k])),
                                 view(new - before[i][k]))
                     for k, new in layer.params.items()]
        traced.append(t)

    if binary:
        prob_formula = f"sigmoid({names[-1]})"
        loss_formula = f"J = -1/m sum_i (y_i log {probs}_i + (1 - y_i) log(1 - {probs}_i))"
    else:
        prob_formula = f"softmax({names[-1]}), each {'column' if cols else 'row'} sums to 1"
        loss_formula = (f"J = -1/m sum_i log {probs}[y_i, i]" if cols
                        else f"J = -1/m sum_i log {probs}[i, y_i]")
    kinds = dict.fromkeys(type(layer).__name__ for layer in layers)
    notes = list(_NOTES[layout]) + [f"{_G[k][0]}: {_G[k][1]}" for k in kinds if k in _G]
    if "Dropout" in kinds:
        notes.append("dropout: M is 0 for a dropped unit and 1 / (1 - p) for a kept one "
                     "(training mode only)")
    return StepTrace(layout=layout, m=m, optimizer=optimizer, lr=float(lr), loss=loss,
                     loss_formula=loss_formula, x=TracedArray("X", "", view(X)), layers=traced,
                     probabilities=TracedArray(probs, prob_formula, view(P)), notes=notes)
