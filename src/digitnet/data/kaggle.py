"""Kaggle "Digit Recognizer" CSV files in, submission files out.

``train.csv``: a header ``label,pixel0,...,pixel783`` then one row per image: the digit 0..9 and
784 pixels 0..255 (row-major 28x28). ``test.csv``: the same without the label column.
A submission is ``ImageId,Label`` with ImageId counting from 1.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import stat
import warnings
from pathlib import Path

import numpy as np

from digitnet.data.idx import atomic_write
from digitnet.errors import DataError
from digitnet.limits import MAX_DATA_BYTES, size_text

N_PIXELS = 784
PIXEL_COLUMNS = [f"pixel{i}" for i in range(N_PIXELS)]
_HEADERS = "'label,pixel0,...,pixel783' (train.csv) or 'pixel0,...,pixel783' (test.csv)"
_CHUNK = 1000  # lines per block when searching for the first bad line
_MAX_HEADER = 16_384  # characters: the 785 column names take 6,909
_MAX_LINE = 65_536  # characters of a data line: 785 numbers take at most 3,140 (+ spaces)
_BLOCK = 1 << 18  # bytes (characters) read at a time when scanning the file for line ends
_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_kaggle_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a Kaggle Digit Recognizer CSV file; the header says whether it has labels.

    Returns ``x (N, 784) uint8`` and ``y (N,) int64``, or ``y = None`` for test.csv.
    Raises ``DataError`` naming the file and the (1-based) line of the first bad row.
    The file is parsed as it is read, never held whole: it costs about its parsed values
    (2 bytes per value, at most its own size) and at most ``limits.MAX_DATA_BYTES``.
    """
    path = Path(path)
    has_label = _parse_header(_first_line(path), path)
    ncols = N_PIXELS + int(has_label)
    _check_line_lengths(path)
    try:
        with warnings.catch_warnings():  # "input contained no data": said below
            warnings.simplefilter("ignore", UserWarning)
            values = _parse_rows(str(path), ncols, has_label, skiprows=1)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file; pass Kaggle's train.csv or "
                        "test.csv.") from None
    except ValueError:
        raise DataError(_find_bad_line(path, ncols, has_label)) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from None
    if not len(values):
        raise DataError(f"{path}: no data rows after the header on line 1; add rows of pixels.")
    x = values[:, has_label:].astype(np.uint8)
    y = values[:, 0].astype(np.int64) if has_label else None
    return x, y


def csv_digest(path: str | os.PathLike) -> str | None:
    """The SHA-256 of a file's bytes (hex, by pooch), or None if it cannot be read: it tells the
    same labelled CSV under another name or path (its test rows are carved from it, see
    ``cli.options.check_held_out``). ~0.2 s for Kaggle's 73 MB train.csv."""
    import pooch  # imported when needed, as for downloads (data/datasets.py)

    try:
        return pooch.file_hash(str(path), alg="sha256")
    except OSError:
        return None


def write_submission(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write predicted digits as a Kaggle submission: ``ImageId,Label``, ImageId from 1.

    ``labels``: (N,) integers 0..9, in the order of the rows of test.csv. Written to a temporary
    file and renamed, so a failure never leaves half a file.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"cannot write {path}: labels must be a 1-D integer array, got {labels.dtype} "
            f"shape {labels.shape}; pass one predicted digit per test image."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"cannot write {path}: labels must be digits 0..9.")
    table = np.column_stack([np.arange(1, len(labels) + 1), labels])
    text = io.StringIO()
    np.savetxt(text, table, fmt="%d", delimiter=",", header="ImageId,Label", comments="")
    atomic_write(path, text.getvalue().encode())


