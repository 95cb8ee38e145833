"""A model as an ONNX file, for onnxruntime (Python, onnxruntime-web in a browser, phones),
OpenCV's dnn module and other runtimes: ``export_onnx(net, "model.onnx")``.

The file computes what ``net.predict_proba`` computes, in evaluation mode:

    images (N, 784) float32 in [0, 1] --layers--> Z (N, C) --softmax--> probabilities (N, C)

- Dense: Gemm (Z = X @ W + b, the same W); activations: Relu, LeakyRelu, Sigmoid, Tanh; Dropout:
  nothing (it is the identity when predicting); BatchNorm: BatchNormalization with the running
  statistics (dense features or conv channels alike).
- Images: digitnet keeps them NHWC, ONNX's Conv and pools take NCHW. The first Reshape(28, 28, 1)
  is followed by one Transpose to NCHW (none is needed for one channel: the same order of
  values), and Flatten transposes back to NHWC first, so the Dense weights after it read the
  values in digitnet's order. Conv2D's W (k, k, C, O) becomes ONNX's (O, C, k, k); MaxPool2D
  and AvgPool2D are the pools with kernel = stride = size (floor, no padding, like digitnet's),
  and AvgPool2D(0) is GlobalAveragePool. Deskew: its moments as MatMuls and its bilinear read
  as GridSample (``_deskew``).
- The head: Softmax over the classes; for a one-output (one-vs-rest) network, sigmoid p and the
  two columns [1 - p, p]. A calibration temperature T in ``net.meta["calibration"]`` divides the
  scores first (softmax(Z / T)); without one there is no division.
- An Ensemble (or a list of networks): each network is a subgraph from ``images`` to its own
  probabilities (``_network_nodes``), and the output is their mean. Test-time augmentation (the
  Ensemble's ``tta``, or ``shifts``): the images moved by a pixel or a few go through each
  network as one batch of V*N images, and its probabilities are averaged over the V views
  (ReduceMean) before the members' Mean.

The graph uses ONNX opset 17 (IR version 8), which onnxruntime has read since 1.13 (checked
here: onnxruntime 1.32, onnxruntime-web 1.30 in Node, OpenCV 5.0's dnn). The class names, the
digitnet version and the preprocessing go into the model's metadata_props. A layer class of
your own cannot be exported (its forward is Python that ONNX cannot run): SpecError naming it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError, SpecError
from .extras import missing
from .files import file_problem, replace_file
from .modelfile import MNIST_PREPROCESSING, load_model
from .nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .nn.ensemble import TTA_SHIFTS, Ensemble
from .nn.layers import BatchNorm, Dense, Dropout, Layer
from .nn.losses import SigmoidBinaryCrossEntropy
from .nn.network import Network
from .nn.resample import MAX_SKEW, Deskew
from .version import __version__

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    raise missing("onnx", e) from None

#: the ONNX operator set the files use (onnxruntime reads it since 1.13)
OPSET = 17
INPUT, OUTPUT = "images", "probabilities"


class _Subgraph:
    """The nodes and weights (initializers) of one network, every name starting with
    ``prefix`` so that several networks can share one graph."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()  # every tensor is named once (ONNX graphs are SSA)

    def _new(self, name: str) -> str:
        assert name not in self.names, f"two tensors named {name!r}"
        self.names.add(name)
        return name

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        full = self._new(self.prefix + name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), full))
        return full

    def node(self, op: str, inputs: Sequence[str], name: str, output: str | None = None,
             **attrs: Any) -> str:
        out = self._new(output or self.prefix + name)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self.prefix + name,
                                           **attrs))
        return out


# --- one layer: (graph, layer, input tensor, tag, the layer's input shape) -> output tensor ---
# Shapes are digitnet's, per image: (F,) for features, (H, W, C) for images (held as NCHW here).
Emit = Callable[[_Subgraph, Any, str, str, tuple[int, ...]], str]


