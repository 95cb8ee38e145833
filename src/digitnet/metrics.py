"""Numbers about a model's answers that more than one place shows (`digitnet evaluate`, the
figures in ``digitnet.plots``, the report)."""

from __future__ import annotations

import numpy as np


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray,
                       n_classes: int | None = None) -> np.ndarray:
    """The share of each class's images predicted right, (n_classes,) float; NaN for a class
    with no images. ``n_classes`` defaults to the largest label or prediction + 1."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"need as many predictions as labels, got {y_pred.shape} and "
                         f"{y_true.shape}")
    if n_classes is None:
        n_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    total = np.bincount(y_true, minlength=n_classes)
    right = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    return np.divide(right, total, out=np.full(n_classes, np.nan), where=total > 0)
