"""Build a Network from a short text spec, or from a preset name.

Dense networks are layer sizes joined by '-':

    "784-512-256-10"   Dense 784->512, ReLU, Dense 512->256, ReLU, Dense 256->10, softmax CE
    "784-128-1"        one output: sigmoid + binary cross-entropy (one-vs-rest, "is it a 7?")

Convolutional networks use these tokens (the input is 28x28x1 unless the spec starts with
e.g. "28x28x1"; Flatten is added before the first Dense layer by itself):

    conv32        Conv2D, 32 filters 3x3, padding "same", then the activation
    conv16k5      ... with 5x5 filters;  conv16k5v: padding "valid";  conv32s2: stride 2
    bn            BatchNorm on the layer before it (placed before that layer's activation)
    pool2         MaxPool2D(2);  avgpool2: AvgPool2D(2);  gap: global average pooling
    drop0.25      Dropout(0.25)
    deskew        Deskew, first only: each image sheared upright and centred (nn/resample.py)
    128           Dense with 128 units (+ activation); the last number is the number of classes

    "conv6k5-pool2-conv16k5v-pool2-120-84-10"     (LeNet-5)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import SpecError
from .activations import ACTIVATIONS
from .conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .layers import BatchNorm, Dense, Dropout, Layer
from .losses import SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy
from .network import Network
from .resample import Deskew
from .sizes import plan_network

#: preset name -> (spec, default dropout). "mlp" is what `digitnet train` uses by default.
PRESETS: dict[str, tuple[str, float]] = {
    "mlp": ("784-512-256-10", 0.2),
    "lenet5": ("conv6k5-pool2-conv16k5v-pool2-120-84-10", 0.0),
    "cnn": ("conv32-pool2-conv64-bn-pool2-256-drop0.15-10", 0.0),
    # 99% in two epochs: a cheap first layer (5x5 with stride 2: a quarter of the positions)
    "fast": ("conv24k5s2v-conv32v-pool2-256-10", 0.0),
    # the most accurate (with its recipe: elastic warps, 30 epochs): two 64-filter convolutions
    "best": ("conv32-bn-pool2-conv64-bn-conv64-bn-pool2-conv128-bn-pool2-256-drop0.2-10", 0.0),
}
#: best's layers reading deskewed digits: as accurate alone, and a member that errs on other
#: images than best's, so an ensemble of both kinds gains more (README "Recipes")
PRESETS["best-deskew"] = ("deskew-" + PRESETS["best"][0], PRESETS["best"][1])

_HELP = ("write layer sizes joined by '-' (784-512-256-10), conv tokens (conv32, conv16k5v, bn, "
         f"pool2, drop0.25, ...: see `digitnet train --help`), or a preset ({', '.join(PRESETS)})")
_CONV = re.compile(r"^conv(\d+)(?:k(\d+))?(?:s(\d+))?(v?)$")


def parse_sizes(spec: str) -> list[int]:
    """"784-512-10" -> [784, 512, 10] for a dense spec."""
    try:
        sizes = [int(p) for p in spec.replace(" ", "").split("-")]
    except ValueError:
        raise SpecError(f"cannot read network spec {spec!r}: {_HELP}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise SpecError(f"network spec {spec!r} needs at least an input and an output size, all "
                        "positive, e.g. 784-10 or 784-512-10")
    return sizes


def is_dense_spec(spec: str) -> bool:
    """True for layer sizes only ("784-512-10"), False for a spec with conv tokens."""
    return all(t.strip().isdigit() for t in spec.split("-"))


def build_network(spec: str | Sequence[int] = "mlp", *, activation: str = "relu",
                  init: str | None = None, dropout: float | None = None, seed: int = 0,
                  dtype: Any = np.float32) -> Network:
    """A network from a spec string, a list of sizes, or a preset name.

    ``init`` defaults to He for ReLU-like activations and Glorot for sigmoid/tanh.
    ``dropout`` > 0 adds a Dropout layer after every hidden activation of a dense network
    (None: the preset's own rate, 0 for plain specs). The layers are planned first and checked
    against ``limits.MAX_PARAMS``, ``MAX_VALUES_PER_IMAGE`` and ``MAX_LAYERS`` (``nn.sizes``):
    a spec beyond them is a SpecError before anything is allocated.
    """
    if isinstance(spec, str) and spec.strip().lower() in PRESETS:
        spec, preset_dropout = PRESETS[spec.strip().lower()]
        dropout = preset_dropout if dropout is None else dropout
    if activation not in ACTIVATIONS:
        raise SpecError(f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}")
    if init is None:
        init = "glorot" if activation in ("sigmoid", "tanh") else "he"
    if isinstance(spec, str) and not spec.strip():
        raise SpecError(f"the network spec is empty: {_HELP}")
    if isinstance(spec, str) and not is_dense_spec(spec):
        plans = _conv_layers(spec, activation, init, dropout or 0.0)
    else:
        sizes = parse_sizes(spec) if isinstance(spec, str) else [int(s) for s in spec]
        plans = _dense_layers(sizes, activation, init, dropout or 0.0)
    try:  # what it would allocate, before allocating it
        plan_network([{"type": cls.__name__, **args} for cls, args in plans])
    except SpecError as e:
        raise SpecError(f"network spec {_short(spec)}: {e}") from None
    layers = [cls(**args) for cls, args in plans]
    last = next(layer for layer in reversed(layers) if isinstance(layer, Dense))
    loss = SigmoidBinaryCrossEntropy.name if last.n_out == 1 else SoftmaxCrossEntropy.name
    return Network(layers, loss=loss, seed=seed, dtype=dtype)


def _short(spec: str | Sequence[int]) -> str:
    text = repr(spec if isinstance(spec, str) else "-".join(map(str, spec)))
    return text if len(text) <= 80 else text[:76] + "...'"


#: a layer to build: its class and its arguments (a network is planned, checked, then built)
LayerPlan = tuple[type[Layer], dict[str, Any]]


def _dense_layers(sizes: list[int], activation: str, init: str,
                  dropout: float) -> list[LayerPlan]:
    plans: list[LayerPlan] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        # the output layer feeds softmax/sigmoid: Glorot suits it whatever the hidden init is
        plans.append((Dense, {"n_in": n_in, "n_out": n_out,
                              "init": init if not last or init == "small" else "glorot"}))
        if not last:
            plans.append((ACTIVATIONS[activation], {}))
            if dropout:
                plans.append((Dropout, {"p": dropout}))
    return plans


def _conv_layers(spec: str, activation: str, init: str, dropout: float) -> list[LayerPlan]:
    tokens = [t for t in spec.replace(" ", "").lower().split("-") if t]
    shape = (28, 28, 1)
    if tokens and re.fullmatch(r"\d+x\d+x\d+", tokens[0]):
        shape = tuple(int(v) for v in tokens.pop(0).split("x"))
    elif tokens and tokens[0].isdigit() and not tokens[0] == tokens[-1]:
        if int(tokens[0]) != 784:
            raise SpecError(f"a convolutional spec starts with its image shape, e.g. 28x28x1, "
                            f"not {tokens[0]}")
        tokens.pop(0)
    layers: list[LayerPlan] = [(Reshape, {"shape": list(shape)})]
    h, w, c = shape
    flat: int | None = None  # set once the image has been flattened for Dense layers
    dense_idx = [i for i, t in enumerate(tokens) if t.isdigit()]
    if not dense_idx or dense_idx[-1] != len(tokens) - 1:
        raise SpecError(f"network spec {spec!r} must end with the number of classes, e.g. -10")

    def act() -> None:
        layers.append((ACTIVATIONS[activation], {}))

    deferred = False  # an activation moved after the max pool that follows it

    def act_before(nxt: str) -> None:
        # every activation here is monotonic, so max-pooling commutes with it:
        # pool(act(Z)) == act(pool(Z)), and after the pool it runs on size^2 times fewer values
        nonlocal deferred
        if re.fullmatch(r"(max)?pool\d+", nxt):
            deferred = True
        else:
            act()

    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        last = i == len(tokens) - 1
        m = _CONV.match(tok)
        if m:
            if flat is not None:
                raise SpecError(f"{tok!r} comes after a Dense layer in {spec!r}: put the "
                                "convolutions first")
            f, k, s = int(m.group(1)), int(m.group(2) or 3), int(m.group(3) or 1)
            valid = bool(m.group(4))
            layers.append((Conv2D, {"c_in": c, "c_out": f, "kernel": k, "stride": s,
                                    "padding": "valid" if valid else "same", "init": init}))
            pad = 0 if valid else (k - 1) // 2  # as Conv2D's "same" and "valid"
            h = (h + 2 * pad - k) // s + 1
            w = (w + 2 * pad - k) // s + 1
            c = f
            if h < 1 or w < 1:
                raise SpecError(f"{tok!r} in {spec!r}: the image is too small for this kernel")
            if nxt != "bn":
                act_before(nxt)
        elif tok == "bn":
            prev, args = layers[-1]
            n = args["c_out"] if prev is Conv2D else args["n_out"] if prev is Dense else None
            if n is None:
                raise SpecError(f"'bn' must follow a conv or dense token in {spec!r}")
            layers.append((BatchNorm, {"n": n}))
            act_before(nxt)  # (a pool after a dense layer is refused when its token is read)
        elif (pm := re.fullmatch(r"(max|avg)?pool(\d+)", tok)) or tok == "gap":
            size = 0 if tok == "gap" else int(pm.group(2))
            if flat is not None:
                raise SpecError(f"{tok!r} comes after a Dense layer in {spec!r}")
            layers.append((AvgPool2D if tok == "gap" or pm.group(1) == "avg" else MaxPool2D,
                           {"size": size}))
            h, w = (1, 1) if size == 0 else (h // size, w // size)
            if h < 1 or w < 1:
                raise SpecError(f"{tok!r} in {spec!r}: the image is already smaller than that")
            if deferred:
                act()
                deferred = False
        elif (dm := re.fullmatch(r"drop(?:out)?(0?\.\d+)", tok)):
            layers.append((Dropout, {"p": float(dm.group(1))}))
        elif tok == "deskew":
            if i > 0:
                raise SpecError(f"'deskew' must come first in {spec!r} (deskew-conv32-...): "
                                "it prepares the input images")
            if c != 1:
                raise SpecError(f"'deskew' takes one-channel images, not {h}x{w}x{c}")
            layers.append((Deskew, {}))
        elif tok.isdigit():
            if flat is None:
                layers.append((Flatten, {}))
                flat = h * w * c
            n = int(tok)
            layers.append((Dense, {"n_in": flat, "n_out": n,
                                   "init": "glorot" if last and init != "small" else init}))
            flat = n
            if not last:
                if nxt != "bn":
                    act()
                if dropout and nxt != "bn" and not nxt.startswith("drop"):
                    layers.append((Dropout, {"p": dropout}))
        else:
            raise SpecError(f"cannot read {tok!r} in network spec {spec!r}: {_HELP}")
    return layers
