"""One model file, no pickle: a NumPy .npz archive holding

- ``header``: UTF-8 JSON, the architecture (layer list + loss), dtype, class names, how inputs
  must be prepared, and training metadata (options, history, accuracy);
- ``param/<layer>.<name>``: one array per parameter (e.g. ``param/0.W``).

It is read with ``allow_pickle=False``, so loading a file never runs code from it. Saving never
loses what a user had (``digitnet.files``): the place is checked first (``check_save_target``), the
file is written under a temporary name, flushed to disk and renamed over the old one in one step,
and keeps the old one's permissions; a read-only file is replaced only with ``force=True``.

The layer types a file may name live here too (``LAYER_TYPES``): digitnet's own, and a learner's
classes added with ``register_layer``.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .augment import Augment
from .errors import DigitnetError, ModelFileError, SpecError
from .files import file_problem, replace_file
from .limits import MAX_PARAMS
from .modelcheck import (
    WEIGHT_DTYPES,
    ArrayHeader,
    ModelArchive,
    check_header,
    check_history,
    check_meta,
    field_error,
)
from .nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .nn.ensemble import Ensemble
from .nn.layers import BatchNorm, Dense, Dropout, Layer
from .nn.losses import LOSSES
from .nn.network import Network
from .nn.resample import Deskew
from .nn.sizes import plan_network
from .optim import OPTIMIZERS, SCHEDULES
from .train import TrainState

FORMAT = "digitnet-model"
#: the newest format this digitnet reads: 1, one network ("network"); 2, an ensemble ("ensemble":
#: its members and views; arrays "param/m<k>.<layer>.<name>"). A network's file is still written
#: as version 1, so older digitnets read it.
VERSION = 2

#: how an image must be prepared for the networks digitnet trains (MNIST's convention)
MNIST_PREPROCESSING = {
    "image_shape": [28, 28],
    "scale": "pixel / 255, float in [0, 1]",
    "polarity": "ink bright (1), background dark (0)",
    "layout": "rows of the 28x28 image flattened into 784 values",
}


#: digitnet's own layers, by the name a model file gives them
BUILTIN_LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh, BatchNorm,
                                  Conv2D, MaxPool2D, AvgPool2D, Flatten, Reshape, Deskew)
}
#: every layer a model file may name: the built-in ones and those added with register_layer
LAYER_TYPES: dict[str, type[Layer]] = dict(BUILTIN_LAYER_TYPES)

L = TypeVar("L", bound=type[Layer])


def register_layer(cls: L) -> L:
    """Let model files save and load a layer class of your own: ``dn.register_layer(MyDense)``
    once after the class (or ``@dn.register_layer`` above it), before ``save_model`` and before
    ``load_model`` in a later session.

    A model file stores the class's name and its ``config()``, which must return the arguments
    of its constructor as JSON values (``{"n_in": 784, "n_out": 32}``); loading calls
    ``MyDense(**config)`` and then fills in the saved parameters. Registering a class again
    under the same name (a notebook cell run twice) replaces the earlier one."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise SpecError(f"register_layer takes a layer class (class MyDense(dn.Layer): ...), "
                        f"got {cls!r}")
    name = cls.__name__
    if BUILTIN_LAYER_TYPES.get(name, cls) is not cls:
        raise SpecError(f"digitnet has its own layer called {name}: give your class another "
                        f"name (e.g. My{name}) so that model files can tell the two apart")
    LAYER_TYPES[name] = cls
    return cls


