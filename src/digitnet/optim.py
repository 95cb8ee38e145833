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

#: Adam's second moment decays like b2**t for units that stop getting gradient; below this it is
#: flushed to zero before it becomes a float32 subnormal (which is 10-100x slower to compute with).
FLUSH_BELOW = 1e-30


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
    def step(self) -> None:
        lr = self.lr
        for name, p, g in self.params:
            if self._decays(name):
                g += self.weight_decay * p
            p -= lr * g


class Momentum(Optimizer):
    def __init__(self, net: Network, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(net, lr, weight_decay)
        self.momentum = momentum
        self.v = [np.zeros_like(p) for _, p, _ in self.params]

    def step(self) -> None:
        for (name, p, g), v in zip(self.params, self.v, strict=True):
            if self._decays(name):
                g += self.weight_decay * p
            v *= self.momentum
            v += g
            p -= self.lr * v


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
        b1, b2 = self.b1, self.b2
        step_size = self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        eps = self.eps * math.sqrt(1 - b2**self.t)  # eps on v_hat, moved onto v
        for (name, p, g), m, v, tmp in zip(self.params, self.m, self.v, self.tmp, strict=True):
            m *= b1
            m += (1 - b1) * g
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v *= b2
            v += tmp
            if self.t % 100 == 0:
                v[v < FLUSH_BELOW] = 0
                m[np.abs(m) < FLUSH_BELOW] = 0
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            if self._decays(name):
                p -= (self.lr * self.weight_decay) * p
            p -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


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
