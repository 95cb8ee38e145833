"""Reading a model file that may be damaged or hostile: every size and field is checked before it
costs anything (``load_model`` in modelfile.py runs these steps in this order).

1. ``ModelArchive``: the zip directory. Its members' declared sizes, against the file's own size
   (``limits.MAX_MODEL_RATIO``): a few hundred bytes cannot declare gigabytes.
2. ``ModelArchive.header``: the JSON header, bounded in size (``limits.MAX_HEADER_BYTES``) and
   nesting (``limits.MAX_HEADER_DEPTH``); ``check_header``: every field's type and range.
3. ``ModelArchive.array_headers``: each array's .npy header (dtype, shape) without its data; the
   architecture's parameter shapes are worked out from the header (``nn.sizes.plan_network``,
   against ``limits.MAX_PARAMS``) and compared with them before any layer is built.
4. ``ModelArchive.read``: one array's data, exactly the size its header declared.
5. ``check_meta``: the metadata the commands read (class names against the outputs, the
   training history, ...), so a bad field fails here with its name, not later in a command.

Each problem raises ModelFileError naming the file and the field.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

from .errors import ModelFileError
from .limits import (
    MAX_ENSEMBLE,
    MAX_HEADER_BYTES,
    MAX_HEADER_DEPTH,
    MAX_LAYERS,
    MAX_MODEL_RATIO,
    MODEL_RATIO_FLOOR,
    size_text,
)
from .nn.ensemble import TTA_SHIFTS

#: what the zip and .npy readers raise on bytes that are not what they expect (a damaged or
#: foreign file); anything else is a bug here
ARCHIVE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
                  NotImplementedError, RuntimeError, OverflowError, SyntaxError, RecursionError)
#: members a model file may have: its header and, per layer, a few arrays
MAX_MEMBERS = 1 + 16 * MAX_LAYERS
#: the dtypes of a model file's weights
WEIGHT_DTYPES = ("float32", "float64")
#: members up to this size are read whole with their .npy header (their sizes were checked)
_SMALL = 256 * 1024
#: the numbers of views an ensemble's test-time augmentation may use
TTA_VIEWS = tuple(TTA_SHIFTS)
REWRITE = "train a model with `digitnet train --out FILE` and pass that file"


@dataclass
class ArrayHeader:
    """An array's .npy header: its shape and dtype, and where its data starts in the member."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int
    #: the whole member, for a small one (read with its header: no second opening)
    member: bytes | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class ModelArchive:
    """A model file opened as a zip archive whose directory has been checked: at most
    MAX_MEMBERS members, no name twice, only stored or deflated members, their compressed sizes
    within the file, and the members a model file is read from declaring at most
    MAX_MODEL_RATIO times the file's size (+ MODEL_RATIO_FLOOR). Use it as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.not_ours = (f"{path} is not a digitnet model file (or it is corrupted or "
                         f"truncated): {REWRITE}")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ModelFileError(f"no model file at {path}: train one with "
                                 f"`digitnet train --out {path}`") from None
        except (OSError, ValueError) as e:
            raise ModelFileError(f"cannot read the model file {path}: {e}") from None
        if stat.S_ISDIR(st.st_mode):
            raise ModelFileError(f"{path} is a folder, not a model file: pass the .npz file "
                                 "that `digitnet train --out FILE` wrote")
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(f"{path} is not a regular file (a pipe or a device?): pass "
                                 "the .npz file that `digitnet train --out FILE` wrote")
        if st.st_size == 0:
            raise ModelFileError(f"{path} is empty (0 bytes), so it is not a digitnet model "
                                 f"file (or it is corrupted or truncated): {REWRITE}")
        try:
            self.file = open(path, "rb")  # noqa: SIM115 (closed by close())
        except OSError as e:
            raise ModelFileError(f"cannot read the model file {path}: "
                                 f"{e.strerror or e}") from None
        try:
            self.size = os.fstat(self.file.fileno()).st_size
            self.zip = zipfile.ZipFile(self.file)
            self.members = self._check_directory(self.zip.infolist())
        except ModelFileError:
            self.close()
            raise
        except ARCHIVE_ERRORS as e:
            self.close()
            raise ModelFileError(f"{self.not_ours} [{type(e).__name__}: {e}]") from None

    def __enter__(self) -> ModelArchive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "zip", None) is not None:
            self.zip.close()
        self.file.close()

    def damaged(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path} is damaged: {what}. Copy it again, or {REWRITE}")

    def _check_directory(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        """The members digitnet reads, by array name ("header", "param/0.W", ...)."""
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{self.not_ours} [it has {len(infos):,} members; a model "
                                 f"file has at most {MAX_MEMBERS:,}]")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise self.damaged("its zip directory names a member twice")
        if sum(i.compress_size for i in infos) > self.size:
            raise self.damaged(f"its zip directory declares more compressed data than the "
                               f"file's {self.size:,} bytes")
        ours = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy") and (
            i.filename == "header.npy" or i.filename.startswith(("param/", "state/", "train/")))}
        for name, info in ours.items():
            if info.flag_bits & 0x1:
                raise self.damaged(f"its member {name} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(
                    f"{self.path}: member {name} is compressed with zip method "
                    f"{info.compress_type}; digitnet reads stored or deflated members (as "
                    f"np.savez and np.savez_compressed write them): save the model again")
        declared = sum(i.file_size for i in ours.values())
        allowed = MAX_MODEL_RATIO * self.size + MODEL_RATIO_FLOOR
        if declared > allowed:
            raise ModelFileError(
                f"{self.path}: its arrays declare {size_text(declared)} of data in a file of "
                f"{size_text(self.size)}; a model file's arrays may hold at most "
                f"{MAX_MODEL_RATIO}x its size + {size_text(MODEL_RATIO_FLOOR)} "
                f"({size_text(allowed)}; digitnet.limits.MAX_MODEL_RATIO). The file is "
                f"damaged or is a zip bomb: {REWRITE}")
        if "header" not in ours:
            raise ModelFileError(self.not_ours)
        return ours

    def array_header(self, name: str) -> ArrayHeader:
        """The .npy header of member ``name``, checked against the member's size."""
        info = self.members[name]
        try:
            with self.zip.open(info) as member:
                whole = member.read() if info.file_size <= _SMALL else None
                f = io.BytesIO(whole) if whole is not None else member
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = npy.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = npy.read_array_header_2_0(f)
                else:
                    raise self.damaged(f"array {name} has .npy format version {version}, "
                                       "which digitnet does not read")
                offset = f.tell()
        except ModelFileError:
            raise
        except ARCHIVE_ERRORS as e:
            raise self.damaged(f"array {name} cannot be read [{type(e).__name__}: {e}]") \
                from None
        header = ArrayHeader(tuple(shape), dtype, bool(fortran), offset, whole)
        if offset + header.size * dtype.itemsize != info.file_size:
            raise self.damaged(
                f"array {name} declares shape {header.shape} of {dtype} "
                f"({size_text(header.size * dtype.itemsize)}) but its member holds "
                f"{size_text(max(info.file_size - offset, 0))}")
        return header

    def read(self, name: str, header: ArrayHeader) -> np.ndarray:
        """The data of member ``name``: exactly what its checked header declares."""
        n = header.size * header.dtype.itemsize
        try:
            if header.member is not None:
                data = header.member[header.offset:]
            else:
                with self.zip.open(self.members[name]) as f:
                    f.read(header.offset)
                    data = f.read(n)
        except ARCHIVE_ERRORS as e:
            raise self.damaged(f"array {name} cannot be read [{type(e).__name__}: {e}]") \
                from None
        if len(data) != n:
            raise self.damaged(f"array {name} is cut short")
        order = "F" if header.fortran_order else "C"
        return np.frombuffer(data, header.dtype).reshape(header.shape, order=order)

    def header(self) -> dict[str, Any]:
        """The JSON header, parsed; at most MAX_HEADER_BYTES, nested at most MAX_HEADER_DEPTH
        deep."""
        if self.members["header"].file_size > MAX_HEADER_BYTES:
            raise self.damaged(f"its header is {size_text(self.members['header'].file_size)}; "
                               f"the limit is {size_text(MAX_HEADER_BYTES)} "
                               "(digitnet.limits.MAX_HEADER_BYTES)")
        h = self.array_header("header")
        if h.dtype != np.uint8 or len(h.shape) != 1:
            raise ModelFileError(self.not_ours)
        try:
            header = json.loads(self.read("header", h).tobytes().decode("utf-8"))
        except RecursionError:
            raise self.damaged(f"its header is nested too deeply (the limit is "
                               f"{MAX_HEADER_DEPTH} levels)") from None
        except ValueError as e:  # UnicodeDecodeError, JSONDecodeError, too many digits
            raise ModelFileError(f"{self.not_ours} [header: {type(e).__name__}: {e}]") \
                from None
        if json_depth(header) > MAX_HEADER_DEPTH:
            raise self.damaged(f"its header is nested more than {MAX_HEADER_DEPTH} levels "
                               "deep (digitnet.limits.MAX_HEADER_DEPTH)")
        return header