def _dense(g: _Subgraph, layer: Dense, x: str, tag: str, shape: tuple[int, ...]) -> str:
    W, b = g.const(tag + "W", layer.params["W"]), g.const(tag + "b", layer.params["b"])
    return g.node("Gemm", [x, W, b], tag + "dense")


def _batchnorm(g: _Subgraph, layer: BatchNorm, x: str, tag: str,
               shape: tuple[int, ...]) -> str:
    """A = gamma * (X - running_mean) / sqrt(running_var + eps) + beta, per feature or channel
    (axis 1 of (N, F) and of NCHW alike)."""
    names = [g.const(tag + k, layer.params[k]) for k in ("gamma", "beta")]
    names += [g.const(tag + k, layer.state[k]) for k in ("running_mean", "running_var")]
    return g.node("BatchNormalization", [x, *names], tag + "batchnorm", epsilon=layer.eps)


def _conv(g: _Subgraph, layer: Conv2D, x: str, tag: str, shape: tuple[int, ...]) -> str:
    W = g.const(tag + "W", layer.params["W"].transpose(3, 2, 0, 1))  # (k,k,C,O) -> (O,C,k,k)
    b = g.const(tag + "b", layer.params["b"])
    k, s, p = layer.kernel, layer.stride, layer.pad
    return g.node("Conv", [x, W, b], tag + "conv", kernel_shape=[k, k], strides=[s, s],
                  pads=[p, p, p, p])


def _maxpool(g: _Subgraph, layer: MaxPool2D, x: str, tag: str, shape: tuple[int, ...]) -> str:
    k = layer.size
    return g.node("MaxPool", [x], tag + "maxpool", kernel_shape=[k, k], strides=[k, k])


def _avgpool(g: _Subgraph, layer: AvgPool2D, x: str, tag: str, shape: tuple[int, ...]) -> str:
    if layer.size == 0:
        return g.node("GlobalAveragePool", [x], tag + "gap")
    k = layer.size
    return g.node("AveragePool", [x], tag + "avgpool", kernel_shape=[k, k], strides=[k, k])


def _to_rows(g: _Subgraph, x: str, tag: str, shape: tuple[int, ...]) -> str:
    """Images held as NCHW -> digitnet's NHWC order of values, flattened to (N, H*W*C)."""
    if len(shape) == 1:
        return x
    if len(shape) == 3 and shape[2] > 1 and shape[0] * shape[1] > 1:
        x = g.node("Transpose", [x], tag + "to_nhwc", perm=[0, 2, 3, 1])
    return g.node("Flatten", [x], tag + "flatten", axis=1)


def _flatten(g: _Subgraph, layer: Flatten, x: str, tag: str, shape: tuple[int, ...]) -> str:
    return _to_rows(g, x, tag, shape)


def _reshape(g: _Subgraph, layer: Reshape, x: str, tag: str, shape: tuple[int, ...]) -> str:
    """Rows -> images (N, H, W, C), held as NCHW: a reshape, and a transpose unless C is 1."""
    if len(shape) != 1:
        x = _to_rows(g, x, tag, shape)
    if len(layer.shape) == 1:
        return x
    if len(layer.shape) != 3:
        raise SpecError(f"cannot export {layer!r}: ONNX export takes Reshape to images "
                        f"(height, width, channels) or to rows of values")
    h, w, c = layer.shape
    if c == 1:  # (H, W, 1) and (1, H, W) hold the values in the same order
        return g.node("Reshape", [x, g.const(tag + "shape", [-1, 1, h, w], np.int64)],
                      tag + "reshape")
    x = g.node("Reshape", [x, g.const(tag + "shape", [-1, h, w, c], np.int64)], tag + "reshape")
    return g.node("Transpose", [x], tag + "to_nchw", perm=[0, 3, 1, 2])


