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
import math
import os
import stat
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from digitnet.errors import DataError
from digitnet.limits import (
    GZIP_RATIO_FLOOR,
    MAX_DATA_BYTES,
    MAX_GZIP_RATIO,
    MiB,
    size_text,
)

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
    The header is read first and the size it declares checked (``limits.MAX_DATA_BYTES``; a
    gzip'd file may declare at most ``limits.MAX_GZIP_RATIO`` times its own size): only then is
    the data read, exactly as much as declared, so a damaged or hostile file never costs more
    than about twice the data it may declare.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # before open(), which waits on a pipe
            raise DataError(f"{path} is not a regular file (a folder, a pipe?); pass an IDX "
                            "file such as train-images-idx3-ubyte.gz.")
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if raw.read(2) == GZIP_MAGIC:
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw) as f:
                    return _read_idx(f, path, size, gzipped=True)
            raw.seek(0)
            return _read_idx(raw, path, size, gzipped=False)
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}. Check the path.") from None
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        if isinstance(err, gzip.BadGzipFile | EOFError | zlib.error):
            raise DataError(f"{path} is a damaged gzip file ({err}); delete it and download "
                            "or copy it again.") from None
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from None


def _read_idx(f: BinaryIO, path: Path, size: int, gzipped: bool) -> np.ndarray:
    """The IDX array in ``f``: a file of ``size`` bytes, or the gzip stream of one. Its data is
    read only after its header declared at most MAX_DATA_BYTES (and, gzip'd, at most
    MAX_GZIP_RATIO times the file's size, or GZIP_RATIO_FLOOR), in chunks: memory follows the
    data that is there, whatever the header declares."""
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(head)} bytes); {_REPLACE}.")
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: it should start with bytes 00 00 but starts with "
            f"{head.hex(' ')}. Use MNIST-style IDX files such as train-images-idx3-ubyte.gz."
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unsupported IDX data type code 0x{code:02X} (known: {known}).")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(
            f"{path} has a corrupt IDX header: it declares {ndim} dimensions "
            f"(expected 1 to {MAX_NDIM}); {_REPLACE}."
        )
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header; {_REPLACE}.")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    if expected > MAX_DATA_BYTES:
        raise DataError(
            f"{path}: its IDX header declares shape {shape}, {size_text(expected)} of data; "
            f"the limit is {size_text(MAX_DATA_BYTES)} (digitnet.limits.MAX_DATA_BYTES). The "
            f"header is damaged, or the dataset is larger than digitnet reads; {_REPLACE}."
        )
    if gzipped and expected > max(MAX_GZIP_RATIO * size, GZIP_RATIO_FLOOR):
        raise DataError(
            f"{path}: its IDX header declares shape {shape}, {size_text(expected)} of data, "
            f"more than {MAX_GZIP_RATIO} times the size of the compressed file (the limit, "
            f"digitnet.limits.MAX_GZIP_RATIO, against decompression bombs). If the file is "
            f"genuine, decompress it (gunzip) and read the raw file; otherwise {_REPLACE}."
        )
    follow = size - 4 - 4 * ndim  # in a raw file, the bytes after the header
    data, got = (None, follow) if not gzipped and follow < expected else _read_data(f, expected)
    if data is None or got < expected:
        raise DataError(
            f"{path} is truncated: its header declares shape {shape} ({expected:,} bytes of data) "
            f"but only {got:,} bytes follow. The file is incomplete; {_REPLACE}."
        )
    extra = _count_rest(f) if gzipped else follow - expected
    if extra:
        more = f"{extra:,}" if extra < _MAX_COUNTED else f"more than {_MAX_COUNTED:,}"
        raise DataError(
            f"{path} has {more} unexpected bytes after the data its header declares "
            f"(shape {shape}). The file is damaged or not an IDX file; {_REPLACE}."
        )
    array = data.view(dtype).reshape(shape)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _read_data(f: BinaryIO, n: int) -> tuple[np.ndarray | None, int]:
    """(up to ``n`` bytes of ``f`` as a new uint8 array, how many there were), read in chunks
    of 1 MiB, doubling up to _CHUNK (a read makes room for all it asks for): a header that
    declares more than the file holds costs about what it holds."""
    chunks, got, step = [], 0, MiB
    while got < n:
        chunk = f.read(min(step, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        step = min(2 * step, _CHUNK)
    data = np.empty(got, np.uint8)
    at = 0
    for chunk in chunks:
        data[at:at + len(chunk)] = np.frombuffer(chunk, np.uint8)
        at += len(chunk)
    return data, got


_CHUNK = 16 * MiB
_MAX_COUNTED = 64 * MiB  # trailing bytes counted for the message, in 1 MiB reads


def _count_rest(f: BinaryIO) -> int:
    """How many bytes are left in ``f`` (up to _MAX_COUNTED), read in bounded chunks."""
    n = 0
    while n < _MAX_COUNTED:
        chunk = f.read(MiB)
        if not chunk:
            break
        n += len(chunk)
    return n


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
