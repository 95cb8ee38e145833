"""Figures that show what a network learned. Each function takes the data it needs and returns a
``matplotlib.figure.Figure``:

    loss_curves(history)                         loss per iteration; loss and accuracy per epoch
    digit_grid(images, labels, predicted)        a 5x5 grid of digits, wrong predictions in red
    digit_probabilities(image, proba, label)     one digit ("Prediction: 7, Label: 7") and its bars
    confusion_matrix(y_true, y_pred)             how often class i was predicted as class j
    confident_mistakes(images, y_true, proba)    the wrong answers the network was surest of
    per_class_accuracy(y_true, y_pred)           accuracy of each class, and overall
    reliability_diagram(y_true, proba)           accuracy against confidence, and the ECE
    first_layer_weights(net)                     28x28 templates (Dense) or filters (Conv2D)
    activation_histograms(net, images)           the values each hidden layer outputs

In a notebook a returned figure is shown as a PNG image when it is the last value of a cell (or
with ``display(fig)``), with or without ``%matplotlib inline``; in a script, save it with
``fig.savefig("curves.png")``. The figures are made without pyplot (no global state, no window,
safe in a web server thread) and drawn by the Agg renderer, so they work on a machine without a
display.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import metrics
from .extras import missing
from .nn.probe import ACTIVATION_TYPES, forward_trace

if TYPE_CHECKING:
    from .train import History

try:
    from matplotlib import figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator
except ImportError as e:
    raise missing("plots", e) from None

RIGHT, WRONG = "#1a7f37", "#cf222e"  # green and red, also readable for most colour-blind eyes
DIGIT_CMAP = "gray_r"  # ink dark on white, like the page it was written on
WEIGHT_CMAP = "RdBu_r"  # positive red, negative blue, zero white


# --- helpers -------------------------------------------------------------------------------------
class Figure(figure.Figure):
    """A matplotlib Figure that IPython and Jupyter show as one PNG image (``_repr_png_``).

    Figures made without pyplot are not known to a notebook's inline backend, which otherwise
    shows only ``<Figure size 640x480 with 3 Axes>`` unless ``%matplotlib inline`` ran. When the
    inline backend has registered its own printer for Figures, IPython uses that one instead, so
    the picture still appears once.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    """An empty Figure drawn by Agg (works without a display), with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _names(class_names: Sequence[str] | None, n: int) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(n)]
    if len(class_names) < n:
        raise ValueError(f"{len(class_names)} class names for labels up to {n - 1}")
    return [str(c) for c in class_names]


def _labels_and_predictions(y_true: np.ndarray, y_pred: np.ndarray,
                            class_names: Sequence[str] | None
                            ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Checked int64 label and prediction arrays, and one name per class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or not len(y_true):
        raise ValueError(f"need as many predictions as labels, got {y_pred.shape} and "
                         f"{y_true.shape}")
    k = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    return y_true, y_pred, _names(class_names, k)


def _images(x: np.ndarray) -> np.ndarray:
    """Images as (N, H, W): from rows of pixels (N, 784), (N, 28, 28) or NHWC (N, 28, 28, 1)."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"cannot show rows of {x.shape[1]} pixels as square images")
        x = x.reshape(len(x), side, side)
    if x.ndim != 3:
        raise ValueError(f"expected images of shape (N, 784), (N, 28, 28) or (N, 28, 28, 1); "
                         f"got {x.shape}")
    return x