def network_from_config(config: dict[str, Any], dtype: Any = np.float32) -> Network:
    """Rebuild a network from ``Network.config()``: each layer as
    ``LAYER_TYPES[type](**args)``."""
    layers = []
    for i, spec in enumerate(config["layers"]):
        spec = dict(spec)
        kind = spec.pop("type")
        if kind not in LAYER_TYPES:
            raise SpecError(
                f"layer {i} is of type {kind!r}, which is not a digitnet layer: if it is a "
                f"class of your own, define it and call dn.register_layer({kind}) before "
                f"dn.load_model"
            )
        try:
            layers.append(LAYER_TYPES[kind](**spec))
        except DigitnetError:
            raise
        except Exception as e:
            raise SpecError(f"layer {i}: {kind}(**{spec}) failed "
                            f"({type(e).__name__}: {e})") from e
    return Network(layers, loss=config["loss"], seed=None, dtype=dtype)


def check_saveable(net: Network) -> None:
    """SpecError unless a model file could rebuild every layer: its class registered under
    its name, and, for a class of your own, ``config()`` JSON values with which the
    constructor builds parameters (and state) of the same shapes as the layer's."""
    for i, layer in enumerate(net.layers):
        cls, name = type(layer), type(layer).__name__
        where = f"layer {i} ({name})"
        if BUILTIN_LAYER_TYPES.get(name) is cls:
            continue
        if name in BUILTIN_LAYER_TYPES:
            raise SpecError(f"{where} has the name of a digitnet layer but is another class: "
                            f"rename it (e.g. My{name}) and register it with "
                            f"dn.register_layer(My{name})")
        if LAYER_TYPES.get(name) is not cls:
            raise SpecError(
                f"{where} is not a registered layer type, so a model file could not rebuild "
                f"it: call dn.register_layer({name}) after its class definition (its "
                f"config() must return its constructor's arguments, e.g. "
                f"{{'n_in': 784, 'n_out': 32}}), then save again"
            )
        config = layer.config()
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise SpecError(f"{where}: config() must return a dict of JSON values (numbers, "
                            f"strings, lists; int() or float() of NumPy numbers), got "
                            f"{config!r} ({e})") from None
        try:
            rebuilt = cls(**config)
        except Exception as e:
            raise SpecError(
                f"{where}: {name}(**config()) with config() = {config!r} failed "
                f"({type(e).__name__}: {e}); config() must return the arguments of "
                f"{name}'s constructor by name, so a model file can rebuild the layer"
            ) from e
        for part in ("params", "state"):
            have = {k: np.shape(v) for k, v in getattr(layer, part).items()}
            built = {k: np.shape(v) for k, v in getattr(rebuilt, part).items()}
            if have != built:
                raise SpecError(
                    f"{where}: {name}(**{config!r}) builds {part} {built}, but this layer "
                    f"has {have}; config() must return every constructor argument that "
                    f"decides a shape"
                )


def check_save_target(path: str | os.PathLike, *, force: bool = False) -> None:
    """ModelFileError, saying why and what to do, unless ``save_model`` could write ``path``: not
    a folder, in a folder that exists and is writable, not a read-only file (unless ``force``).
    The CLI calls it before training, so that a bad ``--out`` is found in a second, not after
    the run."""
    problem = file_problem(path, force=force)
    if problem:
        raise ModelFileError(f"cannot save the model to {path}: {problem}")


