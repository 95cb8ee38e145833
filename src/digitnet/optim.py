"""Optimizers and learning-rate schedules. Every update is in place on the network's arrays.

For each parameter p with gradient g (the notebooks' W and dW):

- SGD:        p -= lr * g
- Momentum:   v = mu * v + g;                 p -= lr * v
- Adam:       m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2
              p -= lr * m_hat / (sqrt(v_hat) + eps)
              with m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t)

Weight decay: L2 on weights (not biases). For SGD and Momentum it is added to the gradient,
g += wd * p (the gradient of wd/2 * ||W||^2); for Adam it is decoupled (AdamW): p -= lr * wd * p.

At every step the optimizer reads each layer's ``params[k]`` and ``grads[k]`` afresh, so a layer
may write its gradients in place (``np.matmul(..., out=self.grads["W"])``, as the built-in layers
do) or assign new arrays (``self.grads["W"] = self.X.T @ dZ``). Its state (velocity, Adam's
moments and step count) is kept per parameter name, e.g. "0.W", for as long as that parameter
keeps its shape and dtype. ``nn/reference.py`` has the same three updates written plainly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError, TrainingError
from .nn.layers import Layer

if TYPE_CHECKING:
    from .nn.network import Network

#: Momentum and Adam's moments decay geometrically (x0.9 per step) for weights whose gradient is
#: exactly 0, such as those of MNIST's always-black border pixels: within ~800 steps they become
#: float32 subnormals, which this CPU computes with 2-3x slower. Every FLUSH_EVERY steps, values
#: below FLUSH_BELOW are set to 0 (a no-op for the training, as they are ~1e-30).
FLUSH_BELOW = 1e-30
FLUSH_EVERY = 100


def flush_tiny(a: np.ndarray) -> None:
    a[np.abs(a) < FLUSH_BELOW] = 0


class Slot:
    """One parameter as an optimizer sees it: the arrays it last found in the layer (``p`` and its
    gradient ``g``), its own state arrays for it, a work array and the parameter's step count."""

    __slots__ = ("name", "p", "g", "decays", "state", "tmp", "t")

    def __init__(self, name: str, p: np.ndarray, g: np.ndarray, n_state: int,
                 decays: bool) -> None:
        self.name, self.p, self.g, self.decays = name, p, g, decays
        self.state = [np.zeros_like(p) for _ in range(n_state)]
        self.tmp = np.empty_like(p)
        self.t = 0