def _open(path: Path) -> io.TextIOWrapper:
    """``path`` opened as UTF-8 text (a byte-order mark skipped); DataError if it is missing,
    not a regular file or larger than MAX_DATA_BYTES."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # checked before open(), which waits on a pipe
            raise DataError(f"{path} is not a regular file (a folder, a pipe?); pass Kaggle's "
                            "train.csv or test.csv.")
        if st.st_size > MAX_DATA_BYTES:
            raise DataError(f"{path} is {size_text(st.st_size)}; the limit is "
                            f"{size_text(MAX_DATA_BYTES)} (digitnet.limits.MAX_DATA_BYTES). "
                            "Kaggle's train.csv is 73 MB: split larger files.")
        return open(path, encoding="utf-8-sig")  # noqa: SIM115 (the caller closes it)
    except FileNotFoundError:
        raise DataError(f"CSV file not found: {path}. Check the path.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from None


def _first_line(path: Path) -> str:
    """The header line, without its line end; DataError if the file is empty or not text."""
    try:
        with _open(path) as f:
            line = f.readline(_MAX_HEADER + 1)
            if not line.strip() and not any(block.strip() for block in iter(
                    lambda: f.read(_BLOCK), "")):
                raise DataError(f"{path}, line 1: the file is empty; expected a header "
                                f"{_HEADERS}.")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file; pass Kaggle's train.csv or "
                        "test.csv.") from None
    if len(line) > _MAX_HEADER:
        raise DataError(f"{path}, line 1: found a line of more than {_MAX_HEADER:,} "
                        f"characters; the first line must be {_HEADERS}.")
    return line.rstrip("\r\n")


def _parse_header(line: str, path: Path) -> bool:
    """True for a train.csv header (with labels), False for test.csv; DataError otherwise."""
    names = [name.strip().strip('"') for name in line.split(",")]
    if names == ["label"] + PIXEL_COLUMNS:
        return True
    if names == PIXEL_COLUMNS:
        return False
    if all(name.isdigit() for name in names):
        found = "no header row (it starts with numbers)"
    else:
        start = ",".join(names[:3]) + ("..." if len(names) > 3 else "")
        found = f"an unexpected header ({len(names)} columns: {start!r})"
    raise DataError(f"{path}, line 1: found {found}; the first line must be {_HEADERS}.")


def _parse_rows(rows: str | list[str], ncols: int, has_label: bool,
                skiprows: int = 0) -> np.ndarray:
    """Fast path: the rows (a file's name, or lines) as an ``(N, ncols) int16`` array; ValueError
    if any row is bad."""
    values = np.loadtxt(rows, delimiter=",", dtype=np.int16, comments=None, ndmin=2,
                        skiprows=skiprows, encoding="utf-8-sig")
    if len(values) and values.shape[1] != ncols:
        raise ValueError("wrong number of columns")
    pixels = values[:, int(has_label) :]
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise ValueError("pixel out of range")
    if has_label and len(values) and (values[:, 0].min() < 0 or values[:, 0].max() > 9):
        raise ValueError("label out of range")
    return values


def _check_line_lengths(path: Path) -> None:
    """DataError naming the first line of more than _MAX_LINE bytes, found reading the file in
    blocks (a row of 785 numbers has at most 3,140): the parser's memory grows with the
    longest line."""
    run, number = 0, 1  # bytes of the current line so far, and its number
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            ends = np.flatnonzero(np.frombuffer(block, np.uint8) == ord("\n"))
            lengths = np.diff(ends, prepend=-1) - 1  # of the lines ending in this block
            if lengths.size:
                lengths[0] += run
                run = len(block) - 1 - int(ends[-1])
            else:
                run += len(block)
            long = np.flatnonzero(lengths > _MAX_LINE)
            if long.size or run > _MAX_LINE:
                line = number + int(long[0]) if long.size else number + lengths.size
                raise DataError(f"{path}, line {line}: has more than {_MAX_LINE:,} "
                                "characters, far more than a row of 785 numbers; fix or "
                                "remove it.")
            number += lengths.size


def _find_bad_line(path: Path, ncols: int, has_label: bool) -> str:
    """Slow path, run only after the fast path failed: a message naming the first bad line.

    Reads the file again in blocks of _CHUNK lines, parses each block with the fast parser and
    checks line by line only in a failing block.
    """
    with _open(path) as f:
        lines = (line.rstrip("\r\n") for line in f)
        next(lines)  # the header
        number = 1
        while block := list(itertools.islice(lines, _CHUNK)):
            problem = _block_problem(block, ncols, has_label)
            if problem:
                return f"{path}, line {number + problem[0] + 1}: {problem[1]}"
            number += len(block)
    return f"{path} could not be read as rows of whole numbers; expected Kaggle's CSV format."


def _block_problem(block: list[str], ncols: int, has_label: bool) -> tuple[int, str] | None:
    """(index, what is wrong) for the first bad line of a block of lines, or None."""
    filled = [line for line in block if line.strip()]
    try:
        if filled:
            _parse_rows(filled, ncols, has_label)
        return None
    except ValueError:
        pass
    for i, line in enumerate(block):
        problem = _row_problem(line, ncols, has_label)
        if problem:
            return i, problem
    return None


def _row_problem(line: str, ncols: int, has_label: bool) -> str | None:
    """What is wrong with one data line, or None if it is fine (blank lines are skipped)."""
    if not line.strip():
        return None
    fields = line.split(",")
    expected = "a label and 784 pixels" if has_label else "784 pixels"
    if len(fields) != ncols:
        return f"has {len(fields)} values, expected {ncols} ({expected}); fix or remove this row."
    names = ["label"] * has_label + PIXEL_COLUMNS
    for name, field in zip(names, fields, strict=True):
        text = field.strip()
        if not _INTEGER.fullmatch(text):
            return f"{name} is {text!r}, not a whole number; fix or remove this row."
        value, high = int(text), 9 if name == "label" else 255
        if not 0 <= value <= high:
            return f"{name} is {value}, outside 0..{high}; fix or remove this row."
    return None