def _image(x: np.ndarray) -> np.ndarray:
    """One image as (H, W): from a row of pixels (784,), (28, 28) or (28, 28, 1)."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (1, 2):
        raise ValueError(f"expected one image of shape (784,), (28, 28) or (28, 28, 1); got "
                         f"{np.shape(x)}")
    return _images(x[None])[0]


def _show(ax: Any, img: np.ndarray, cmap: str = DIGIT_CMAP, **kw: Any) -> None:
    ax.imshow(img, cmap=cmap, interpolation="nearest", **kw)
    ax.set_xticks([])
    ax.set_yticks([])


def _frame(ax: Any, color: str | None) -> None:
    """A coloured frame around an image (wrong predictions), or none."""
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(2.5)


def _grid(fig: Figure, n: int, cols: int) -> list[Any]:
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return list(axes[:n])


# --- training curves -----------------------------------------------------------------------------
#: the fields of a History the curves read, with their values when a saved history lacks them
_HISTORY_FIELDS = {"epoch": [], "loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [],
                   "batch_loss": [], "best_epoch": None, "stop_reason": "completed"}


def _history(history: Any) -> SimpleNamespace:
    """A History, or its as_dict() (as saved in a model file), as the fields the curves read."""
    get = history.get if isinstance(history, dict) else lambda k, d: getattr(history, k, d)
    return SimpleNamespace(**{k: get(k, default) for k, default in _HISTORY_FIELDS.items()})


def loss_curves(history: History | dict[str, Any], per: str = "both") -> Figure:
    """Training curves: the loss of every minibatch ("iteration", with a moving average), and the
    loss and accuracy per epoch on the training and validation data.

    ``per``: "iteration", "epoch" or "both" (one, two or three panels).
    """
    h = _history(history)
    if per not in ("iteration", "epoch", "both"):
        raise ValueError(f"per must be 'iteration', 'epoch' or 'both', got {per!r}")
    panels = []
    if per in ("iteration", "both") and h.batch_loss:
        panels.append("iteration")
    if per in ("epoch", "both") and h.epoch:
        panels += ["loss", "accuracy"]
    if not panels:
        raise ValueError("the history is empty: train the network first (History of train())")
    fig = new_figure(4.2 * len(panels), 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "iteration":
            b = np.asarray(h.batch_loss, dtype=float)
            it = np.arange(1, len(b) + 1)
            ax.plot(it, b, lw=0.6, alpha=0.35, color="C0", label="minibatch")
            w = max(1, len(b) // 50)
            if w > 1:
                smooth = np.convolve(b, np.ones(w) / w, mode="valid")
                ax.plot(it[w - 1:], smooth, color="C0", lw=1.6, label=f"mean of {w}")
            ax.set(title="Loss per iteration", xlabel="iteration (minibatch)", ylabel="loss")
        else:
            train = h.loss if panel == "loss" else h.accuracy
            val = h.val_loss if panel == "loss" else h.val_accuracy
            ax.plot(h.epoch, train, "o-", ms=3, color="C0", label="training")
            if val:
                ax.plot(h.epoch[:len(val)], val, "o-", ms=3, color="C1", label="validation")
            if h.best_epoch:
                ax.axvline(h.best_epoch, color="gray", ls=":", lw=1, label="best epoch")
            ax.set(title=f"{panel.capitalize()} per epoch", xlabel="epoch", ylabel=panel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if panel == "accuracy":
                ax.set_ylim(top=1.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"Training: {len(h.epoch)} epochs, {len(h.batch_loss)} iterations "
                 f"({h.stop_reason})")
    return fig


# --- digits and predictions ----------------------------------------------------------------------
def digit_grid(images: np.ndarray, labels: np.ndarray | None = None,
               predicted: np.ndarray | None = None, class_names: Sequence[str] | None = None,
               n: int = 25, cols: int = 5) -> Figure:
    """The first ``n`` images in a grid, titled with their label, or with the prediction when
    ``predicted`` is given (wrong ones in red, framed, with the true label)."""
    x = _images(images)[:n]
    n = len(x)
    if n == 0:
        raise ValueError("no images to show")
    k = 1 + int(max(np.max(labels[:n]) if labels is not None else 0,
                    np.max(predicted[:n]) if predicted is not None else 0))
    names = _names(class_names, k)
    fig = new_figure(1.35 * min(cols, n), 1.55 * math.ceil(n / min(cols, n)) + 0.4)
    wrong = 0
    for i, ax in enumerate(_grid(fig, n, cols)):
        _show(ax, x[i], vmin=0, vmax=max(1.0, float(x.max())))
        color = None
        if predicted is not None:
            p = int(predicted[i])
            if labels is not None and p != int(labels[i]):
                wrong += 1
                color = WRONG
                title = f"{names[p]} (true {names[int(labels[i])]})"
            else:
                title = names[p]
        else:
            title = "" if labels is None else names[int(labels[i])]
        ax.set_title(title, fontsize=9, color=color or "black")
        _frame(ax, color)
    if predicted is None:
        fig.suptitle(f"{n} images" + (" with their labels" if labels is not None else ""))
    elif labels is None:
        fig.suptitle(f"Predictions for {n} images")
    elif wrong == 0:
        fig.suptitle(f"Predictions for {n} images: all right")
    else:
        fig.suptitle(f"Predictions for {n} images: {wrong} wrong (red, true label in brackets)")
    return fig


def digit_probabilities(image: np.ndarray, probabilities: np.ndarray, label: int | None = None,
                        class_names: Sequence[str] | None = None) -> Figure:
    """One digit ("Prediction: 7, Label: 7") next to the probability the network gives each
    class (the predicted bar coloured, the true class outlined)."""
    img = _image(image)
    p = np.asarray(probabilities, dtype=float).ravel()
    names = _names(class_names, len(p))
    pred = int(np.argmax(p))
    fig = new_figure(7.5, 3.0)
    ax_img, ax_bar = fig.subplots(1, 2, width_ratios=[1, 1.8])
    _show(ax_img, img, vmin=0, vmax=max(1.0, float(img.max())))
    ok = label is None or int(label) == pred
    ax_img.set_title(f"Prediction: {names[pred]}" + ("" if label is None else
                                                      f", Label: {names[int(label)]}"),
                     color="black" if ok else WRONG)
    _frame(ax_img, None if ok else WRONG)
    colors = ["#8c959f"] * len(p)
    colors[pred] = RIGHT if ok else WRONG
    bars = ax_bar.bar(range(len(p)), p, color=colors)
    if label is not None:
        bars[int(label)].set_edgecolor("black")
        bars[int(label)].set_linewidth(1.5)
    ax_bar.text(pred, min(p[pred] + 0.03, 1.0), f"{p[pred]:.2f}", ha="center", va="bottom",
                fontsize=9)
    ax_bar.set_xticks(range(len(p)), names, rotation=0 if len(p) <= 10 else 45)
    ax_bar.set(ylim=(0, 1.1), xlabel="class", ylabel="probability",
               title="Probabilities (black edge: true class)" if label is not None
               else "Probabilities")
    ax_bar.grid(axis="y", alpha=0.3)
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                     class_names: Sequence[str] | None = None) -> Figure:
    """Counts of (true class, predicted class): the diagonal is right, the rest are mistakes."""
    y_true, y_pred, names = _labels_and_predictions(y_true, y_pred, class_names)
    k = len(names)
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    fig = new_figure(1.0 + 0.5 * k, 0.6 + 0.45 * k)
    ax = fig.subplots()
    im = ax.imshow(counts, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8, label="images")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    dark = counts[i, j] > counts.max() / 2
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                            fontsize=8 if k <= 10 else 6, color="white" if dark else "black")
    ax.set_xticks(range(k), names, rotation=0 if k <= 10 else 90)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix: {len(y_true):,} images, accuracy "
                 f"{np.trace(counts) / len(y_true):.4f}")
    return fig


def confident_mistakes(images: np.ndarray, y_true: np.ndarray, probabilities: np.ndarray,
                       class_names: Sequence[str] | None = None, n: int = 16,
                       cols: int = 8) -> Figure:
    """The ``n`` wrong predictions the network was surest of, surest first, each titled with the
    prediction, its probability and the true label."""
    x = _images(images)
    P = np.asarray(probabilities, dtype=float)
    y_true = np.asarray(y_true)
    pred = P.argmax(axis=1)
    names = _names(class_names, P.shape[1])
    wrong = np.flatnonzero(pred != y_true)
    order = wrong[np.argsort(-P[wrong, pred[wrong]], kind="stable")][:n]
    if not len(order):
        fig = new_figure(4.0, 1.5)
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, f"No mistakes on these {len(y_true):,} images", ha="center",
                va="center")
        fig.suptitle("Most confident mistakes")
        return fig
    fig = new_figure(1.35 * min(cols, len(order)), 1.75 * math.ceil(len(order) / cols) + 0.4)
    for ax, i in zip(_grid(fig, len(order), cols), order, strict=True):
        _show(ax, x[i], vmin=0, vmax=max(1.0, float(x[i].max())))
        ax.set_title(f"{names[pred[i]]} ({P[i, pred[i]]:.0%})\ntrue {names[int(y_true[i])]}",
                     fontsize=8, color=WRONG)
        _frame(ax, WRONG)
    fig.suptitle(f"The {len(order)} most confident mistakes (of {len(wrong):,}): "
                 "predicted (probability), true label")
    return fig


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray,
                       class_names: Sequence[str] | None = None) -> Figure:
    """One bar per class: the share of its images predicted right; a dashed line at the overall
    accuracy."""
    y_true, y_pred, names = _labels_and_predictions(y_true, y_pred, class_names)
    k = len(names)
    acc = metrics.per_class_accuracy(y_true, y_pred, k)  # NaN for a class without images: no bar
    overall = float(np.mean(y_true == y_pred))
    fig = new_figure(max(4.0, 0.55 * k + 1.5), 3.2)
    ax = fig.subplots()
    ax.bar(range(k), np.nan_to_num(acc), color=["C0" if a >= overall else "C1" for a in acc])
    for c in range(k):
        if np.isfinite(acc[c]):
            ax.text(c, acc[c] + 0.01, f"{acc[c]:.2f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(overall, color="black", ls="--", lw=1, label=f"overall {overall:.3f}")
    ax.set_xticks(range(k), names, rotation=0 if k <= 10 else 45)
    ax.set(ylim=(0, 1.12), xlabel="true class", ylabel="accuracy",
           title="Accuracy per class (orange: below overall)")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def reliability_diagram(y_true: np.ndarray, probabilities: np.ndarray,
                        n_bins: int = metrics.ECE_BINS) -> Figure:
    """How often the network is right against how sure it says it is: one bar per confidence
    bin (``metrics.reliability``: equal-width bins of the top probability) at the bin's
    accuracy, the bin's mean confidence as a dot, the diagonal where a calibrated network's
    bars end; below, how many images each bin holds (log scale). The title gives the expected
    calibration error (ECE)."""
    rel = metrics.reliability(probabilities, y_true, n_bins)
    bins = rel["bins"]
    centers = np.array([(b["lower"] + b["upper"]) / 2 for b in bins])
    width = 1.0 / n_bins
    filled = [i for i, b in enumerate(bins) if b["count"]]
    acc = np.array([bins[i]["accuracy"] for i in filled])
    conf = np.array([bins[i]["confidence"] for i in filled])
    fig = new_figure(5.0, 5.2)
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="calibrated: accuracy = "
            "confidence")
    ax.bar(centers[filled], acc, width=width * 0.9, color="C0", alpha=0.8,
           label="accuracy in the bin")
    ax.scatter(centers[filled], conf, color=WRONG, s=14, zorder=3,
               label="mean confidence in the bin")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="accuracy",
           title=f"Reliability: ECE {rel['ece']:.2%} on {rel['n']:,} images ({n_bins} bins)")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.95)
    ax_n.bar(centers, [b["count"] for b in bins], width=width * 0.9, color="C7")
    ax_n.set(yscale="log", xlabel="confidence (probability of the predicted class)",
             ylabel="images")
    return fig


# --- inside the network --------------------------------------------------------------------------
def first_layer_weights(net: Any, n: int = 64, cols: int = 8,
                        image_shape: tuple[int, int] = (28, 28)) -> Figure:
    """The weights of the first layer that has weights ``W``, as pictures.

    - Dense with 784 inputs, W:(784, n_out): column j of W as a 28x28 image, the template unit j
      matches (red: ink there raises its output, blue: lowers it); the first ``n`` units.
    - Conv2D, W:(k, k, C_in, C_out): each k x k filter; one row per input channel (at most 8)
      when C_in > 1.
    - any other W: the matrix as a heatmap.

    ``net`` is a Network (or anything with ``.layers``) or a single layer.
    """
    layers = getattr(net, "layers", [net])
    layer = next((lay for lay in layers if "W" in getattr(lay, "params", {})), None)
    if layer is None:
        raise ValueError("the network has no layer with weights W")
    W = np.asarray(layer.params["W"], dtype=float)
    what = f"{type(layer).__name__} {'x'.join(map(str, W.shape))}"
    h, w = image_shape
    if W.ndim == 2 and W.shape[0] == h * w:
        shown = min(n, W.shape[1])
        tiles = [W[:, j].reshape(h, w) for j in range(shown)]
        titles = [str(j) for j in range(shown)] if shown <= 16 else None
        title = (f"First-layer weights as {h}x{w} templates: {shown} of {W.shape[1]} units "
                 f"({what}); red +, blue -")
        grid_cols = cols
    elif W.ndim == 4:
        kh, kw, c_in, c_out = W.shape
        rows = min(c_in, 8)
        per_row = min(c_out, n if rows == 1 else max(1, n // rows))
        tiles = [W[:, :, c, o] for c in range(rows) for o in range(per_row)]
        titles = None
        grid_cols = per_row if rows > 1 else min(cols, per_row)
        title = (f"First-layer filters ({what}): {per_row} of {c_out} output channels"
                 + (f", one row per input channel ({rows} of {c_in})" if c_in > 1 else "")
                 + "; red +, blue -")
    else:
        fig = new_figure(6.0, 4.0)
        ax = fig.subplots()
        m = float(np.max(np.abs(W))) or 1.0
        im = ax.imshow(W.reshape(W.shape[0], -1), cmap=WEIGHT_CMAP, vmin=-m, vmax=m,
                       aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="weight")
        ax.set(xlabel="output unit", ylabel="input", title=f"First-layer weights ({what})")
        return fig
    rows_n = math.ceil(len(tiles) / grid_cols)
    fig = new_figure(max(3.0, 1.05 * grid_cols), 1.05 * rows_n + 0.5)
    for i, ax in enumerate(_grid(fig, len(tiles), grid_cols)):
        m = float(np.max(np.abs(tiles[i]))) or 1.0  # each tile on its own symmetric scale
        _show(ax, tiles[i], cmap=WEIGHT_CMAP, vmin=-m, vmax=m)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def activation_histograms(net: Any, images: np.ndarray, bins: int = 50,
                          max_images: int = 1000) -> Figure:
    """Histograms of what each hidden activation layer outputs (and of the final scores) on
    ``images``: healthy layers keep a similar spread with depth; vanishing ones pile up at 0,
    saturated sigmoid/tanh ones at their limits."""
    trace = forward_trace(net, np.asarray(images)[:max_images])
    shown = [t for t in trace[:-1] if isinstance(t[1], ACTIVATION_TYPES)] + [trace[-1]]
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = new_figure(3.3 * cols, 2.7 * rows + 0.4)
    for ax, (i, layer, A) in zip(_grid(fig, len(shown), cols), shown, strict=True):
        a = np.asarray(A, dtype=float).ravel()
        a = a[np.isfinite(a)]
        last = (i, layer) == trace[-1][:2]
        ax.hist(a, bins=bins, color="C2" if last else "C0")
        ax.set_yscale("log")
        name = "scores (output)" if last else type(layer).__name__
        ax.set_title(f"layer {i}: {name}\nmean {a.mean():.3g}, std {a.std():.3g}, "
                     f"{np.mean(a == 0):.0%} zero", fontsize=9)
        ax.set(xlabel="value", ylabel="count (log scale)")
    fig.suptitle(f"Activations per layer on {min(len(images), max_images):,} images")
    return fig
