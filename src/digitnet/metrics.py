"""Numbers about a model's answers that more than one place shows (`digitnet evaluate`, the
figures in ``digitnet.plots``, the report)."""

from __future__ import annotations

from typing import Any

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


#: equal-width confidence bins of the expected calibration error (ECE) and reliability diagram
ECE_BINS = 15


def reliability(probabilities: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS
                ) -> dict[str, Any]:
    """How far the network's confidence is from its accuracy: the expected calibration error and
    the reliability diagram's bins.

    Confidence c_i = max_k P[i, k], the probability of the predicted class; right_i = 1 when the
    prediction is the label. The images are put in ``n_bins`` equal-width bins of confidence,
    B_b = {i : b/n_bins < c_i <= (b+1)/n_bins} (the first bin also holds c = 0), and

        ECE = sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|

    with accuracy(B_b) = mean of right_i and confidence(B_b) = mean of c_i over the bin: 0 for a
    network whose "90% sure" answers are right 90% of the time. ``probabilities`` (N, C),
    ``y_true`` (N,). Returns {"ece", "n", "n_bins", "bins": [{"lower", "upper", "count",
    "confidence", "accuracy"}, ...]} (every bin; an empty one has None for the means), plain
    Python numbers (JSON-ready)."""
    P = np.asarray(probabilities, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if P.ndim != 2 or len(P) != len(y_true):
        raise ValueError(f"need probabilities (N, C) and N labels, got {P.shape} and "
                         f"{y_true.shape}")
    conf = P.max(axis=1)
    right = (P.argmax(axis=1) == y_true).astype(np.float64)
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    conf_sum = np.bincount(b, weights=conf, minlength=n_bins)
    right_sum = np.bincount(b, weights=right, minlength=n_bins)
    filled = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(n_bins), where=filled)
    mean_acc = np.divide(right_sum, count, out=np.zeros(n_bins), where=filled)
    ece = float(np.sum(count * np.abs(mean_acc - mean_conf)) / max(len(P), 1))
    bins = [{"lower": k / n_bins, "upper": (k + 1) / n_bins, "count": int(count[k]),
             "confidence": float(mean_conf[k]) if filled[k] else None,
             "accuracy": float(mean_acc[k]) if filled[k] else None} for k in range(n_bins)]
    return {"ece": ece, "n": int(len(P)), "n_bins": n_bins, "bins": bins}
