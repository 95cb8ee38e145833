"""Checks of what a network is given and what it outputs, before any training: pixels in [0, 1],
labels that are class numbers, probabilities that sum to 1 per image."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.checks import label_problem
from ..nn.network import Network
from .findings import Advice, Finding, Thresholds


def check_inputs(x: np.ndarray, y: Any, n_classes: int, th: Thresholds | None = None,
                 advice: Advice | None = None, n_inputs: int | None = None) -> list[Finding]:
    """``unscaled_input`` when pixels leave [0, 1]; ``bad_labels`` when labels are not 0..C-1.

    Arrays in the notebooks' layout, images as columns ``(784, m)`` or one-hot labels as columns
    ``(10, m)``, get ``bad_labels`` with the transpose or ``argmax(axis=0)`` that fixes them.
    """
    th, advice = th or Thresholds(), advice or Advice()
    findings = []
    x = np.asarray(x)
    if x.size and np.issubdtype(x.dtype, np.number):
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if lo < -th.input_tolerance or hi > 1 + th.input_tolerance:
            if lo >= 0 and hi > 1.5:
                how = f"they look like raw 0..255 values: {advice.scale_fix}"
            else:
                how = ("scale them to [0, 1] the way digitnet's load_dataset does: raw 0..255 "
                       "pixels divided by 255, not standardized to mean 0")
            findings.append(Finding("unscaled_input", (
                f"The input pixels run from {lo:.4g} to {hi:.4g}, but the network expects values "
                f"in [0, 1]: {how}. Large inputs make the first layer's outputs and gradients "
                "huge, so training jumps around or diverges."),
                {"min": lo, "max": hi, "mean": float(np.nanmean(x)), "dtype": x.dtype.name}))
    problem = label_problem(x, y, n_classes, n_inputs)
    if problem:
        y = np.asarray(y)
        evidence: dict[str, Any] = {"shape": list(y.shape), "dtype": y.dtype.name,
                                    "n_classes": n_classes, "x_shape": list(x.shape)}
        if y.ndim == 1 and len(y) and np.issubdtype(y.dtype, np.number):
            evidence.update(min=float(y.min()), max=float(y.max()))
        findings.append(Finding("bad_labels", problem + " (The doctor did not train: the loss "
                                "cannot be computed with these labels.)", evidence))
    return findings


def check_probabilities(net: Network, X: np.ndarray, th: Thresholds | None = None) -> list[Finding]:
    """``bad_softmax`` when a row of the probabilities (one image) does not sum to 1 or holds
    values outside [0, 1]; says so when the columns (axis=0, the batch) sum to 1 instead."""
    th = th or Thresholds()
    # the whole probe batch at once (predict_proba works in chunks): P is (N, classes)
    P = np.asarray(net.loss.probabilities(net.forward(net.check_input(X))), dtype=np.float64)
    rows = P.sum(axis=1)
    bad_rows = ~np.isfinite(rows) | (np.abs(rows - 1) > th.probability_tolerance)
    out_of_range = bool(np.any(P < -th.probability_tolerance)
                        | np.any(P > 1 + th.probability_tolerance))
    if not (np.any(bad_rows) or out_of_range):
        return []
    cols = P.sum(axis=0)
    over_batch = bool(np.all(np.abs(cols - 1) <= th.probability_tolerance))
    message = (f"The probabilities the network gives one image should sum to 1 over its "
               f"{P.shape[1]} classes, but the rows of predict_proba (axis=1) sum to "
               f"{np.nanmin(rows):.3g}..{np.nanmax(rows):.3g}")
    if over_batch:
        message += (". Its columns (axis=0, over the batch of images) sum to 1 instead: the "
                    "softmax normalizes over the wrong axis. In digitnet's layout, scores Z of "
                    "shape (N, classes), one image per row, use E = exp(Z - Z.max(axis=1, "
                    "keepdims=True)); P = E / E.sum(axis=1, keepdims=True). (In the notebooks' "
                    "layout, one image per column, it is axis=0.)")
    else:
        message += (". Check the loss's probabilities(): exponentiate the scores (minus their "
                    "row maximum) and divide each row by its sum (axis=1 in digitnet's layout, "
                    "one image per row; axis=0 in the notebooks', one image per column).")
    return [Finding("bad_softmax", message, {
        "row_sum_min": float(np.nanmin(rows)), "row_sum_max": float(np.nanmax(rows)),
        "column_sum_min": float(np.nanmin(cols)), "column_sum_max": float(np.nanmax(cols)),
        "rows_wrong": int(np.sum(bad_rows)), "rows": len(rows), "min": float(np.nanmin(P)),
        "max": float(np.nanmax(P))})]
