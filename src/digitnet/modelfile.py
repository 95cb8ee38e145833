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
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import DigitnetError, ModelFileError, SpecError
from .files import file_problem, replace_file
from .nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .nn.layers import BatchNorm, Dense, Dropout, Layer
from .nn.network import Network

FORMAT = "digitnet-model"
VERSION = 1

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
                                  Conv2D, MaxPool2D, AvgPool2D, Flatten, Reshape)
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


def save_model(net: Network, path: str | os.PathLike, *, class_names: list[str] | None = None,
               metadata: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Write ``net`` and its metadata to ``path`` (conventionally ``*.npz``); returns the path.

    A layer class of your own must be registered first (``dn.register_layer(MyDense)``): else,
    or if its ``config()`` cannot rebuild it, ModelFileError says so and nothing is written.
    A read-only file at ``path`` is replaced only with ``force=True``; a file replaced keeps its
    permissions; any failure leaves the old file as it was (``digitnet.files``)."""
    path = Path(path)
    check_save_target(path, force=force)
    try:
        check_saveable(net)
    except SpecError as e:
        raise ModelFileError(f"cannot save the model: {e}") from None
    meta = {**net.meta, **(metadata or {})}
    if class_names is not None:
        meta["class_names"] = list(class_names)
    meta.setdefault("class_names", net.class_names)
    meta.setdefault("preprocessing", MNIST_PREPROCESSING)
    header = {"format": FORMAT, "version": VERSION, "network": net.config(),
              "dtype": net.dtype.name, "meta": meta}
    arrays = {f"param/{name}": p for name, p, _ in net.parameters()}
    arrays.update({f"state/{name}": a for name, a in net.states()})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        replace_file(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise ModelFileError(f"cannot save the model to {path}: {e.strerror or e}") from None
    net.meta = meta
    return path


def load_model(path: str | os.PathLike) -> Network:
    """Read a model file written by ``save_model``; ``net.meta`` holds its metadata.

    A missing, truncated, corrupted or foreign file raises ModelFileError saying which.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"no model file at {path}: train one with `digitnet train --out {path}`"
        )
    not_ours = (f"{path} is not a digitnet model file (or it is corrupted or truncated): "
                "train a model with `digitnet train --out FILE` and pass that file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z.files:
                raise ModelFileError(not_ours)
            header = json.loads(z["header"].tobytes().decode("utf-8"))
            arrays = {k.split("/", 1)[1]: z[k] for k in z.files
                      if k.startswith(("param/", "state/"))}
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, KeyError) as e:
        raise ModelFileError(f"{not_ours} [{type(e).__name__}: {e}]") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(not_ours)
    if header.get("version", 0) > VERSION:
        raise ModelFileError(
            f"{path} was written by a newer digitnet (format version {header['version']}); "
            "upgrade digitnet to read it"
        )
    try:
        net = network_from_config(header["network"], dtype=header.get("dtype", "float32"))
    except (DigitnetError, KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} describes a network digitnet cannot build: {e}") from None
    expected = {name: p for name, p, _ in net.parameters()}
    expected.update(dict(net.states()))
    if set(expected) != set(arrays):
        raise ModelFileError(
            f"{path} is damaged: its weights ({', '.join(sorted(arrays)) or 'none'}) do not match "
            f"its architecture ({', '.join(sorted(expected))})"
        )
    for name, p in expected.items():
        if arrays[name].shape != p.shape:
            raise ModelFileError(
                f"{path} is damaged: weight {name} has shape {arrays[name].shape}, "
                f"the architecture needs {p.shape}"
            )
        if not np.all(np.isfinite(arrays[name])):
            raise ModelFileError(f"{path} is damaged: weight {name} holds NaN or infinite values")
        p[...] = arrays[name]
    net.meta = header.get("meta", {})
    return net
