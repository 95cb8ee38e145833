"""What a network will allocate, worked out from its list of layers before any layer is built.

A layer list is what ``Network.config()`` gives and a model file holds:
``[{"type": "Dense", "n_in": 784, "n_out": 10, ...}, ...]``. For digitnet's own layers the
sizes follow from those arguments alone:

    Dense(n_in, n_out)        W (n_in, n_out), b (n_out,)      out (n_out,)
    Conv2D(C, O, k, s, p)     W (k, k, C, O), b (O,)           out (Ho, Wo, O), Ho = (H+2p-k)//s + 1
                              its window matrix: Ho * Wo * k * k * C values per image
    BatchNorm(n)              gamma, beta, running_mean, running_var (n,)
    MaxPool2D(k), AvgPool2D   out (H // k, W // k, C)  (AvgPool2D(0): (1, 1, C))
    Reshape(shape), Flatten   out shape, out (H * W * C,)
    Deskew                    (H, W, 1) in and out
    activations, Dropout      out = in

``plan_network`` walks the list with the shape of one image and checks the totals against
``digitnet.limits`` (``build_network`` and ``load_model`` call it before building anything), so
a spec or a file that asks for too much gets a SpecError with the size asked for and the limit.
A layer class of your own is not known here: its arrays and its output shape are unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..limits import (
    MAX_BATCH_BYTES,
    MAX_LAYERS,
    MAX_PARAMS,
    MAX_VALUES_PER_IMAGE,
    size_text,
)

Shape = tuple[int, ...]
#: layers that keep the shape of what they are given and hold no arrays
SHAPE_KEEPING = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout")
#: arrays that are a layer's state (saved, not trained): not counted as parameters
STATE_ARRAYS = ("running_mean", "running_var")


@dataclass
class Plan:
    """What a layer list asks for. ``arrays[i]``: layer i's parameter and state shapes by name
    (None for a layer type this module does not know); ``n_params``: the values of all the known
    parameters (not state); ``values_per_image``: the most values one image makes in one layer;
    ``work_per_image``: the values one image makes in all layers together (what a training batch
    keeps per image); ``out_shape``: the output shape for one image, None if unknown."""

    arrays: list[dict[str, Shape] | None] = field(default_factory=list)
    n_params: int = 0
    values_per_image: int = 0
    work_per_image: int = 0
    out_shape: Shape | None = None


def _size(args: dict[str, Any], key: str, where: str, low: int = 1,
          default: int | None = None) -> int:
    v = args.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where}: {key} must be a whole number, got {v!r}")
    if v < low:
        raise SpecError(f"{where}: {key} must be at least {low}, got {v}")
    return v


def _image(shape: Shape | None, where: str, channels: int | None = None) -> Shape | None:
    """The (H, W, C) shape a 2-D layer needs, or None if unknown; SpecError if it cannot be."""
    if shape is None:
        return None
    if len(shape) != 3 or (channels is not None and shape[2] != channels):
        want = f"(H, W, {channels})" if channels is not None else "(H, W, C)"
        raise SpecError(f"{where} takes images {want} but gets {shape}")
    return shape


def layer_plan(kind: str, args: dict[str, Any], shape: Shape | None, where: str
               ) -> tuple[dict[str, Shape] | None, Shape | None, int]:
    """One layer: (its arrays' shapes or None if unknown, its output shape for one image or
    None if unknown, the most values one image makes in it). SpecError for arguments that are
    not positive whole numbers where sizes are expected, or an input of the wrong shape."""
    if kind == "Dense":
        n_in, n_out = _size(args, "n_in", where), _size(args, "n_out", where)
        if shape is not None and math.prod(shape) != n_in:
            raise SpecError(f"{where} takes {n_in} values per image but gets {shape}")
        return {"W": (n_in, n_out), "b": (n_out,)}, (n_out,), n_out
    if kind == "Conv2D":
        c, o = _size(args, "c_in", where), _size(args, "c_out", where)
        k, s = _size(args, "kernel", where, default=3), _size(args, "stride", where, default=1)
        padding = args.get("padding", "same")
        if padding in ("same", "valid"):
            p = (k - 1) // 2 if padding == "same" else 0
        else:
            p = _size(args, "padding", where, low=0)
        arrays = {"W": (k, k, c, o), "b": (o,)}
        image = _image(shape, where, c)
        if image is None:
            return arrays, None, 0
        h, w = image[0] + 2 * p, image[1] + 2 * p
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if ho < 1 or wo < 1:
            raise SpecError(f"{where}: a {k}x{k} kernel does not fit images of "
                            f"{image[0]}x{image[1]}")
        return arrays, (ho, wo, o), max(ho * wo * o, ho * wo * k * k * c, h * w * c)
    if kind == "BatchNorm":
        n = _size(args, "n", where)
        if shape is not None and shape[-1] != n:
            raise SpecError(f"{where} normalizes {n} features but gets {shape}")
        arrays = {k: (n,) for k in ("gamma", "beta", "running_mean", "running_var")}
        return arrays, shape, math.prod(shape) if shape else 0
    if kind in ("MaxPool2D", "AvgPool2D"):
        k = _size(args, "size", where, low=0 if kind == "AvgPool2D" else 1, default=2)
        image = _image(shape, where)
        if image is None:
            return {}, None, 0
        h, w, c = image
        out = (1, 1, c) if k == 0 else (h // k, w // k, c)
        if out[0] < 1 or out[1] < 1:
            raise SpecError(f"{where}: pooling by {k} does not fit images of {h}x{w}")
        return {}, out, h * w * c
    if kind == "Reshape":
        dims = args.get("shape")
        if not isinstance(dims, list) or not 1 <= len(dims) <= 3:
            raise SpecError(f"{where}: shape must be a list of 1 to 3 sizes, got {dims!r}")
        out = tuple(_size({"shape": d}, "shape", where) for d in dims)
        if shape is not None and math.prod(shape) != math.prod(out):
            raise SpecError(f"{where} reshapes {math.prod(out)} values per image but gets "
                            f"{shape}")
        return {}, out, math.prod(out)
    if kind == "Deskew":
        image = _image(shape, where, 1)
        return {}, image, math.prod(image) if image else 0
    if kind == "Flatten":
        return {}, None if shape is None else (math.prod(shape),), 0
    if kind in SHAPE_KEEPING:
        return {}, shape, math.prod(shape) if shape else 0
    return None, None, 0


def plan_network(layers: list[dict[str, Any]], *, check: bool = True) -> Plan:
    """Walk a layer list (``Network.config()["layers"]``) with the shape of one image.

    ``check``: raise SpecError for a size that is not a positive whole number, a layer that
    cannot take what the one before it gives, more than ``limits.MAX_LAYERS`` layers, more than
    ``limits.MAX_PARAMS`` parameters or more than ``limits.MAX_VALUES_PER_IMAGE`` values per
    image in one layer. Without it (to
    estimate what an existing network needs), a layer that cannot be planned counts as unknown.
    """
    if check and len(layers) > MAX_LAYERS:
        raise SpecError(f"the network would have {len(layers):,} layers; the limit is "
                        f"{MAX_LAYERS:,} (digitnet.limits.MAX_LAYERS)")
    plan = Plan()
    shape: Shape | None = None
    for i, spec in enumerate(layers):
        kind = spec.get("type")
        where = f"layer {i} ({kind})"
        try:
            arrays, out, values = layer_plan(str(kind), spec, shape, where)
        except SpecError:
            if check:
                raise
            arrays, out, values = None, None, 0
        plan.arrays.append(arrays)
        plan.n_params += sum(math.prod(s) for k, s in (arrays or {}).items()
                             if k not in STATE_ARRAYS)
        plan.values_per_image = max(plan.values_per_image, values)
        plan.work_per_image += values
        if check and plan.n_params > MAX_PARAMS:
            raise SpecError(
                f"the network would have {plan.n_params:,} parameters (at {where}: "
                f"{size_text(4 * plan.n_params)} as float32); the limit is {MAX_PARAMS:,} "
                f"(digitnet.limits.MAX_PARAMS): use smaller layers")
        if check and values > MAX_VALUES_PER_IMAGE:
            raise SpecError(
                f"{where} would make {size_text(values, 'values')} per image "
                f"({size_text(4 * values)} as float32); the limit is "
                f"{size_text(MAX_VALUES_PER_IMAGE, 'values')} "
                f"(digitnet.limits.MAX_VALUES_PER_IMAGE): use fewer filters or a smaller image")
        shape = out
    plan.out_shape = shape
    return plan


def check_batch(net: Any, n_images: int, what: str, *, itemsize: int | None = None,
                copies: int = 1) -> None:
    """SpecError if ``n_images`` images at once through ``net`` would make more than
    ``limits.MAX_BATCH_BYTES`` of arrays. An estimate: every layer's output and window matrix,
    ``copies`` times (a trace keeps two), in the network's dtype (or ``itemsize`` bytes per
    value); layers of your own count as unknown."""
    layers = [{"type": type(layer).__name__, **layer.config()}
              if type(layer).__module__.startswith(__package__ + ".")
              else {"type": "(your own)"} for layer in net.layers]
    per_image = copies * plan_network(layers, check=False).work_per_image * (
        itemsize or net.dtype.itemsize)
    if per_image and n_images * per_image > MAX_BATCH_BYTES:
        raise SpecError(
            f"{what}: {n_images:,} images at once would make about "
            f"{size_text(n_images * per_image)} of arrays in this network "
            f"({size_text(per_image)} per image); the limit is {size_text(MAX_BATCH_BYTES)} "
            f"(digitnet.limits.MAX_BATCH_BYTES): use at most "
            f"{max(1, MAX_BATCH_BYTES // per_image):,} images")