def json_depth(value: Any) -> int:
    """How deeply lists and dicts nest in a parsed JSON value (0 for a number, 1 for [1, 2]),
    level by level without recursion; stops counting past MAX_HEADER_DEPTH."""
    depth, level = 0, [value]
    while depth <= MAX_HEADER_DEPTH:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            break
        depth += 1
        level = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]
    return depth


# --- the header's fields -----------------------------------------------------------------------
def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "a string",
            list: "a list", dict: "a dict", type(None): "null"}.get(type(value),
                                                                  type(value).__name__)


def field_error(path: Path, name: str, want: str, value: Any) -> ModelFileError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return ModelFileError(
        f"{path}: header field {name} must be {want}, got {_kind(value)} ({shown}). The file is "
        f"damaged or was not written by digitnet: copy it again, or {REWRITE}")


def check_header(header: Any, path: Path, *, fmt: str, version: int, losses: Any,
                 layer_types: Any
                 ) -> tuple[list[tuple[list[dict[str, Any]], str]], int, str, dict[str, Any]]:
    """The fields ``load_model`` uses: (networks, tta, dtype, meta), each checked for type and
    range. ``networks``: one (layers, loss) for a network's file (field ``network``), one per
    member for an ensemble's (``ensemble.members``, with ``ensemble.tta`` views; tta is 1 for a
    network). ``layer_types``: the layer names a file may use (the registry in modelfile.py)."""
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise ModelFileError(f"{path} is not a digitnet model file (or it is corrupted or "
                             f"truncated): {REWRITE}")
    v = header.get("version", version)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise field_error(path, "'version'", "a whole number >= 1", v)
    if v > version:
        raise ModelFileError(f"{path} was written by a newer digitnet (format version {v}); "
                             "upgrade digitnet to read it")
    dtype = header.get("dtype", "float32")
    if dtype not in WEIGHT_DTYPES:
        raise field_error(path, "'dtype'", " or ".join(map(repr, WEIGHT_DTYPES)), dtype)
    tta = 1
    if "ensemble" in header:
        ensemble = header["ensemble"]
        if not isinstance(ensemble, dict):
            raise field_error(path, "'ensemble'", "a dict with 'members' and 'tta'", ensemble)
        members = ensemble.get("members")
        if not isinstance(members, list) or not 1 <= len(members) <= MAX_ENSEMBLE:
            raise field_error(path, "'ensemble.members'", f"a list of 1 to {MAX_ENSEMBLE} "
                              "networks", members if not isinstance(members, list)
                              else f"{len(members)} networks")
        tta = ensemble.get("tta", 1)
        if isinstance(tta, bool) or not isinstance(tta, int) or tta not in TTA_VIEWS:
            raise field_error(path, "'ensemble.tta'", " or ".join(map(str, TTA_VIEWS)), tta)
        networks = [_check_network(m, f"ensemble.members[{k}]", path, losses, layer_types)
                    for k, m in enumerate(members)]
    else:
        networks = [_check_network(header.get("network"), "network", path, losses,
                                   layer_types)]
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise field_error(path, "'meta'", "a dict", meta)
    return networks, tta, dtype, meta