def _deskew(g: _Subgraph, layer: Deskew, x: str, tag: str, shape: tuple[int, ...]) -> str:
    """Deskew (nn/resample.py) with ONNX operators: the moments as MatMuls of the ink with
    constant columns (y, x, y*y, y*x), the shear and shift as a grid of positions, and the read
    as GridSample (bilinear, zeros outside, align_corners: -1 and 1 are the corner pixels)."""
    h, w, _ = shape
    n = h * w
    rows, cols = np.indices((h, w), dtype=np.float32).reshape(2, 1, n)
    c0, c1 = (h - 1) / 2, (w - 1) / 2
    ink = g.node("Relu", [g.node("Reshape", [x, g.const(tag + "rows", [-1, n], np.int64)],
                                 tag + "as_rows")], tag + "ink")
    m = g.node("ReduceSum", [ink, g.const(tag + "axis1", [1], np.int64)], tag + "m",
               keepdims=1)
    has = g.node("Greater", [m, g.const(tag + "tiny_m", 1e-6)], tag + "has_ink")
    m = g.node("Where", [has, m, g.const(tag + "one", 1.0)], tag + "m_or_1")

    def mean(name: str, column: np.ndarray) -> str:  # sum I * column / m: (N, 1)
        s = g.node("MatMul", [ink, g.const(tag + name + "_col", column.reshape(n, 1))],
                   tag + name + "_sum")
        return g.node("Div", [s, m], tag + name)

    yc, xc = rows - c0, cols - c1  # from the centre, as skew_positions (less cancellation)
    my, mx = mean("my", yc), mean("mx", xc)
    eyy, exy = mean("eyy", yc * yc), mean("exy", yc * xc)
    vy = g.node("Max", [g.node("Sub", [eyy, g.node("Mul", [my, my], tag + "my2")], tag + "vy0"),
                        g.const(tag + "zero", 0.0)], tag + "vy")
    cxy = g.node("Sub", [exy, g.node("Mul", [my, mx], tag + "mymx")], tag + "cxy")
    spread = g.node("Greater", [vy, g.const(tag + "tiny_v", 1e-3)], tag + "spread")
    vy = g.node("Where", [spread, vy, g.const(tag + "one_v", 1.0)], tag + "vy_or_1")
    a = g.node("Where", [spread, g.node("Div", [cxy, vy], tag + "a0"),
                         g.const(tag + "zero_a", 0.0)], tag + "a1")
    a = g.node("Where", [has, a, g.const(tag + "zero_b", 0.0)], tag + "a2")
    a = g.node("Clip", [a, g.const(tag + "lo", -MAX_SKEW), g.const(tag + "hi", MAX_SKEW)],
               tag + "a")
    dy = g.node("Where", [has, my, g.const(tag + "zero_dy", 0.0)], tag + "dy")
    dx = g.node("Where", [has, mx, g.const(tag + "zero_dx", 0.0)], tag + "dx")
    qy = g.node("Add", [g.const(tag + "grid_y", rows), dy], tag + "qy")
    shear = g.node("Mul", [a, g.const(tag + "y_c0", yc)], tag + "shear")
    qx = g.node("Add", [g.node("Add", [g.const(tag + "grid_x", cols), shear], tag + "qx0"), dx],
                tag + "qx")
    # GridSample's positions run from -1 (first pixel) to 1 (last): q * 2 / (size - 1) - 1
    gx = g.node("Sub", [g.node("Mul", [qx, g.const(tag + "sx", 2 / max(w - 1, 1))],
                               tag + "gx0"), g.const(tag + "one_x", 1.0)], tag + "gx")
    gy = g.node("Sub", [g.node("Mul", [qy, g.const(tag + "sy", 2 / max(h - 1, 1))],
                               tag + "gy0"), g.const(tag + "one_y", 1.0)], tag + "gy")
    grid = g.node("Concat", [g.node("Unsqueeze", [gx, g.const(tag + "last", [2], np.int64)],
                                    tag + "gx3"),
                             g.node("Unsqueeze", [gy, g.const(tag + "last_y", [2], np.int64)],
                                    tag + "gy3")], tag + "grid_xy", axis=2)
    grid = g.node("Reshape", [grid, g.const(tag + "grid_shape", [-1, h, w, 2], np.int64)],
                  tag + "grid")
    return g.node("GridSample", [x, grid], tag + "deskew", mode="bilinear",
                  padding_mode="zeros", align_corners=1)


