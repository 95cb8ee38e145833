"""The learner's layout and names, and the translation between them and the column layout the
formulas are checked in.

A learner's weights say how they lay out their network: ``W1`` of shape ``(n1, 784)`` means
examples as columns (the notebooks' ``Z1 = W1 @ X + b1``), ``(784, n1)`` examples as rows
(``Z1 = X @ W1 + b1``), ``(n1, 785)`` a bias folded in as a padded row of ones. ``Layout`` turns
the sample's images and labels into what their code takes, and their arrays into columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .binding import OUTPUT_NAMES, BindError, Call, norm
from .formulas import one_hot

#: W1, w1, b2, W_3, W[4]: a weight or bias of layer l
PARAM = re.compile(r"^([WwBb])_?\[?(\d+)\]?$")

PARAM = re.compile(r"^([WwBb])_?\[?(\d+)\]?$")


@dataclass
class Architecture:
    """What the weights say: L layers of sizes n0 (784) .. nL, in which layout."""

    W: list[str]                 # the learner's name of W1 .. WL
    b: list[str | None]          # ... of b1 .. bL (None: folded into W, or no bias)
    sizes: list[int]             # n0, n1, ..., nL
    columns: bool = True         # the notebooks' layout: W (n_out, n_in), X (n_in, m)
    folded: bool = False         # bias as an extra input of ones: W (n_out, n_in + 1)
    bias_first: bool = True      # ... the row of ones goes first (else last)

    @property
    def L(self) -> int:
        return len(self.W)

    def describe(self) -> str:
        return "-".join(str(n) for n in self.sizes)


def architecture(params: dict[str, np.ndarray], n_inputs: int = 784) -> Architecture:
    """Read the layers off the parameter names and shapes; BindError when they do not chain."""
    W, b = {}, {}
    for key, value in params.items():
        m = PARAM.match(str(key))
        if m and isinstance(value, np.ndarray):
            (W if m.group(1) in "Ww" else b)[int(m.group(2))] = key
    if not W:
        raise BindError("found no weights named W1, W2, ... (or w1, ...) among "
                        f"{', '.join(map(str, params)) or 'nothing'}")
    L = max(W)
    missing = [i for i in range(1, L + 1) if i not in W]
    if missing or min(W) != 1:
        raise BindError(f"the weights are numbered {sorted(W)}: expected W1 .. W{L}")
    W1 = params[W[1]]
    if W1.ndim != 2:
        raise BindError(f"{W[1]} has shape {W1.shape}: expected a matrix")
    if W1.shape[1] in (n_inputs, n_inputs + 1):
        columns = True
    elif W1.shape[0] in (n_inputs, n_inputs + 1):
        columns = False
    else:
        raise BindError(f"{W[1]} has shape {W1.shape}: one of its sides should be {n_inputs} "
                        f"(one weight per pixel), or {n_inputs + 1} with the bias folded in")
    folded = not b and (W1.shape[1] if columns else W1.shape[0]) == n_inputs + 1
    sizes = [n_inputs]
    for i in range(1, L + 1):
        Wi = params[W[i]]
        n_out, n_in = Wi.shape if columns else Wi.shape[::-1]
        if n_in != sizes[-1] + folded:
            raise BindError(f"{W[i]} has shape {Wi.shape}, but the layer before it has "
                            f"{sizes[-1]} units: the layers do not chain")
        bi = params.get(b.get(i, ""), None) if i in b else None
        if bi is not None and np.size(bi) != n_out:
            raise BindError(f"{b[i]} has shape {np.shape(bi)}, but {W[i]} has {n_out} units")
        sizes.append(int(n_out))
    return Architecture(W=[W[i] for i in range(1, L + 1)],
                        b=[b.get(i) for i in range(1, L + 1)], sizes=sizes, columns=columns,
                        folded=folded)



@dataclass
class Notation:
    """How the learner writes things: their names of W1.., their layout, their label form."""

    W: list[str]                      # "W1" or "w1"
    b: list[str | None]
    columns: bool = True
    lower: bool = False               # z1, a1, dz1 rather than Z1, A1, dZ1
    labels_one_hot: bool = False

    def Z(self, l: int) -> str:
        return f"{'z' if self.lower else 'Z'}{l}"

    def A(self, l: int) -> str:
        return f"{'a' if self.lower else 'A'}{l}" if l else ("x" if self.lower else "X")

    def dZ(self, l: int) -> str:
        return f"d{self.Z(l)}"

    def d(self, key: str) -> str:
        return f"d{key}"

    @property
    def image_axis(self) -> str:
        return "column" if self.columns else "row"

    @property
    def class_axis(self) -> int:
        return 0 if self.columns else 1

    @property
    def batch_axis(self) -> int:
        return 1 if self.columns else 0

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape if self.columns or len(shape) != 2 else shape[::-1]

    @property
    def Y(self) -> str:
        return "Y" if self.labels_one_hot else "one_hot(Y)"




class Layout:
    """Arrays between the sample (rows of pixels in [0, 1], class numbers) and the learner's code
    (their layout, their pixel scale, their label form), and their arrays back into columns."""

    def __init__(self, arch: Architecture, scale: float, bias_shapes: dict[str, tuple[int, ...]]
                 ) -> None:
        self.arch, self.scale, self.bias_shapes = arch, scale, bias_shapes
        #: labels as one-hot (10, m) columns (or (m, 10) rows) rather than class numbers (m,)
        self.one_hot = False

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

    def to_theirs(self, dW: np.ndarray, db: np.ndarray, l: int, is_bias: bool) -> np.ndarray:
        """Column-layout gradients of layer ``l`` (dW (n_out, n_in), db (n_out, 1)) as the
        learner's array for W or b: their layout, their parameter's shape, and a folded bias as
        a column of dW."""
        a = self.arch
        if is_bias:
            shape = self.bias_shapes[a.b[l - 1]]  # type: ignore[index]
            g = db if a.columns else db.T
            return g.reshape(shape) if np.prod(shape) == g.size else g
        if a.folded:
            dW = np.hstack([db, dW] if a.bias_first else [dW, db])
        return dW if a.columns else dW.T

    def theirs(self, fwd: Call) -> Callable[[str, int], np.ndarray | None]:
        """Look up their Z[l] / A[l]: by name in what forward returned, in its local variables,
        or in course-style caches [((A_prev, W, b), Z), ...]."""
        named = {norm(k): v for k, v in fwd.locals.items()}
        named.update({norm(k): v for k, v in fwd.named.items()})
        caches = course_caches(fwd, self.arch.L)

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
        """Their output probabilities: A[L], AL, yhat, ... by name, else the first array returned
        that has one row (column) per class."""
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


def course_caches(fwd: Call, L: int) -> list[Any] | None:
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


def cache_value(fwd: Call) -> Any:
    """What their backward pass calls ``cache``: the second returned value, usually."""
    v = fwd.value
    if isinstance(v, tuple | list) and len(v) == 2:
        return v[1]
    return v