def _check_network(network: Any, where: str, path: Path, losses: Any, layer_types: Any
                   ) -> tuple[list[dict[str, Any]], str]:
    """(layers, loss) of one network's description ``{"layers": [...], "loss": ...}``."""
    if not isinstance(network, dict):
        raise field_error(path, f"'{where}'", "a dict with 'layers' and 'loss'", network)
    layers = network.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise field_error(path, f"'{where}.layers'", f"a list of 1 to {MAX_LAYERS} layers",
                          layers if not isinstance(layers, list) else f"{len(layers)} layers")
    loss = network.get("loss")
    if not isinstance(loss, str) or loss not in losses:
        raise field_error(path, f"'{where}.loss'", f"one of {', '.join(map(repr, losses))}",
                          loss)
    for i, layer in enumerate(layers):
        name = f"{where}.layers[{i}]"
        if not isinstance(layer, dict):
            raise field_error(path, f"'{name}'", "a dict such as {'type': 'Dense', ...}", layer)
        kind = layer.get("type")
        if not isinstance(kind, str):
            raise field_error(path, f"'{name}.type'", "a layer's name such as 'Dense'", kind)
        if kind not in layer_types:
            raise ModelFileError(
                f"{path}: layer {i} is of type {kind[:60]!r}, which is not a digitnet layer: "
                f"if it is a class of your own, define it and call "
                f"dn.register_layer({kind[:60]}) before dn.load_model")
        for key, value in layer.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise field_error(path, f"'{name}.{key}'", "a finite number", value)
    return layers, loss


