"""Kaggle "Digit Recognizer" CSV files in, submission files out.

``train.csv``: a header ``label,pixel0,...,pixel783`` then one row per image: the digit 0..9 and
784 pixels 0..255 (row-major 28x28). ``test.csv``: the same without the label column.
A submission is ``ImageId,Label`` with ImageId counting from 1.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from digitnet.data.idx import atomic_write
from digitnet.errors import DataError

N_PIXELS = 784
PIXEL_COLUMNS = [f"pixel{i}" for i in range(N_PIXELS)]
_HEADERS = "'label,pixel0,...,pixel783' (train.csv) or 'pixel0,...,pixel783' (test.csv)"
_CHUNK = 1000  # lines per block when searching for the first bad line
_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_kaggle_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a Kaggle Digit Recognizer CSV file; the header says whether it has labels.

    Returns ``x (N, 784) uint8`` and ``y (N,) int64``, or ``y = None`` for test.csv.
    Raises ``DataError`` naming the file and the (1-based) line of the first bad row.
    """
    path = Path(path)
    lines = _read_lines(path)
    has_label = _parse_header(lines[0], path)
    ncols = N_PIXELS + int(has_label)
    rows = lines[1:]
    if not any(line.strip() for line in rows):  # stops at the first data row
        raise DataError(f"{path}: no data rows after the header on line 1; add rows of pixels.")
    try:
        values = _parse_rows(rows, ncols, has_label)
    except ValueError:
        raise DataError(_find_bad_line(rows, ncols, has_label, path)) from None
    x = values[:, has_label:].astype(np.uint8)
    y = values[:, 0].astype(np.int64) if has_label else None
    return x, y


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


def _read_lines(path: Path) -> list[str]:
    """The file's lines, newline characters removed; at least one (the header)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"CSV file not found: {path}. Check the path.") from None
    except UnicodeDecodeError:
        raise DataError(
            f"{path} is not a text CSV file; pass Kaggle's train.csv or test.csv."
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from None
    if not text.strip():
        raise DataError(f"{path}, line 1: the file is empty; expected a header {_HEADERS}.")
    return text.split("\n")


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


def _parse_rows(rows: list[str], ncols: int, has_label: bool) -> np.ndarray:
    """Fast path: the rows as an ``(N, ncols) int16`` array; ValueError if any row is bad."""
    values = np.loadtxt(rows, delimiter=",", dtype=np.int16, comments=None, ndmin=2)
    if values.shape[1] != ncols:
        raise ValueError("wrong number of columns")
    pixels = values[:, int(has_label) :]
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise ValueError("pixel out of range")
    if has_label and (values[:, 0].min() < 0 or values[:, 0].max() > 9):
        raise ValueError("label out of range")
    return values


def _find_bad_line(rows: list[str], ncols: int, has_label: bool, path: Path) -> str:
    """Slow path, run only after the fast path failed: a message naming the first bad line.

    Parses blocks of rows with the fast parser and checks line by line only in a failing block.
    """
    for start in range(0, len(rows), _CHUNK):
        block = rows[start : start + _CHUNK]
        filled = [line for line in block if line.strip()]
        try:
            if filled:
                _parse_rows(filled, ncols, has_label)
            continue
        except ValueError:
            pass
        for offset, line in enumerate(block):
            problem = _row_problem(line, ncols, has_label)
            if problem:  # +2: one for the header, one because lines count from 1
                return f"{path}, line {start + offset + 2}: {problem}"
    return f"{path} could not be read as rows of whole numbers; expected Kaggle's CSV format."


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
