"""Measuring a network layer by layer: what each layer outputs and how large its gradients are.

The doctor reads these numbers to say why a network does not learn, the plots draw them, and
nothing here changes the weights.

    trace = forward_trace(net, X)        # [(index, layer, output), ...] in evaluation mode
    m = measure(net, X, y)               # loss, accuracy, RMS per activation, ||dW|| / ||W||

(One training step traced array by array, ``Network.trace``, is ``digitnet.trace``: it applies an
optimizer, which sits above the network on the data path.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ACTIVATIONS, ReLU
from .layers import Layer

if TYPE_CHECKING:
    from .network import Network

#: activation layers whose outputs are measured (ReLU, LeakyReLU, Sigmoid, Tanh)
ACTIVATION_TYPES: tuple[type[Layer], ...] = tuple(ACTIVATIONS.values())


def rms(a: np.ndarray) -> float:
    """Root mean square, sqrt(mean(a**2)), accumulated in float64."""
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if np.size(a) else 0.0


def forward_trace(net: Network, X: np.ndarray) -> list[tuple[int, Layer, np.ndarray]]:
    """Run ``X`` through the layers (evaluation mode) and return (index, layer, output) for each.
    (Evaluation mode keeps nothing on the layers: a backward pass needs a training-mode forward.)
    """
    A = net.check_input(X)
    out = []
    for i, layer in enumerate(net.layers):
        A = layer.forward(A, training=False)
        out.append((i, layer, A))
    return out


def measure(net: Network, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """One forward and backward pass on a probe batch; the numbers the doctor reads.

    Returns a dict: ``loss``, ``accuracy``, ``predicted`` (N,), ``input_rms``, ``activations``
    (per activation layer: layer, rms, ratio to the input RMS, dead_share and units for ReLU)
    and ``gradients`` (per weight array W: param, layer, norm of dW, ratio ||dW|| / ||W||).
    Activations, loss and predictions are those of evaluation mode; the gradients those of a
    training step on (X, y), as the optimizer sees them (dropout on, BatchNorm on the batch's
    statistics). The weights and the running statistics are left as they were.
    """
    X = net.check_input(X)
    input_rms = rms(X) or 1.0
    trace = forward_trace(net, X)
    activations = []
    for i, layer, A in trace[:-1]:
        if not isinstance(layer, ACTIVATION_TYPES):
            continue
        r = rms(A)
        entry: dict[str, Any] = {"layer": f"{i} {type(layer).__name__}", "index": i, "rms": r,
                                 "ratio": r / input_rms}
        if isinstance(layer, ReLU):  # a unit (or conv channel) that is 0 for every image
            entry["dead_share"] = float(np.mean(np.all(A <= 0, axis=tuple(range(A.ndim - 1)))))
            entry["units"] = int(A.shape[-1])
        activations.append(entry)
    Z = trace[-1][2]
    predicted = net.loss.labels(Z)
    loss = net.loss.value(Z, y)
    states = [a.copy() for _, a in net.states()]
    net.loss.forward(net.forward(X, training=True), y)
    net.backward(net.loss.backward())
    for (_, a), saved in zip(net.states(), states, strict=True):
        a[...] = saved
    gradients = []
    for i, layer in enumerate(net.layers):
        if "W" in layer.params:
            W, dW = layer.params["W"], layer.grads["W"]
            norm = float(np.linalg.norm(dW.astype(np.float64)))
            gradients.append({"param": f"{i}.W", "layer": f"{i} {type(layer).__name__}",
                              "index": i, "norm": norm,
                              "ratio": norm / (float(np.linalg.norm(W.astype(np.float64)))
                                               or 1.0)})
    return {"loss": loss, "accuracy": float(np.mean(predicted == y)), "predicted": predicted,
            "input_rms": input_rms, "activations": activations, "gradients": gradients}
