"""Checks of the arrays a learner gives digitnet, each answered in words with the fix: images one
per row, labels one class number per image. Arrays in the notebooks' layout (one image per
column, ``X:(784, m)``; one-hot label columns, ``Y:(10, m)``) are recognized and named as such.

Used by ``Network.check_input``, ``train`` and the doctor, so all say the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def images_problem(x: np.ndarray, n_inputs: int | None, n_labels: int | None = None) -> str | None:
    """The notebooks' layout, one image per column, in words with its fix; None otherwise.

    Recognized when ``x`` is 2-D and has ``n_inputs`` rows (but not columns), or as many
    columns as there are labels (``n_labels``, but not as many rows)."""
    if np.ndim(x) != 2:
        return None
    rows, cols = np.shape(x)
    if (n_inputs and rows == n_inputs and cols != n_inputs) or (
            n_labels is not None and cols == n_labels and rows != n_labels):
        n = n_inputs or rows
        return (f"The images have shape {(rows, cols)}: one image per column, as in the notebooks "
                f"(X:({n}, m)). digitnet stores one image per row, (m, {n}): pass X.T.")
    return None


def label_problem(x: np.ndarray, y: Any, n_classes: int,
                  n_inputs: int | None = None) -> str | None:
    """What is wrong with images ``x`` and labels ``y`` for a network of ``n_classes`` outputs
    (and ``n_inputs`` inputs, if given), in words with the fix; None when they fit."""
    x, y = np.asarray(x), np.asarray(y)
    columns = images_problem(x, n_inputs, len(y) if y.ndim == 1 else None)
    if columns:
        return columns
    if y.ndim == 2 and y.shape[1] == n_classes and y.shape[0] == len(x):
        return (f"The labels are rows of {n_classes} values (one-hot, shape {y.shape}); "
                "digitnet takes one class number per image: use y.argmax(axis=1).")
    if y.ndim == 2 and y.shape[0] == n_classes:
        return (f"The labels have shape {y.shape}: one-hot columns, as in the notebooks "
                f"(Y:({n_classes}, m)); digitnet takes one class number per image, shape (m,): "
                "use Y.argmax(axis=0).")
    if y.ndim == 2 and 1 in y.shape:
        return (f"The labels have shape {y.shape}; digitnet takes one class number per image, "
                "shape (N,): use y.reshape(-1).")
    if y.ndim != 1:
        return (f"The labels have shape {y.shape}; digitnet takes one class number per image, "
                "shape (N,).")
    if len(y) != len(x):
        return f"There are {len(x)} images but {len(y)} labels: pass one label per image."
    if len(y) and not np.issubdtype(y.dtype, np.number):
        return f"The labels are {y.dtype.name} values; digitnet takes class numbers 0..9."
    if len(y):
        lo, hi = float(y.min()), float(y.max())
        if not np.all(np.mod(y, 1) == 0):
            return ("The labels are not whole numbers (e.g. probabilities); digitnet takes "
                    f"class numbers 0..{n_classes - 1}: convert them with y.astype(int).")
        if lo == 1 and hi == n_classes:
            return (f"The labels run 1..{n_classes} (one-based, as in MATLAB); digitnet takes "
                    f"0..{n_classes - 1}: subtract 1 (y - 1).")
        if lo < 0 or hi > n_classes - 1:
            return (f"The labels run {lo:g}..{hi:g} but this network tells {n_classes} classes "
                    f"apart, numbered 0..{n_classes - 1}: fix the labels, or give the last "
                    f"layer as many outputs as there are classes.")
    return None