#: History fields: one number per epoch (loss and accuracy for every epoch; the others may stop
#: short, e.g. no validation), or per minibatch
_PER_EPOCH = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def check_meta(meta: dict[str, Any], n_classes: Callable[[], int | None], path: Path
               ) -> dict[str, Any]:
    """``meta`` if every field the commands read has the right type (and ``class_names`` one
    name per class, ``binary_target`` only for a one-output network: ``n_classes()``, None when
    a layer of your own keeps it from being known); ModelFileError naming the field otherwise.
    """
    def want(key: str, ok: bool, what: str) -> None:
        if not ok:
            raise field_error(path, f"'meta.{key}'", what, meta[key])

    names = meta.get("class_names")
    if names is not None:
        want("class_names", isinstance(names, list) and all(isinstance(n, str) for n in names),
             "a list of strings")
        if names and len(names) != (n_classes() or len(names)):
            raise ModelFileError(
                f"{path}: header field 'meta.class_names' has {len(names)} names but the "
                f"network tells {n_classes()} classes apart. The file is damaged or was edited: "
                f"save the model again with one name per class (dn.save_model(net, path, "
                f"class_names=[...]))")
    target = meta.get("binary_target")
    if target is not None:
        want("binary_target", isinstance(target, int) and not isinstance(target, bool),
             "a class number")
        want("binary_target", (n_classes() or 2) == 2,
             "null for a network with more than one output (it is set by `train --binary`)")
    for key in ("spec", "dataset", "digitnet_version"):
        if meta.get(key) is not None:
            want(key, isinstance(meta[key], str), "a string")
    for key in ("training", "result", "preprocessing"):
        if meta.get(key) is not None:
            want(key, isinstance(meta[key], dict), "a dict")
    history = meta.get("history")
    if history is not None:
        want("history", isinstance(history, dict), "a dict (digitnet's History.as_dict())")
        check_history(history, path)
    calibration = meta.get("calibration")
    if calibration is not None:
        want("calibration", isinstance(calibration, dict), "a dict with a 'temperature'")
        _check_calibration(calibration, path)
    return meta


#: the temperatures a model file may hold: wider than those fitted (nn/calibration.py's
#: TEMPERATURE_BOUNDS), narrow enough that Z / T stays finite for any float32 scores
TEMPERATURE_RANGE = (0.01, 100.0)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_calibration(calibration: dict[str, Any], path: Path) -> None:
    """What ``predict_proba`` and the report read: ``temperature`` a number in
    TEMPERATURE_RANGE; ``n``, ``nll_before``, ``nll_after`` numbers (or absent);
    ``fitted_on`` a string."""
    low, high = TEMPERATURE_RANGE
    t = calibration.get("temperature")
    if not (_is_number(t) and low <= t <= high):
        raise field_error(path, "'meta.calibration.temperature'",
                          f"a number from {low:g} to {high:g}", t)
    for key in ("n", "nll_before", "nll_after"):
        value = calibration.get(key)
        if value is not None and not (_is_number(value) and value >= 0):
            raise field_error(path, f"'meta.calibration.{key}'", "a number >= 0", value)
    fitted_on = calibration.get("fitted_on")
    if fitted_on is not None and not isinstance(fitted_on, str):
        raise field_error(path, "'meta.calibration.fitted_on'", "a string", fitted_on)


def check_history(history: dict[str, Any], path: Path) -> None:
    """What the report, the plots and the doctor read from a saved History: ``epoch``; ``loss``
    and ``accuracy``, one number per epoch; the other per-epoch lists at most one per epoch
    (none without validation); ``batch_loss``; ``stop_reason``, ``best_epoch``."""
    epochs = history.get("epoch", [])
    for key in ("epoch", "batch_loss", *_PER_EPOCH):
        value = history.get(key, [])
        if key in ("loss", "accuracy"):
            ok, what = len(value) == len(epochs) if isinstance(value, list) else False, \
                f"a list of numbers, one per epoch ({len(epochs)})"
        elif key in _PER_EPOCH:
            ok, what = len(value) <= len(epochs) if isinstance(value, list) else False, \
                f"a list of numbers, at most one per epoch ({len(epochs)})"
        else:
            ok, what = True, "a list of numbers"
        if not (ok and _numbers(value)):
            raise field_error(path, f"'meta.history.{key}'", what, value)
    reason = history.get("stop_reason")
    if reason is not None and not isinstance(reason, str):
        raise field_error(path, "'meta.history.stop_reason'", "a string", reason)
    best = history.get("best_epoch")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int)):
        raise field_error(path, "'meta.history.best_epoch'", "a whole number or null", best)
