"""IDX files, the format MNIST and Fashion-MNIST are published in.

Layout (every integer a big-endian uint32)::

    byte 0-1   0x00 0x00          magic
    byte 2     data type code     0x08 = unsigned byte (all MNIST files)
    byte 3     number of dims d   1 for labels, 3 for images
    4 bytes    size of dim 0      e.g. 60000
    ...        size of dim d-1    e.g. 28
    payload    prod(sizes) items, row-major

Files may be gzip-compressed (``*.gz``); a reader recognises them by gzip's magic bytes, not by
the name. Anything that does not match this layout exactly raises ``DataError``.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from digitnet.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
MAX_NDIM = 8  # real IDX files have 1 to 4 dimensions; more means a corrupt header

# IDX type code -> big-endian NumPy dtype (the codes the IDX format defines)
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_REPLACE = "replace it with a good copy (download or copy it again)"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or gzip'd) into an array with the shape its header declares.

    Returns e.g. ``(60000, 28, 28) uint8`` for MNIST images, ``(60000,) uint8`` for labels.
    Raises ``DataError`` naming the file for a missing, corrupt, truncated or oversized file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, path)
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes); {_REPLACE}.")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: it should start with bytes 00 00 but starts with "
            f"{data[:4].hex(' ')}. Use MNIST-style IDX files such as train-images-idx3-ubyte.gz."
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unsupported IDX data type code 0x{code:02X} (known: {known}).")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(
            f"{path} has a corrupt IDX header: it declares {ndim} dimensions "
            f"(expected 1 to {MAX_NDIM}); {_REPLACE}."
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{path} is truncated inside its IDX header; {_REPLACE}.")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise DataError(
            f"{path} is truncated: its header declares shape {shape} ({expected:,} bytes of data) "
            f"but only {got:,} bytes follow. The file is incomplete; {_REPLACE}."
        )
    if got > expected:
        raise DataError(
            f"{path} has {got - expected:,} unexpected bytes after the data its header declares "
            f"(shape {shape}). The file is damaged or not an IDX file; {_REPLACE}."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip'd (deterministically, mtime 0) if the name ends in .gz.

    The dtype must be one IDX knows (uint8, int8, int16, int32, float32, float64).
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"cannot write {path}: IDX has no type for {array.dtype}; convert the array first, "
            "e.g. array.astype(np.uint8)."
        )
    if not 1 <= array.ndim <= MAX_NDIM:
        raise DataError(f"cannot write {path}: IDX arrays need 1 to {MAX_NDIM} dimensions.")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    atomic_write(path, data)


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read matching MNIST-style image and label files.

    Returns ``images (N, 28, 28) uint8`` and ``labels (N,) uint8`` with every label in 0..9.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{images_path} holds {images.dtype} data of shape {images.shape}; expected 28x28 "
            "uint8 images, shape (N, 28, 28). Check that you passed an images file."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path} holds {labels.dtype} data of shape {labels.shape}; expected uint8 "
            "labels, shape (N,). Check that you passed a labels file."
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images):,} images but {labels_path} has {len(labels):,} "
            "labels; use an images file and the labels file that belongs to it."
        )
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataError(
            f"{labels_path}: label {labels[bad[0]]} at index {bad[0]} is outside 0..9 "
            f"({bad.size:,} bad labels in all). Digit datasets need labels 0..9."
        )
    return images, labels


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash or a full disk never leaves half a file behind.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)  # mkstemp makes the file private; give it the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise DataError(
            f"cannot write {path}: {err.strerror or err}. Check that the folder exists and that "
            "you may write to it."
        ) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}. Check the path.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from None


def _gunzip(data: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path} is a damaged gzip file ({err}); delete it and download or copy it again."
        ) from None