class Optimizer:
    #: state arrays per parameter: Momentum keeps a velocity, Adam two moments
    n_state = 0

    def __init__(self, net: Network, lr: float, weight_decay: float = 0.0) -> None:
        if not lr > 0 or not math.isfinite(lr):
            raise SpecError(f"learning rate must be a positive number, got {lr}")
        if weight_decay < 0:
            raise SpecError(f"weight decay must be >= 0, got {weight_decay}")
        self.net, self.lr, self.weight_decay = net, float(lr), float(weight_decay)
        self._slots: dict[tuple[int, str], Slot] = {}

    def slots(self) -> list[Slot]:
        """Every parameter with its current gradient and this optimizer's state for it.

        Looked up in the layers at each call (a few dict lookups per parameter): a layer that
        assigns new arrays to ``grads`` (or ``params``) is followed. A gradient that is missing
        or does not match its parameter raises TrainingError naming the layer and the array."""
        out = []
        for i, layer in enumerate(self.net.layers):
            grads = layer.grads
            for k, p in layer.params.items():
                slot = self._slots.get((i, k))
                g = grads.get(k)
                if slot is None or slot.p is not p or slot.g is not g:
                    slot = self._follow(i, layer, k, p, g, slot)
                out.append(slot)
        return out

    def _follow(self, i: int, layer: Layer, k: str, p: np.ndarray, g: object,
                slot: Slot | None) -> Slot:
        """Check a parameter's new arrays (the first time, or after the layer assigned new ones)
        and keep its state if the parameter kept its shape and dtype."""
        where = f"layer {i} ({type(layer).__name__})"
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise TrainingError(
                f"{where}: params[{k!r}] must be a float NumPy array, got "
                f"{type(p).__name__} {getattr(p, 'dtype', '')}".rstrip()
            )
        if p.dtype != self.net.dtype:
            raise TrainingError(
                f"{where}: params[{k!r}] is {p.dtype} but the network is {self.net.dtype} (the "
                f"network converts the arrays a layer has when it is built, not those made "
                f"later): make them as {self.net.dtype} (initialize(rng, dtype) is given the "
                f"dtype), or build the network with dtype=np.{p.dtype}"
            )
        if g is None:
            raise TrainingError(
                f"{where} has params[{k!r}] but no grads[{k!r}]: its backward must fill "
                f"self.grads[{k!r}] (the same keys as self.params) with dL/d{k}"
            )
        if not isinstance(g, np.ndarray) or g.shape != p.shape:
            raise TrainingError(
                f"{where}: grads[{k!r}] has shape {np.shape(g)} but params[{k!r}] has shape "
                f"{p.shape}; each gradient must have its parameter's shape (e.g. sum dZ over "
                f"the batch, axis=0, for a bias)"
            )
        if g.dtype != p.dtype:
            raise TrainingError(
                f"{where}: grads[{k!r}] is {g.dtype} but params[{k!r}] is {p.dtype}; compute "
                f"the gradient from the layer's own arrays (X, dZ, params) so it has their "
                f"dtype, or build the network with dtype={g.dtype.name!r}"
            )
        if slot is None or slot.p.shape != p.shape or slot.p.dtype != p.dtype:
            slot = Slot(f"{i}.{k}", p, g, self.n_state, self.weight_decay > 0 and k == "W")
            self._slots[(i, k)] = slot
        slot.p, slot.g = p, g
        return slot

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What continues this optimizer exactly where it stands: its step count and, per
        parameter ("0.W"), that parameter's own step count (JSON values) and copies of its state
        arrays (Momentum's velocity, Adam's two moments: "0.W.0", "0.W.1")."""
        info: dict[str, Any] = {"t": int(getattr(self, "t", 0)), "slots": {}}
        arrays: dict[str, np.ndarray] = {}
        for s in self.slots():
            info["slots"][s.name] = s.t
            for j, a in enumerate(s.state):
                arrays[f"{s.name}.{j}"] = a.copy()
        return info, arrays

    def load_state_dict(self, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Continue from ``state_dict()``'s output (checked by the caller: every parameter's
        entry is there, each array of its parameter's shape)."""
        for s in self.slots():
            s.t = int(info["slots"][s.name])
            for j, a in enumerate(s.state):
                a[...] = arrays[f"{s.name}.{j}"]
        if hasattr(self, "t"):
            self.t = int(info["t"])


class SGD(Optimizer):
    def step(self) -> None:
        for s in self.slots():
            p, g, tmp = s.p, s.g, s.tmp
            if s.decays:
                np.multiply(p, self.weight_decay, out=tmp)
                g += tmp
            np.multiply(g, self.lr, out=tmp)
            p -= tmp