def _activation(op: str) -> Emit:
    def emit(g: _Subgraph, layer: Layer, x: str, tag: str, shape: tuple[int, ...]) -> str:
        return g.node(op, [x], tag + op.lower())
    return emit


def _leaky(g: _Subgraph, layer: LeakyReLU, x: str, tag: str, shape: tuple[int, ...]) -> str:
    return g.node("LeakyRelu", [x], tag + "leakyrelu", alpha=layer.alpha)


def _dropout(g: _Subgraph, layer: Dropout, x: str, tag: str, shape: tuple[int, ...]) -> str:
    return x  # the identity when predicting: no node


#: each digitnet layer class (exactly: not its subclasses) and the nodes it becomes
EMITTERS: dict[type[Layer], Emit] = {
    Dense: _dense, BatchNorm: _batchnorm, Conv2D: _conv, MaxPool2D: _maxpool,
    AvgPool2D: _avgpool, Flatten: _flatten, Reshape: _reshape, Dropout: _dropout,
    ReLU: _activation("Relu"), Sigmoid: _activation("Sigmoid"), Tanh: _activation("Tanh"),
    LeakyReLU: _leaky, Deskew: _deskew,
}


def temperature(net: Network) -> float | None:
    """The calibration temperature T of ``net.meta["calibration"]`` (probabilities are
    softmax(Z / T)), or None when the model has none."""
    calibration = net.meta.get("calibration")
    T = calibration.get("temperature") if isinstance(calibration, dict) else None
    if T is None:
        return None
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not math.isfinite(T) or T <= 0:
        raise SpecError(f"the model's calibration temperature must be a positive number, got "
                        f"{T!r}: calibrate it again")
    return float(T)


def _layer_shapes(net: Network) -> list[tuple[int, ...]]:
    """The per-image input shape of every layer, and the output's last: one image of zeros
    through the network (shapes with stride and padding exactly as digitnet computes them)."""
    A = np.zeros((1, net.n_inputs), net.dtype)
    shapes = [A.shape[1:]]
    for layer in net.layers:
        A = layer.forward(A, training=False)
        shapes.append(A.shape[1:])
    return shapes


