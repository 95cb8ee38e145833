"""Network: a sequence of layers and a loss; forward, backward, predict and the parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import SpecError
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .checks import images_problem
from .conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .layers import BatchNorm, Dense, Dropout, Layer
from .losses import LOSSES, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy

#: every layer a model file may name; add a new layer class here to make it saveable
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh, BatchNorm,
                                  Conv2D, MaxPool2D, AvgPool2D, Flatten, Reshape)
}


class Network:
    """A stack of layers trained with one loss.

    ``forward`` runs the layers in order, ``backward`` runs them in reverse:

        X -> layer_1 -> ... -> layer_L -> Z (scores)      loss(Z, y) -> L,  dZ
        dZ -> layer_L.backward -> ... -> layer_1.backward  (fills every layer's grads)

    ``seed`` re-draws all parameters from one generator, so the same seed gives the same network
    bit for bit; ``seed=None`` keeps the layers' parameters as they are.
    """

    def __init__(self, layers: Sequence[Layer], loss: str = SoftmaxCrossEntropy.name,
                 seed: int | None = 0, dtype: Any = np.float32) -> None:
        if not layers:
            raise SpecError("a network needs at least one layer")
        if loss not in LOSSES:
            raise SpecError(f"unknown loss {loss!r}: use one of {', '.join(LOSSES)}")
        self.layers = list(layers)
        self.loss = LOSSES[loss]()
        self.dtype = np.dtype(dtype)
        self.meta: dict[str, Any] = {}
        if seed is not None:
            self.initialize(seed)
        else:
            self.astype(dtype)
        # Gradients w.r.t. the input images are never needed: skip them up to the first
        # layer with parameters (for a 784-512-10 net that saves a third of the backward pass).
        for layer in self.layers:
            layer.needs_input_grad = False
            if layer.params:
                break

    # --- parameters -----------------------------------------------------------------------
    def initialize(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.initialize(rng, self.dtype)

    def astype(self, dtype: Any) -> Network:
        self.dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(self.dtype)
        return self

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield (name, parameter, gradient) for every parameter, e.g. ("0.W", W, dW)."""
        for i, layer in enumerate(self.layers):
            for k, p in layer.params.items():
                yield f"{i}.{k}", p, layer.grads[k]

    @property
    def n_params(self) -> int:
        return sum(p.size for _, p, _ in self.parameters())

    def states(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (name, array) for every non-trained array, e.g. ("3.running_mean", ...)."""
        for i, layer in enumerate(self.layers):
            for k, a in layer.state.items():
                yield f"{i}.{k}", a

    @property
    def n_inputs(self) -> int:
        """Values per input image: the first layer's n_in (784 for Dense(784, ..) or
        Reshape(28, 28, 1))."""
        for layer in self.layers:
            if hasattr(layer, "n_in"):
                return int(layer.n_in)
        raise SpecError("the network's first layers do not say how many inputs they take: "
                        "start it with Dense(n_in, ...) or Reshape(28, 28, 1)")

    @property
    def n_outputs(self) -> int:
        return next(layer.n_out for layer in reversed(self.layers) if isinstance(layer, Dense))

    @property
    def n_classes(self) -> int:
        """Classes the network tells apart: 2 for a one-output sigmoid network."""
        return 2 if isinstance(self.loss, SigmoidBinaryCrossEntropy) else self.n_outputs

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter and state array (in a fixed order)."""
        return [p.copy() for _, p, _ in self.parameters()] + [a.copy() for _, a in self.states()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        arrays = [p for _, p, _ in self.parameters()] + [a for _, a in self.states()]
        for p, w in zip(arrays, weights, strict=True):
            p[...] = w

    # --- passes ---------------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """X:(N, n_inputs) -> Z:(N, n_outputs), the scores before softmax/sigmoid."""
        for layer in self.layers:
            X = layer.forward(X, training)
        return X

    def backward(self, dZ: np.ndarray) -> None:
        """Propagate dZ = dL/dZ back through every layer, filling each layer's grads."""
        for layer in reversed(self.layers):
            dZ = layer.backward(dZ)
            if dZ is None:
                break

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward and backward pass on a batch; returns (mean loss, scores Z)."""
        Z = self.forward(X, training=True)
        loss = self.loss.forward(Z, y)
        self.backward(self.loss.backward())
        return loss, Z

    # --- use ------------------------------------------------------------------------------
    def check_input(self, X: np.ndarray) -> np.ndarray:
        """``X`` as an (N, n_inputs) array of the network's dtype, or a SpecError saying what to
        change."""
        X = np.asarray(X)
        n = self.n_inputs
        if X.ndim >= 2 and X.ndim != 2:
            X = X.reshape(len(X), -1)
        if X.ndim != 2 or X.shape[1] != n:
            columns = images_problem(X, n)
            if columns:
                raise SpecError(columns)
            one = " (one image? pass X.reshape(1, -1))" if X.shape == (n,) else ""
            raise SpecError(
                f"this network takes inputs of {n} values per image (N, {n}), one image per "
                f"row; got an array of shape {np.shape(X)}{one}"
            )
        return X.astype(self.dtype, copy=False)

    def predict_proba(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class probabilities, (N, n_classes); each row sums to 1."""
        X = self.check_input(X)
        out = [self.loss.probabilities(self.forward(X[i:i + batch_size]))
               for i in range(0, len(X), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), self.dtype)

    def predict(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class per image, (N,) int64."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
        """(mean loss, accuracy) on a labelled set, without touching the gradients."""
        X = self.check_input(X)
        total, correct = 0.0, 0
        for i in range(0, len(X), batch_size):
            Z = self.forward(X[i:i + batch_size])
            yb = y[i:i + batch_size]
            total += self.loss.forward(Z, yb) * len(yb)
            correct += int(np.sum(self.loss.labels(Z) == yb))
        n = max(len(X), 1)
        return total / n, correct / n

    # --- description ----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "layers": [{"type": type(layer).__name__, **layer.config()} for layer in self.layers],
            "loss": self.loss.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], dtype: Any = np.float32) -> Network:
        layers = []
        for spec in config["layers"]:
            spec = dict(spec)
            kind = spec.pop("type")
            if kind not in LAYER_TYPES:
                raise SpecError(f"unknown layer type {kind!r}")
            layers.append(LAYER_TYPES[kind](**spec))
        return cls(layers, loss=config["loss"], seed=None, dtype=dtype)

    def summary(self) -> str:
        rows = [(str(i), repr(layer), sum(p.size for p in layer.params.values()))
                for i, layer in enumerate(self.layers)]
        rows.append(("", f"total ({self.dtype.name})", self.n_params))
        w = max(len(r[1]) for r in rows) + 2
        lines = [f"{'#':>3}  {'layer':<{w}}{'params':>10}"]
        lines += [f"{i:>3}  {name:<{w}}{n:>10,}" for i, name, n in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Network({self.layers!r}, loss={self.loss.name!r})"
