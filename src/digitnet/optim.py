"""Optimizers and learning-rate schedules. Every update is in place on the network's arrays.

For each parameter p with gradient g (the notebooks' W and dW):

- SGD:        p -= lr * g
- Momentum:   v = mu * v + g;                 p -= lr * v
- Adam:       m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2
              p -= lr * m_hat / (sqrt(v_hat) + eps)
              with m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t)

Weight decay: L2 on weights (not biases). For SGD and Momentum it is added to the gradient,
g += wd * p (the gradient of wd/2 * ||W||^2); for Adam it is decoupled (AdamW): p -= lr * wd * p.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import SpecError
from .nn.network import Network

#: Momentum and Adam's moments decay geometrically (x0.9 per step) for weights whose gradient is
#: exactly 0, such as those of MNIST's always-black border pixels: within ~800 steps they become
#: float32 subnormals, which this CPU computes with 2-3x slower. Every FLUSH_EVERY steps, values
#: below FLUSH_BELOW are set to 0 (a no-op for the training, as they are ~1e-30).
FLUSH_BELOW = 1e-30
FLUSH_EVERY = 100


def flush_tiny(a: np.ndarray) -> None:
    a[np.abs(a) < FLUSH_BELOW] = 0


class Optimizer:
    def __init__(self, net: Network, lr: float, weight_decay: float = 0.0) -> None:
        if not lr > 0 or not math.isfinite(lr):
            raise SpecError(f"learning rate must be a positive number, got {lr}")
        if weight_decay < 0:
            raise SpecError(f"weight decay must be >= 0, got {weight_decay}")
        self.net, self.lr, self.weight_decay = net, float(lr), float(weight_decay)
        self.params = [(name, p, g) for name, p, g in net.parameters()]

    def _decays(self, name: str) -> bool:
        return self.weight_decay > 0 and name.endswith(".W")

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, net: Network, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.tmp = [np.empty_like(p) for _, p, _ in self.params]

    def step(self) -> None:
        for (name, p, g), tmp in zip(self.params, self.tmp, strict=True):
            if self._decays(name):
                np.multiply(p, self.weight_decay, out=tmp)
                g += tmp
            np.multiply(g, self.lr, out=tmp)
            p -= tmp


class Momentum(Optimizer):
    def __init__(self, net: Network, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.momentum = momentum
        self.v = [np.zeros_like(p) for _, p, _ in self.params]
        self.tmp = [np.empty_like(p) for _, p, _ in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for (name, p, g), v, tmp in zip(self.params, self.v, self.tmp, strict=True):
            if self._decays(name):
                np.multiply(p, self.weight_decay, out=tmp)
                g += tmp
            v *= self.momentum
            v += g
            if self.t % FLUSH_EVERY == 0:
                flush_tiny(v)
            np.multiply(v, self.lr, out=tmp)
            p -= tmp


class Adam(Optimizer):
    def __init__(self, net: Network, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0
        self.m = [np.zeros_like(p) for _, p, _ in self.params]
        self.v = [np.zeros_like(p) for _, p, _ in self.params]
        self.tmp = [np.empty_like(p) for _, p, _ in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2, t = self.b1, self.b2, self.t
        step_size = self.lr * math.sqrt(1 - b2**t) / (1 - b1**t)  # bias corrections, folded
        eps = self.eps * math.sqrt(1 - b2**t)  # eps is added to sqrt(v_hat); moved onto sqrt(v)
        for (name, p, g), m, v, tmp in zip(self.params, self.m, self.v, self.tmp, strict=True):
            np.subtract(g, m, out=tmp)          # m = b1 m + (1 - b1) g  ==  m + (1 - b1)(g - m)
            tmp *= 1 - b1
            m += tmp
            np.multiply(g, g, out=tmp)          # v = b2 v + (1 - b2) g**2, the same way
            tmp -= v
            tmp *= 1 - b2
            v += tmp
            if t % FLUSH_EVERY == 0:
                flush_tiny(m)
                flush_tiny(v)
            np.sqrt(v, out=tmp)                 # p -= step_size * m / (sqrt(v) + eps)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            if self._decays(name):
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


def make_optimizer(name: str, net: Network, lr: float, weight_decay: float = 0.0) -> Optimizer:
    if name not in OPTIMIZERS:
        raise SpecError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](net, lr, weight_decay=weight_decay)


# --- learning-rate schedules: progress t in [0, 1] of the whole run -> factor on the base lr ---

def constant(t: float) -> float:
    return 1.0


def cosine(t: float) -> float:
    """Cosine decay from 1 to 0 over the run: smooth, and ends with tiny steps that settle."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def step(t: float) -> float:
    """x0.1 after 50% and again after 75% of the run (the classic step schedule)."""
    return 1.0 if t < 0.5 else 0.1 if t < 0.75 else 0.01


SCHEDULES: dict[str, Callable[[float], float]] = {"constant": constant, "cosine": cosine,
                                                  "step": step}


def get_schedule(name: str) -> Callable[[float], float]:
    if name not in SCHEDULES:
        raise SpecError(f"unknown schedule {name!r}: use one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