def _network_nodes(net: Network, input_name: str, prefix: str, output_name: str | None = None
                   ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """One network as ONNX nodes from ``input_name`` (N, n_inputs) to its probabilities
    (N, n_classes): (nodes, initializers, output name); names start with ``prefix``."""
    for i, layer in enumerate(net.layers):
        if type(layer) not in EMITTERS:
            raise SpecError(
                f"cannot export layer {i} ({type(layer).__name__}) to ONNX: it is a layer class "
                f"of your own, and ONNX export knows only digitnet's layers "
                f"({', '.join(sorted(cls.__name__ for cls in EMITTERS))})")
    g = _Subgraph(prefix)
    shapes = _layer_shapes(net)
    x = input_name
    for i, layer in enumerate(net.layers):
        x = EMITTERS[type(layer)](g, layer, x, f"{i}_", shapes[i])
    T = temperature(net)
    if T is not None:
        x = g.node("Div", [x, g.const("temperature", T)], "calibrated")
    out = output_name or prefix + OUTPUT
    if isinstance(net.loss, SigmoidBinaryCrossEntropy):  # (N, 1) -> [1 - p, p]
        p = g.node("Sigmoid", [x], "sigmoid")
        q = g.node("Sub", [g.const("one", 1.0), p], "one_minus")
        g.node("Concat", [q, p], "probabilities", output=out, axis=1)
    else:
        g.node("Softmax", [x], "softmax", output=out, axis=1)
    return g.nodes, g.initializers, out


def _views(g: _Subgraph, x: str, shifts: Sequence[tuple[int, int]],
           shape: tuple[int, int]) -> str:
    """(N, H*W) images as rows -> (V*N, H*W): view v is every image moved dy rows down and dx
    columns right (pixels moved in from outside are 0), for (dy, dx) = shifts[v], view after view:

        view[n, y, x] = padded[n, y - dy + |dy|, x - dx + |dx|],  padded: zeros |dy|, |dx| around
    """
    H, W = shape
    images = g.node("Reshape", [x, g.const("view_shape", [-1, H, W], np.int64)], "view_images")
    views = []
    for v, (dy, dx) in enumerate(shifts):
        if (dy, dx) == (0, 0):
            views.append(x)
            continue
        a, b = abs(dy), abs(dx)
        padded = g.node("Pad", [images, g.const(f"view{v}_pads", [0, a, b, 0, a, b], np.int64)],
                        f"view{v}_pad")
        starts = [a - dy, b - dx]
        cut = g.node("Slice", [padded, g.const(f"view{v}_starts", starts, np.int64),
                               g.const(f"view{v}_ends", [starts[0] + H, starts[1] + W], np.int64),
                               g.const(f"view{v}_axes", [1, 2], np.int64)], f"view{v}_slice")
        views.append(g.node("Reshape", [cut, g.const(f"view{v}_rows_shape", [-1, H * W], np.int64)],
                            f"view{v}_rows"))
    return g.node("Concat", views, "views", axis=0)


def _mean_graph(nets: list[Network], shifts: list[tuple[int, int]]) -> _Subgraph:
    """The nodes from ``images`` to ``probabilities``: the mean over the networks and over the
    views of each image (one network, one view: just its nodes)."""
    g = _Subgraph("")
    x = INPUT if shifts == [(0, 0)] else _views(g, INPUT, shifts, (28, 28))
    outs = []
    for m, net in enumerate(nets):
        prefix = f"m{m}_" if len(nets) > 1 else ""
        alone = len(nets) == 1 and len(shifts) == 1
        nodes, inits, out = _network_nodes(net, x, prefix,
                                          OUTPUT if alone else prefix + "net_probabilities")
        g.nodes += nodes
        g.initializers += inits
        if len(shifts) > 1:  # (V*N, C) -> (V, N, C) -> the mean over the views
            by_view = g.node("Reshape", [out, g.const(f"{prefix}by_view_shape",
                                                      [len(shifts), -1, net.n_classes],
                                                      np.int64)], f"{prefix}by_view")
            out = g.node("ReduceMean", [by_view], f"{prefix}view_mean",
                         output=OUTPUT if len(nets) == 1 else None, axes=[0], keepdims=0)
        outs.append(out)
    if len(nets) > 1:
        g.node("Mean", outs, "ensemble_mean", output=OUTPUT)
    return g


def to_onnx(model: Network | Ensemble | Sequence[Network],
            shifts: Sequence[tuple[int, int]] | None = None) -> onnx.ModelProto:
    """The ONNX model of a network, or of several (an Ensemble, or a list of networks),
    checked with ``onnx.checker``.

    The probabilities are the mean over the networks and over the views of each image: the
    image moved by each (dy, dx) of ``shifts`` (test-time augmentation). None: an Ensemble's own
    views (``TTA_SHIFTS[ensemble.tta]``), else the image alone. The class names, preprocessing
    and one-vs-rest target come from the model's ``meta`` (an Ensemble's own, else the first
    network's)."""
    if isinstance(model, Ensemble):
        nets, meta = list(model.members), model.meta
        shifts = TTA_SHIFTS[model.tta] if shifts is None else shifts
    else:
        nets = [model] if isinstance(model, Network) else list(model)
        meta = nets[0].meta if nets and isinstance(nets[0], Network) else {}
    if not nets or not all(isinstance(n, Network) for n in nets):
        raise SpecError("export_onnx takes a Network, an Ensemble, a list of Networks or a "
                        "model file")
    first = nets[0]
    for n in nets[1:]:
        if (n.n_inputs, n.n_classes, n.class_names) != \
                (first.n_inputs, first.n_classes, first.class_names):
            raise SpecError("the networks of an ensemble must take the same inputs and answer "
                            "with the same classes")
    shifts = [tuple(s) for s in (((0, 0),) if shifts is None else shifts)]
    if not shifts:
        raise SpecError("shifts: give at least one view, e.g. [(0, 0)] for the image itself")
    if shifts != [(0, 0)] and first.n_inputs != 28 * 28:
        raise SpecError(f"shifted views are of 28x28 images; these networks take "
                        f"{first.n_inputs} values per image")
    g = _mean_graph(nets, shifts)
    n_in, classes = first.n_inputs, first.n_classes
    names = list(meta.get("class_names") or first.class_names)
    prep = meta.get("preprocessing") or MNIST_PREPROCESSING
    if prep == MNIST_PREPROCESSING:
        input_doc = (f"(N, {n_in}) float32, one image per row: 28x28 grayscale, the rows of "
                     f"pixels one after another, each pixel / 255 in [0, 1], ink bright (1) on "
                     f"a dark background (0), as in MNIST")
    else:
        input_doc = f"(N, {n_in}) float32, one image per row, prepared as: {json.dumps(prep)}"
    what = (f"ensemble of {len(nets)} networks" if len(nets) > 1
            else json.dumps(first.config()["layers"]))
    views = f", mean over {len(shifts)} shifted views" if len(shifts) > 1 else ""
    graph = helper.make_graph(
        g.nodes, "digitnet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", n_in],
                                       doc_string=input_doc)],
        [helper.make_tensor_value_info(
            OUTPUT, TensorProto.FLOAT, ["N", classes],
            doc_string=f"(N, {classes}) float32: the probability of each class "
                       f"({', '.join(names)}); each row sums to 1")],
        initializer=g.initializers, doc_string=f"digitnet {what}{views}")
    opset = helper.make_opsetid("", OPSET)
    proto = helper.make_model(graph, opset_imports=[opset], producer_name="digitnet",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for([opset]))
    props = {"class_names": json.dumps(names), "digitnet_version": __version__,
             "input": INPUT, "output": OUTPUT, "preprocessing": json.dumps(prep)}
    if meta.get("binary_target") is not None:
        props["binary_target"] = json.dumps(meta["binary_target"])
    if len(nets) == 1 and temperature(first) is not None:
        props["calibration_temperature"] = repr(temperature(first))
    if len(nets) > 1:
        props["ensemble_members"] = str(len(nets))
    if len(shifts) > 1:
        props["views"] = json.dumps(shifts)
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Network | Ensemble | Sequence[Network] | str | os.PathLike,
                path: str | os.PathLike, *, shifts: Sequence[tuple[int, int]] | None = None,
                force: bool = False) -> Path:
    """Write ``model`` (a Network, an Ensemble, a list of Networks averaged as an ensemble, or
    a model file of either) as an ONNX file at ``path`` (conventionally ``*.onnx``); returns the
    path. ``shifts``: the views of each image to average over (see ``to_onnx``).

    Input ``images`` (N, n_inputs) float32 in [0, 1] (MNIST's preprocessing: see the input's
    doc string), output ``probabilities`` (N, n_classes). The file is written atomically, like a
    model file (``digitnet.files``): a read-only file is replaced only with ``force=True``."""
    path = Path(path)
    problem = file_problem(path, force=force, example="model.onnx")
    if problem:
        raise ModelFileError(f"cannot write the ONNX file {path}: {problem}")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    data = to_onnx(model, shifts).SerializeToString()
    try:
        replace_file(path, lambda f: f.write(data))
    except OSError as e:
        raise ModelFileError(f"cannot write the ONNX file {path}: {e.strerror or e}") from None
    return path
