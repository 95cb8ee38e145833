"""Build a Network from a short text spec such as "784-512-256-10", or from a preset name.

    "784-512-256-10"   Dense 784->512, ReLU, Dense 512->256, ReLU, Dense 256->10, softmax CE
    "784-128-1"        one output: sigmoid + binary cross-entropy (one-vs-rest, "is it a 7?")
    "mlp"              the default dense network (see PRESETS)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import SpecError
from .activations import ACTIVATIONS
from .layers import Dense, Dropout, Layer
from .losses import SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy
from .network import Network

#: preset name -> (sizes, options). "mlp" is the recipe `digitnet train` uses by default.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp": ("784-512-256-10", {"dropout": 0.2}),
}


def parse_sizes(spec: str) -> list[int]:
    """"784-512-10" -> [784, 512, 10], with a message that says what a spec looks like."""
    parts = spec.replace(" ", "").split("-")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise SpecError(
            f"cannot read network spec {spec!r}: write layer sizes joined by '-', e.g. "
            f"784-512-256-10, or a preset name ({', '.join(PRESETS)})"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise SpecError(
            f"network spec {spec!r} needs at least an input and an output size, all positive, "
            "e.g. 784-10 or 784-512-10"
        )
    return sizes


def build_network(spec: str | Sequence[int] = "mlp", *, activation: str = "relu",
                  init: str | None = None, dropout: float | None = None, seed: int = 0,
                  dtype: Any = np.float32) -> Network:
    """A dense network from a spec string, a list of sizes, or a preset name.

    ``init`` defaults to He for ReLU-like activations and Glorot for sigmoid/tanh.
    ``dropout`` > 0 adds a Dropout layer after every hidden activation (None: the preset's
    own rate, 0 for plain specs).
    """
    if isinstance(spec, str) and spec in PRESETS:
        spec, options = PRESETS[spec]
        dropout = options.get("dropout", 0.0) if dropout is None else dropout
    sizes = parse_sizes(spec) if isinstance(spec, str) else [int(s) for s in spec]
    if activation not in ACTIVATIONS:
        raise SpecError(
            f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}"
        )
    if init is None:
        init = "glorot" if activation in ("sigmoid", "tanh") else "he"
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        # the output layer feeds softmax/sigmoid: Glorot suits it whatever the hidden init is
        layers.append(Dense(n_in, n_out, init=init if not last or init == "small" else "glorot"))
        if not last:
            layers.append(ACTIVATIONS[activation]())
            if dropout:  # None or 0: none
                layers.append(Dropout(dropout))
    loss = SigmoidBinaryCrossEntropy.name if sizes[-1] == 1 else SoftmaxCrossEntropy.name
    return Network(layers, loss=loss, seed=seed, dtype=dtype)
