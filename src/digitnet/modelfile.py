"""One model file, no pickle: a NumPy .npz archive holding

- ``header``: UTF-8 JSON, the architecture (layer list + loss), dtype, class names, how inputs
  must be prepared, and training metadata (options, history, accuracy);
- ``param/<layer>.<name>``: one array per parameter (e.g. ``param/0.W``).

It is read with ``allow_pickle=False``, so loading a file never runs code from it. Files are
written to a temporary name and renamed, so a failed save never destroys an existing model.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DigitnetError, ModelFileError, SpecError
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


def save_model(net: Network, path: str | os.PathLike, *, class_names: list[str] | None = None,
               metadata: dict[str, Any] | None = None) -> Path:
    """Write ``net`` and its metadata to ``path`` (conventionally ``*.npz``); returns the path.

    A layer class of your own must be registered first (``dn.register_layer(MyDense)``): else,
    or if its ``config()`` cannot rebuild it, ModelFileError says so and nothing is written."""
    path = Path(path)
    try:
        net.check_saveable()
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
    if path.parent and not path.parent.exists():
        raise ModelFileError(f"cannot save the model: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".digitnet-", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ModelFileError(f"cannot save the model to {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
        net = Network.from_config(header["network"], dtype=header.get("dtype", "float32"))
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
