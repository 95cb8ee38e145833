"""Activation functions as layers (no parameters). Shapes: Z and A are both (N, n).

Each backward applies the chain rule elementwise: dZ = dA * g'(Z).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers import Layer


class ReLU(Layer):
    """A = max(Z, 0)        dZ = dA * [Z > 0]"""

    def forward(self, Z: np.ndarray, training: bool = False) -> np.ndarray:
        A = np.maximum(Z, 0)
        if training:
            self.A = A
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA * (self.A > 0)


class LeakyReLU(Layer):
    """A = Z if Z > 0 else alpha * Z        dZ = dA * (1 if Z > 0 else alpha)"""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, Z: np.ndarray, training: bool = False) -> np.ndarray:
        positive = Z > 0
        if training:
            self.positive = positive
        return np.where(positive, Z, Z * Z.dtype.type(self.alpha))

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return np.where(self.positive, dA, dA * dA.dtype.type(self.alpha))

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Sigmoid(Layer):
    """A = 1 / (1 + exp(-Z))        dZ = dA * A * (1 - A)"""

    def forward(self, Z: np.ndarray, training: bool = False) -> np.ndarray:
        A = sigmoid(Z)
        if training:
            self.A = A
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA * self.A * (1 - self.A)


class Tanh(Layer):
    """A = tanh(Z)        dZ = dA * (1 - A**2)"""

    def forward(self, Z: np.ndarray, training: bool = False) -> np.ndarray:
        A = np.tanh(Z)
        if training:
            self.A = A
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA * (1 - self.A * self.A)


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function: never overflows exp() for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}