def save_model(net: Network | Ensemble, path: str | os.PathLike, *,
               class_names: list[str] | None = None, metadata: dict[str, Any] | None = None,
               force: bool = False, resumable: bool = False) -> Path:
    """Write ``net`` (a Network or an Ensemble) and its metadata to ``path`` (conventionally
    ``*.npz``); returns the path.

    A layer class of your own must be registered first (``dn.register_layer(MyDense)``): else,
    or if its ``config()`` cannot rebuild it, ModelFileError says so and nothing is written.
    A read-only file at ``path`` is replaced only with ``force=True``; a file replaced keeps its
    permissions; any failure leaves the old file as it was (``digitnet.files``).

    ``resumable=True`` also keeps where training stands (``net.train_state``: the optimizer's
    state, the schedule's position, the random generators, the history; about as large again
    as the weights for Momentum, twice for Adam), so that ``train(net, ..., resume=True)``
    after ``load_model`` continues the run exactly (``digitnet train --resume``)."""
    path = Path(path)
    check_save_target(path, force=force)
    state = getattr(net, "train_state", None)
    if resumable and (isinstance(net, Ensemble) or not isinstance(state, TrainState)):
        raise ModelFileError(
            "cannot save a resumable model: " + (
                "an ensemble's networks are trained one by one; save each network resumable"
                if isinstance(net, Ensemble) else
                "this network carries no training state (train it with dn.train first)"))
    members = net.members if isinstance(net, Ensemble) else [net]
    try:
        for member in members:
            check_saveable(member)
    except SpecError as e:
        raise ModelFileError(f"cannot save the model: {e}") from None
    meta = {**net.meta, **(metadata or {})}
    if class_names is not None:
        meta["class_names"] = list(class_names)
    meta.setdefault("class_names", net.class_names)
    meta.setdefault("preprocessing", MNIST_PREPROCESSING)
    header: dict[str, Any] = {"format": FORMAT, "version": 1, "dtype": net.dtype.name,
                              "meta": meta}
    if isinstance(net, Ensemble):  # with each network's own calibration (its temperature)
        header.update(version=2, ensemble={
            **net.config(), "calibrations": [m.meta.get("calibration") for m in members]})
    else:
        header["network"] = net.config()
    arrays = {}
    for k, member in enumerate(members):
        prefix = f"m{k}." if isinstance(net, Ensemble) else ""
        arrays.update({f"param/{prefix}{name}": p for name, p, _ in member.parameters()})
        arrays.update({f"state/{prefix}{name}": a for name, a in member.states()})
    if resumable:
        info, train_arrays = state.to_file()
        header["train_state"] = info
        arrays.update({f"train/{k}": a for k, a in train_arrays.items()})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        replace_file(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise ModelFileError(f"cannot save the model to {path}: {e.strerror or e}") from None
    net.meta = meta
    return path


def load_model(path: str | os.PathLike) -> Network | Ensemble:
    """Read a model file written by ``save_model``: a Network, or an Ensemble if the file holds
    several networks (``digitnet train --ensemble N``); ``net.meta`` holds its metadata.

    A missing, truncated, corrupted, foreign or hostile file raises ModelFileError saying which
    (and nothing else: see modelcheck.py). Nothing large is allocated before it is checked:
    the zip directory against the file's size, the header's fields, the architecture against
    ``limits.MAX_PARAMS``, each array's .npy header against what the architecture needs; then
    the layers are built and the arrays read into them."""
    path = Path(os.fsdecode(path))
    with ModelArchive(path) as archive:
        header = archive.header()
        networks, tta, dtype, meta = check_header(
            header, path, fmt=FORMAT, version=VERSION, losses=LOSSES, layer_types=LAYER_TYPES)
        ensemble = "ensemble" in header
        prefixes = [f"m{k}." for k in range(len(networks))] if ensemble else [""]
        headers, train_headers = _array_headers(archive)
        if ensemble:
            stray = [n for n in headers if not n.startswith(tuple(prefixes))]
            if stray:
                raise archive.damaged(f"weight {stray[0]} belongs to no member of the ensemble")
        members = []
        for prefix, (layers, loss) in zip(prefixes, networks, strict=True):
            mine = {n[len(prefix):]: h for n, h in headers.items() if n.startswith(prefix)}
            members.append(_load_network(archive, layers, loss, dtype, mine))
        if "train_state" in header or train_headers:
            if ensemble:
                raise archive.damaged("an ensemble's file holds a training state")
            members[0].train_state = read_train_state(  # type: ignore[attr-defined]
                archive, header.get("train_state"), train_headers, members[0])
    if ensemble:
        calibrations = header["ensemble"].get("calibrations", [None] * len(members))
        if not isinstance(calibrations, list) or len(calibrations) != len(members):
            raise field_error(path, "'ensemble.calibrations'", "one entry (null or a dict) per "
                              "network", calibrations)
        for member, c in zip(members, calibrations, strict=True):
            if c is not None:
                member.meta["calibration"] = check_meta({"calibration": c}, lambda: None,
                                                        path)["calibration"]
    if not ensemble:
        net: Network | Ensemble = members[0]
    else:
        try:
            net = Ensemble(members, tta=tta)
        except DigitnetError as e:
            raise ModelFileError(f"{path} holds an ensemble digitnet cannot use: {e}") from None
    net.meta = check_meta(meta, lambda: _n_classes(net), path)
    return net


def _load_network(archive: ModelArchive, layers: list[dict[str, Any]], loss: str, dtype: str,
                  headers: dict[str, tuple[str, ArrayHeader]]) -> Network:
    """One network of a model file: its architecture planned (checked against the limits), the
    arrays' headers matched against what it needs, then built and filled."""
    path = archive.path
    try:
        plan = plan_network(layers)
    except SpecError as e:
        raise ModelFileError(f"{path} describes a network digitnet cannot build: {e}") \
            from None
    yours = {str(i) for i, arrays in enumerate(plan.arrays) if arrays is None}  # checked built
    _match(archive, {k: h.shape for k, (_, h) in headers.items() if k.split(".")[0] not in yours},
           {f"{i}.{k}": shape for i, arrays in enumerate(plan.arrays) for k, shape in
            (arrays or {}).items()})
    try:
        net = network_from_config({"layers": layers, "loss": loss}, dtype=dtype)
    except DigitnetError as e:
        raise ModelFileError(f"{path} describes a network digitnet cannot build: {e}") \
            from None
    expected = {name: p for name, p, _ in net.parameters()}
    expected.update(dict(net.states()))
    _match(archive, {k: h.shape for k, (_, h) in headers.items()},
           {k: p.shape for k, p in expected.items()})
    for name, p in expected.items():
        key, header = headers[name]
        values = archive.read(key, header)
        if not np.all(np.isfinite(values)):
            raise archive.damaged(f"weight {name} holds NaN or infinite values")
        p[...] = values
    return net


def _array_headers(archive: ModelArchive) -> tuple[dict[str, tuple[str, ArrayHeader]],
                                                  dict[str, tuple[str, ArrayHeader]]]:
    """Every array's .npy header by name ("0.W", or "m1.0.W" in an ensemble: (member,
    header)), read without its data: float weights, at most limits.MAX_PARAMS values in all;
    and, apart, those of a training state ("opt.0.W.0", "perm")."""
    headers: dict[str, tuple[str, ArrayHeader]] = {}
    train: dict[str, tuple[str, ArrayHeader]] = {}
    totals = {"param": 0, "state": 0, "train": 0}
    for key in archive.members:
        if key == "header":
            continue
        kind, name = key.split("/", 1)
        if name in headers or name in train:
            raise archive.damaged(f"it holds weight {name} twice")
        h = archive.array_header(key)
        if kind == "train" and name == "perm":
            if h.dtype.kind not in "iu" or len(h.shape) != 1 or h.size > MAX_PARAMS:
                raise archive.damaged("its training state's order of the images is not a list "
                                      "of whole numbers")
            train[name] = (key, h)
            continue
        if h.dtype.kind != "f" or h.dtype.name not in WEIGHT_DTYPES:
            raise archive.damaged(f"weight {name} is of type {h.dtype}, not float32 or float64")
        totals[kind] += h.size
        if totals[kind] > MAX_PARAMS:
            raise ModelFileError(
                f"{archive.path}: its arrays hold more than {MAX_PARAMS:,} values (the limit, "
                f"digitnet.limits.MAX_PARAMS, is on the parameters of a network)")
        (train if kind == "train" else headers)[name] = (key, h)
    return headers, train


def _match(archive: ModelArchive, have: dict[str, tuple[int, ...]],
           need: dict[str, tuple[int, ...]]) -> None:
    """ModelFileError unless the file's arrays ``have`` are those the architecture ``need``s."""
    if set(have) != set(need):
        def names(d: dict[str, Any]) -> str:
            listed = sorted(d)
            return ", ".join(listed[:12]) + (f" and {len(listed) - 12} more"
                                              if len(listed) > 12 else "") or "none"
        raise archive.damaged(f"its weights ({names(have)}) do not match its architecture "
                              f"({names(need)})")
    for name, shape in need.items():
        if have[name] != shape:
            raise archive.damaged(f"weight {name} has shape {have[name]}, the architecture "
                                  f"needs {shape}")


def _n_classes(net: Network) -> int | None:
    """The classes ``net`` tells apart; None if a layer of your own keeps that from being known
    (then ``predict`` says why)."""
    try:
        return net.n_classes
    except DigitnetError:
        return None


#: the keys of a saved augmentation: Augment's fields (a file with others cannot be resumed)
AUGMENT_FIELDS = tuple(f.name for f in fields(Augment))


def _augment_ok(a: Any, num: Any, whole: Any) -> bool:
    """Whether a training state's ``augment`` is an Augment's ranges: its fields and no others
    (``elastic`` may be missing: files from before it), numbers, and an image shape."""
    if not isinstance(a, dict) or not set(a) <= set(AUGMENT_FIELDS):
        return False
    shape = a.get("image_shape")
    return (all(num(a.get(k), 0, 1e6) for k in ("rotate", "scale", "shift"))
            and num(a.get("elastic", 0), 0, 1e6)
            and isinstance(shape, list) and len(shape) == 2 and all(whole(v, 1) for v in shape))


def read_train_state(archive: ModelArchive, info: Any,
                     headers: dict[str, tuple[str, ArrayHeader]], net: Network) -> TrainState:
    """The training state a resumable file keeps (``save_model(..., resumable=True)``), every
    field checked for type and range and every array against the network's parameters, so
    that a damaged or hostile file is a ModelFileError here, not a failure in ``train``."""
    path = archive.path

    def want(name: str, ok: bool, what: str, value: Any) -> None:
        if not ok:
            raise field_error(path, f"'train_state.{name}'", what, value)

    def whole(v: Any, low: int = 0) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def num(v: Any, low: float = 0.0, high: float = float("inf")) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and low <= v < high

    want("", isinstance(info, dict), "a dict", info)
    o = info.get("options")
    want("options", isinstance(o, dict), "a dict", o)
    for key, ok, what in (
            ("epochs", whole(o.get("epochs"), 1), "a whole number >= 1"),
            ("n_train", whole(o.get("n_train"), 1), "a whole number >= 1"),
            ("batch_size", whole(o.get("batch_size"), 1), "a whole number >= 1"),
            ("seed", whole(o.get("seed")), "a whole number >= 0"),
            ("optimizer", o.get("optimizer") in OPTIMIZERS, " or ".join(OPTIMIZERS)),
            ("schedule", o.get("schedule") in SCHEDULES, " or ".join(SCHEDULES)),
            ("lr", num(o.get("lr"), 1e-300), "a positive number"),
            ("warmup", num(o.get("warmup")) and o["warmup"] <= o.get("epochs", 0),
             "a number from 0 to epochs"),
            ("weight_decay", num(o.get("weight_decay")), "a number >= 0"),
            ("label_smoothing", num(o.get("label_smoothing"), 0, 1), "a number in [0, 1)"),
            ("momentum", o.get("momentum") is None or num(o["momentum"], 0, 1),
             "null or a number in [0, 1)"),
            ("betas", o.get("betas") is None or isinstance(o["betas"], list)
             and len(o["betas"]) == 2 and all(num(b, 0, 1) for b in o["betas"]),
             "null or two numbers in [0, 1)"),
            ("patience", o.get("patience") is None or whole(o["patience"], 1),
             "null or a whole number >= 1"),
            ("augment", o.get("augment") is False or _augment_ok(o.get("augment"), num, whole),
             f"false or the ranges of an augmentation ({', '.join(AUGMENT_FIELDS)})")):
        want(f"options.{key}", ok, what, o.get(key))
    n = o["n_train"]
    for key in ("epochs_done", "step"):
        want(key, whole(info.get(key)), "a whole number >= 0", info.get(key))
    want("epochs_done", info["epochs_done"] <= o["epochs"], "at most options.epochs",
         info["epochs_done"])
    want("best_loss", info.get("best_loss") is None or num(info["best_loss"]),
         "null or a number >= 0", info.get("best_loss"))
    history = info.get("history")
    want("history", isinstance(history, dict), "a dict", history)
    check_history(history, path)
    rngs = info.get("layer_rngs")
    want("layer_rngs", isinstance(rngs, dict), "a dict", rngs)
    with_rngs = {str(i) for i, layer in enumerate(net.layers)
                 if isinstance(getattr(layer, "rng", None), np.random.Generator)}
    want("layer_rngs", set(rngs) == with_rngs, f"one entry per layer with its own random "
         f"generator ({sorted(with_rngs)})", sorted(rngs))
    for name, value in [("rng", info.get("rng"))] + [(f"layer_rngs.{k}", v)
                                                      for k, v in rngs.items()]:
        try:
            np.random.PCG64().state = value
        except Exception:
            raise field_error(path, f"'train_state.{name}'", "the state of a PCG64 random "
                              "generator", value) from None
    opt = info.get("optimizer")
    want("optimizer", isinstance(opt, dict) and whole(opt.get("t"))
         and isinstance(opt.get("slots"), dict), "a dict with a step count t and slots", opt)
    params = {name: p for name, p, _ in net.parameters()}
    want("optimizer.slots", set(opt["slots"]) == set(params) and all(
        whole(t) for t in opt["slots"].values()), "a step count per parameter",
         sorted(opt["slots"])[:8])
    n_state = OPTIMIZERS[o["optimizer"]].n_state
    need = {f"opt.{k}.{j}": p.shape for k, p in params.items() for j in range(n_state)}
    position = info.get("position")
    if position is not None:
        want("position", isinstance(position, dict) and all(
            whole(position.get(k)) for k in ("next", "correct", "seen"))
             and all(num(position.get(k)) for k in ("loss_sum", "seconds"))
             and position["seen"] <= n and position["next"] <= n + o["batch_size"],
             "null or where in its epoch the run stopped", position)
    have = {k: h.shape for k, (_, h) in headers.items() if k != "perm"}
    if have != need or ("perm" in headers) != (position is not None):
        raise archive.damaged("its training state's arrays do not match the network and the "
                              "optimizer")
    arrays = {}
    for k in need:
        key, h = headers[k]
        a = archive.read(key, h)
        if h.dtype != net.dtype or not np.all(np.isfinite(a)):
            raise archive.damaged(f"training state array {k} is not finite {net.dtype.name}")
        arrays[k[len("opt."):]] = a.copy()
    perm = None
    if position is not None:
        key, h = headers["perm"]
        perm = archive.read(key, h).astype(np.intp)
        if len(perm) != n or not np.array_equal(np.bincount(perm.clip(0, n - 1), minlength=n),
                                                np.ones(n, np.intp)) or perm.min() < 0:
            raise archive.damaged("its training state's order of the images is not an order "
                                  f"of {n:,} images")
    return TrainState(options=o, epochs_done=info["epochs_done"], step=info["step"],
                      rng=info["rng"], layer_rngs=rngs, optimizer=opt, optimizer_arrays=arrays,
                      history=history, best_loss=info.get("best_loss"), position=position,
                      perm=perm)
