"""Losses fused with the output activation, as the math is simplest and stablest that way.

Both take raw scores Z from the last Dense layer and return the *mean* loss over the batch; their
backward gives dZ of that mean, so the 1/N lives here and nowhere else.
"""

from __future__ import annotations

import numpy as np

from .activations import sigmoid


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, (N, C) -> (N, C); each row sums to 1 (axis=1: over classes, not samples).

    Subtracting the row maximum first keeps exp() from overflowing for huge scores.
    """
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    E /= E.sum(axis=1, keepdims=True)
    return E


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy with integer labels.

    Forward:   P = softmax(Z)                                 Z, P: (N, C)   y: (N,) in 0..C-1
               L = -1/N * sum_i log P[i, y_i]
                 = 1/N * sum_i (logsumexp(Z_i) - Z[i, y_i])   (computed this way: finite for any Z)
    Backward:  dZ = (P - Y) / N                               Y: one-hot of y, (N, C)

    Label smoothing (``smoothing`` = eps, set by ``train(label_smoothing=eps)`` for the run): the
    target is T = (1 - eps) Y + eps / C, so L = -1/N sum_i sum_k T[i, k] log P[i, k] and
    dZ = (P - T) / N. A network trained so is less sure of itself, which generalizes a little
    better; ``value`` (evaluation) is always the plain cross-entropy.
    """

    name = "softmax_cross_entropy"
    #: label smoothing of the training targets (0: none)
    smoothing: float = 0.0

    def forward(self, Z: np.ndarray, y: np.ndarray) -> float:
        """The mean loss; keeps P and y for backward (training)."""
        self.y = y
        shifted = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(shifted)
        S = E.sum(axis=1, keepdims=True)
        self.P = E / S
        rows = np.arange(len(y))
        log_s = np.log(S[:, 0])
        loss = log_s - shifted[rows, y]
        if self.smoothing:
            eps = self.smoothing  # -sum_k T_k log P_k, with log P_k = shifted_k - log S
            loss = (1 - eps) * loss + eps * (log_s - shifted.mean(axis=1))
        return float(np.mean(loss))

    @staticmethod
    def value(Z: np.ndarray, y: np.ndarray) -> float:
        """The mean loss, keeping nothing (evaluating: threads may share the loss)."""
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_s = np.log(np.exp(shifted).sum(axis=1))
        return float(np.mean(log_s - shifted[np.arange(len(y)), y]))

    def backward(self) -> np.ndarray:
        dZ = self.P
        if self.smoothing:
            dZ -= self.smoothing / dZ.shape[1]
        dZ[np.arange(len(self.y)), self.y] -= 1 - self.smoothing
        dZ /= len(self.y)
        self.P = None  # dZ reused P's memory
        return dZ

    @staticmethod
    def probabilities(Z: np.ndarray) -> np.ndarray:
        return softmax(Z)

    @staticmethod
    def labels(Z: np.ndarray) -> np.ndarray:
        """Predicted class per row: the largest score (softmax does not change the order)."""
        return Z.argmax(axis=1)


class SigmoidBinaryCrossEntropy:
    """Sigmoid followed by binary cross-entropy, for one-vs-rest tasks ("is it a 7?").

    Forward:   A = sigmoid(Z)                                  Z, A: (N, 1)   y: (N,) in {0, 1}
               L = -1/N * sum_i [y log A + (1 - y) log(1 - A)]
                 = 1/N * sum_i [max(Z, 0) - Z y + log(1 + exp(-|Z|))]   (stable form)
    Backward:  dZ = (A - y) / N
    """

    name = "sigmoid_binary_cross_entropy"

    def forward(self, Z: np.ndarray, y: np.ndarray) -> float:
        """The mean loss; keeps A and y for backward (training)."""
        self.y, self.A = y.astype(Z.dtype), sigmoid(Z[:, 0])
        return self.value(Z, y)

    @staticmethod
    def value(Z: np.ndarray, y: np.ndarray) -> float:
        """The mean loss, keeping nothing (evaluating: threads may share the loss)."""
        z, t = Z[:, 0], y.astype(Z.dtype)
        return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))

    def backward(self) -> np.ndarray:
        return ((self.A - self.y) / len(self.y))[:, None]

    @staticmethod
    def probabilities(Z: np.ndarray) -> np.ndarray:
        """(N, 1) scores -> (N, 2) probabilities [P(not target), P(target)]."""
        a = sigmoid(Z[:, 0])
        return np.stack([1 - a, a], axis=1)

    @staticmethod
    def labels(Z: np.ndarray) -> np.ndarray:
        """1 where sigmoid(Z) > 0.5, that is Z > 0."""
        return (Z[:, 0] > 0).astype(np.int64)


LOSSES = {
    SoftmaxCrossEntropy.name: SoftmaxCrossEntropy,
    SigmoidBinaryCrossEntropy.name: SigmoidBinaryCrossEntropy,
}