class Momentum(Optimizer):
    n_state = 1

    def __init__(self, net: Network, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.momentum = momentum
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for s in self.slots():
            p, g, tmp, (v,) = s.p, s.g, s.tmp, s.state
            if s.decays:
                np.multiply(p, self.weight_decay, out=tmp)
                g += tmp
            v *= self.momentum
            v += g
            if self.t % FLUSH_EVERY == 0:
                flush_tiny(v)
            np.multiply(v, self.lr, out=tmp)
            p -= tmp


class Adam(Optimizer):
    n_state = 2

    def __init__(self, net: Network, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.b1, self.b2
        for s in self.slots():
            p, g, tmp, (m, v) = s.p, s.g, s.tmp, s.state
            s.t += 1  # per parameter: one that started later gets its own bias corrections
            t = s.t
            step_size = self.lr * math.sqrt(1 - b2**t) / (1 - b1**t)  # bias corrections, folded
            eps = self.eps * math.sqrt(1 - b2**t)  # eps is added to sqrt(v_hat); moved onto sqrt(v)
            np.subtract(g, m, out=tmp)          # m = b1 m + (1 - b1) g  ==  m + (1 - b1)(g - m)
            tmp *= 1 - b1
            m += tmp
            np.multiply(g, g, out=tmp)          # v = b2 v + (1 - b2) g**2, the same way
            tmp -= v
            tmp *= 1 - b2
            v += tmp
            if self.t % FLUSH_EVERY == 0:
                flush_tiny(m)
                flush_tiny(v)
            np.sqrt(v, out=tmp)                 # p -= step_size * m / (sqrt(v) + eps)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            if s.decays:
                p *= 1 - self.lr * self.weight_decay
            p -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}

#: learning rates that work for each optimizer with the default networks
DEFAULT_LR: dict[str, float] = {"sgd": 0.1, "momentum": 0.1, "adam": 1e-3}


def default_lr(optimizer: str, lr: float | None = None) -> float:
    """``lr`` if given, else the usual learning rate of ``optimizer`` (the one rule for it)."""
    if lr is not None:
        return lr
    if optimizer not in DEFAULT_LR:
        raise SpecError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    return DEFAULT_LR[optimizer]


def make_optimizer(name: str, net: Network, lr: float, weight_decay: float = 0.0, *,
                   momentum: float | None = None,
                   betas: tuple[float, float] | None = None) -> Optimizer:
    """The optimizer ``name`` for ``net``. ``momentum``: Momentum's mu (default 0.9); ``betas``:
    Adam's (b1, b2) (default (0.9, 0.999); a low b1 such as 0.7 follows the gradient faster)."""
    if name not in OPTIMIZERS:
        raise SpecError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    options: dict[str, float] = {}
    if momentum is not None:
        if name != "momentum":
            raise SpecError(f"a momentum coefficient is for --optimizer momentum, not {name}")
        options["momentum"] = _coefficient("momentum", momentum)
    if betas is not None:
        if name != "adam":
            raise SpecError(f"betas are for --optimizer adam, not {name}")
        if len(betas) != 2:
            raise SpecError(f"betas are two numbers (b1, b2), e.g. 0.9,0.999; got {betas}")
        options["b1"], options["b2"] = (_coefficient("beta", b) for b in betas)
    return OPTIMIZERS[name](net, lr, weight_decay=weight_decay, **options)


def _coefficient(what: str, value: float) -> float:
    """A decay rate of a running average: in [0, 1)."""
    if not (isinstance(value, int | float) and 0 <= value < 1):
        raise SpecError(f"{what} must be a number in [0, 1), got {value!r}")
    return float(value)


# --- learning-rate schedules: progress t in [0, 1] of the whole run -> factor on the base lr ---

def constant(t: float) -> float:
    return 1.0


def cosine(t: float) -> float:
    """Cosine decay from 1 to 0 over the run: smooth, and ends with tiny steps that settle."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def step(t: float) -> float:
    """x0.1 after 50% and again after 75% of the run (the classic step schedule)."""
    return 1.0 if t < 0.5 else 0.1 if t < 0.75 else 0.01


def onecycle(t: float) -> float:
    """One cycle (as PyTorch's OneCycleLR with its defaults): up from 1/25 of the rate to the
    full rate over the first 30% of the run, then down to 1/250,000 of it, both along cosines.
    A short warm start, then most of the run at a high rate, then a long settle."""
    t = min(max(t, 0.0), 1.0)
    start, end, peak = 1 / 25, 1 / 25 / 1e4, 0.3
    if t < peak:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * t / peak))
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (t - peak) / (1 - peak)))


SCHEDULES: dict[str, Callable[[float], float]] = {"constant": constant, "cosine": cosine,
                                                  "step": step, "onecycle": onecycle}


def get_schedule(name: str) -> Callable[[float], float]:
    if name not in SCHEDULES:
        raise SpecError(f"unknown schedule {name!r}: use one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
