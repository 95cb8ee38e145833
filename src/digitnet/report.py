"""A self-contained HTML report of a trained model: one file, ``report.html``, that opens anywhere
without network access (the figures are embedded as base64 PNG data), plus the same figures as PNG
files next to it.

    write_report(net, ds.x_test, ds.y_test, "report/")   # -> Path("report/report.html")

Contents: the model (layers, parameter counts), its training (options, per-epoch history, loss
and accuracy curves), its accuracy on the images given, and every figure of ``digitnet.plots``:
predictions on a grid, one digit with its probabilities, the confusion matrix, accuracy per class,
the reliability diagram (confidence against accuracy, the ECE), the most confident mistakes, the
first-layer weights and the activations per layer; last, what the doctor finds when it inspects
the network (without training it).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .doctor import diagnose
from .errors import DigitnetError
from .files import folder_problem
from .judge import applies, judge
from .metrics import reliability
from .nn.ensemble import Ensemble
from .nn.network import Network
from .train import History
from .version import __version__

#: the PNG files written next to report.html, in the order the report shows them
FIGURE_FILES = ("curves.png", "predictions.png", "digit.png", "confusion.png", "per_class.png",
                "reliability.png", "mistakes.png", "weights.png", "activations.png")
#: training options shown in the report, when the model file has them
TRAINING_KEYS = ("model", "activation", "init", "dropout", "optimizer", "lr", "schedule", "epochs",
                 "batch_size", "weight_decay", "patience", "seed", "train_size")


class ReportError(DigitnetError):
    """The report cannot be written (no images, or the folder is not writable)."""


def check_report_folder(out_dir: str | os.PathLike) -> None:
    """ReportError, saying why, unless the report could be written into ``out_dir`` (a folder
    that exists and is writable, or that can be created). ``train --report`` calls it before
    training."""
    problem = folder_problem(out_dir)
    if problem:
        raise ReportError(f"cannot write the report into {out_dir}: {problem}")


def write_report(net: Network | Ensemble, x: np.ndarray, y: np.ndarray | None,
                 out_dir: str | os.PathLike,
                 *, class_names: list[str] | None = None, history: History | None = None,
                 result: dict[str, Any] | None = None, data_name: str = "",
                 title: str | None = None, dpi: int = 100) -> Path:
    """Write ``out_dir/report.html`` and the figures as PNG files; returns the HTML file's path.

    ``x`` (N, 784) and labels ``y`` (N,) (or None for unlabelled images) are the images the model
    is shown on, usually the test split. ``history``, ``result`` (training result) and
    ``class_names`` default to what ``net.meta`` holds (a model file keeps them; the names:
    ``net.class_names``).
    """
    from . import plots  # matplotlib is imported only when a report is made

    out = Path(out_dir)
    check_report_folder(out)
    x = np.asarray(x)
    if not len(x):
        raise ReportError("no images to report on: the data has no test images "
                          "(check --test-size)")
    meta = net.meta or {}
    if history is None and meta.get("history"):
        history = History.from_dict(meta["history"])
    result = result if result is not None else meta.get("result") or {}
    names = list(class_names or net.class_names)
    labelled = y is not None
    P = net.predict_proba(x)
    pred = P.argmax(axis=1)
    # inside an ensemble: its first network stands for the others (same architecture)
    inner = net.members[0] if isinstance(net, Ensemble) else net
    of = f" (the first of the ensemble's {len(net.members)} networks)" \
        if isinstance(net, Ensemble) else ""

    figures: dict[str, tuple[Any, str, str]] = {}  # file -> (figure, heading, caption)
    if history is not None and (history.batch_loss or history.epoch):
        figures["curves.png"] = (plots.loss_curves(history), "Training curves",
                                 "Loss of every minibatch, and loss and accuracy per epoch on the "
                                 "training and validation images.")
    figures["predictions.png"] = (
        plots.digit_grid(x, y, pred, names), "Predictions",
        "The first 25 images with the network's answer" + (
            "; wrong ones in red with the true label in brackets." if labelled else "."))
    first = int(np.flatnonzero(pred != y)[0]) if labelled and np.any(pred != y) else 0
    figures["digit.png"] = (
        plots.digit_probabilities(x[first], P[first], y[first] if labelled else None, names),
        "One digit and its probabilities",
        ("The first mistake: " if labelled and pred[first] != y[first] else "The first image: ")
        + "the probability the network gives each class.")
    if labelled:
        figures["confusion.png"] = (plots.confusion_matrix(y, pred, names), "Confusion matrix",
                                    "Row: the true class; column: the predicted class.")
        figures["per_class.png"] = (plots.per_class_accuracy(y, pred, names),
                                    "Accuracy per class", "The share of each class's images "
                                    "predicted right; dashed: overall.")
        figures["reliability.png"] = (
            plots.reliability_diagram(y, P), "Confidence and accuracy",
            "Images grouped by how sure the network is of its answer (equal-width bins of the "
            "top probability): a bar is how many of them it got right, a dot how sure it was; on "
            "the diagonal, its confidence means what it says. ECE = sum over bins of "
            "(images in the bin / all images) x |accuracy - confidence|. "
            + _calibration_text(net))
        figures["mistakes.png"] = (plots.confident_mistakes(x, y, P, names),
                                   "Most confident mistakes",
                                   "Wrong answers the network was surest of: often digits a "
                                   "person would also hesitate over, or wrong labels.")
    figures["weights.png"] = (plots.first_layer_weights(inner), "First-layer weights",
                              "What the first layer looks for: red pixels raise a unit's output, "
                              f"blue ones lower it{of}.")
    figures["activations.png"] = (plots.activation_histograms(inner, x),
                                  "Activations per layer",
                                  "What each hidden layer outputs on these images; a layer "
                                  f"squeezed to 0 passes no signal on{of}.")

    try:
        out.mkdir(parents=True, exist_ok=True)
        pngs: dict[str, bytes] = {}
        for name, (fig, _, _) in figures.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            pngs[name] = buf.getvalue()
            (out / name).write_bytes(pngs[name])
        doctor = diagnose(inner, x, y, steps=0) if labelled else None
        page = _page(net, x, y, pred, P, names, history, result, meta, figures, pngs, doctor,
                     data_name, title)
        path = out / "report.html"
        path.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write the report into {out}: {e.strerror or e}") from None
    return path


# --- HTML ----------------------------------------------------------------------------------------
CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1f2328; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d0d7de; margin-top: 2em; }
.sub { color: #656d76; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; margin: 1em 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; font-variant-numeric: tabular-nums; }
td, th { border: 1px solid #d0d7de; padding: 0.2em 0.6em; text-align: right; }
td:first-child, th:first-child, td.l { text-align: left; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; }
figcaption { color: #656d76; }
.finding { border-left: 4px solid #cf222e; padding: 0.2em 0.8em; margin: 0.6em 0;
           background: #fff8f8; }
.ok { border-left: 4px solid #1a7f37; padding: 0.2em 0.8em; background: #f6fff8; }
code { font-size: 0.9em; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _num(v: Any, fmt: str = ".4f") -> str:
    return format(v, fmt) if isinstance(v, int | float) else "" if v is None else str(v)


def _page(net: Network | Ensemble, x: np.ndarray, y: np.ndarray | None, pred: np.ndarray,
          P: np.ndarray,
          names: list[str], history: History | None, result: dict[str, Any],
          meta: dict[str, Any], figures: dict[str, tuple[Any, str, str]],
          pngs: dict[str, bytes], doctor: Any, data_name: str, title: str | None) -> str:
    spec = meta.get("spec") or (meta.get("training") or {}).get("model") or ""
    title = title or f"digitnet report: {spec or type(net).__name__}"
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><p class='sub'>made {now} by digitnet {__version__}"
             + (f" &middot; images: {_e(data_name)}" if data_name else "") + "</p>"]

    cards = [("parameters", f"{net.n_params:,}"), ("images", f"{len(x):,}")]
    if y is not None:
        acc = float(np.mean(pred == y))
        cards[:0] = [("accuracy", f"{acc:.4f}"), ("errors", f"{int(np.sum(pred != y)):,}")]
        loss = float(net.evaluate(x, y)[0])
        cards.insert(2, ("loss", f"{loss:.4f}"))
        cards.insert(3, ("calibration error (ECE)", f"{reliability(P, y)['ece']:.2%}"))
    if applies(net):  # how many of these images the judge would call "not a digit"
        cards.append(("not a digit", f"{int(np.sum(~judge(net, x)[0])):,}"))
    if history is not None and history.seconds:
        cards.append(("training time", f"{history.total_seconds:.1f} s"))
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'>{_e(k)}<b>{_e(v)}</b></div>" for k, v in cards) + "</div>")
    if y is None:
        parts.append("<p>These images have no labels: the report shows the predictions only.</p>")

    parts.append("<h2>Model</h2>")
    inner = net.members[0] if isinstance(net, Ensemble) else net
    rows = [[i, repr(layer), f"{sum(p.size for p in layer.params.values()):,}"]
            for i, layer in enumerate(inner.layers)]
    rows.append(["", f"total ({net.dtype.name}), loss {net.loss.name}", f"{inner.n_params:,}"])
    if isinstance(net, Ensemble):
        views = f", each image seen {net.tta} times (shifted 1 pixel)" if net.tta > 1 else ""
        rows.append(["", f"x {len(net.members)} networks averaged{views}", f"{net.n_params:,}"])
    parts.append(_table(["#", "layer", "parameters"], rows))

    parts.append("<h2>Training</h2>")
    training = meta.get("training") or {}
    shown = [[k, training[k]] for k in TRAINING_KEYS if training.get(k) is not None]
    if result.get("dataset") or meta.get("dataset"):
        shown.insert(0, ["dataset", result.get("dataset") or meta.get("dataset")])
    if history is not None:
        shown.append(["stopped", history.stop_reason
                      + (f" (best epoch {history.best_epoch})" if history.best_epoch else "")])
    if "test_accuracy" in result:
        shown.append(["test accuracy after training", _num(result["test_accuracy"])])
    shown.append(["confidence", _calibration_text(net)])
    if shown:
        parts.append(_table(["option", "value"], shown))
    if history is None or not history.epoch:
        parts.append("<p>No training history was saved with this model.</p>")
    else:
        parts.append(_figure("curves.png", figures, pngs))
        rows = [[e, _num(history.loss[i]), _num(history.accuracy[i]),
                 _num(history.val_loss[i] if i < len(history.val_loss) else None),
                 _num(history.val_accuracy[i] if i < len(history.val_accuracy) else None),
                 _num(history.lr[i], ".3g") if i < len(history.lr) else "",
                 _num(history.seconds[i], ".1f") if i < len(history.seconds) else ""]
                for i, e in enumerate(history.epoch)]
        parts.append("<details><summary>per epoch</summary>" + _table(
            ["epoch", "loss", "accuracy", "val. loss", "val. accuracy", "lr", "seconds"], rows)
            + "</details>")

    parts.append("<h2>Results</h2>")
    for name in ("predictions.png", "digit.png", "confusion.png", "per_class.png",
                 "reliability.png", "mistakes.png"):
        if name in figures:
            parts.append(_figure(name, figures, pngs))
    parts.append("<h2>Inside the network</h2>")
    for name in ("weights.png", "activations.png"):
        parts.append(_figure(name, figures, pngs))

    if doctor is not None:
        parts.append("<h2>Doctor</h2><p class='sub'>The checks of <code>digitnet doctor</code>, "
                     "on these images, without training.</p>")
        if doctor.ok:
            parts.append("<p class='ok'>No findings: the network looks healthy.</p>")
        for f in doctor.findings:
            parts.append(f"<div class='finding'><b>{_e(f.id)}</b>: {_e(f.message)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _calibration_text(net: Network) -> str:
    """One sentence on the network's temperature (nn/calibration.py)."""
    c = net.meta.get("calibration")
    if not c:
        return "Not calibrated: the probabilities are the softmax of the scores as trained."
    n = f"{c['n']:,} " if isinstance(c.get("n"), int) else ""
    return (f"Calibrated: probabilities are softmax(scores / {c['temperature']:.3f}), the "
            f"temperature fitted on {n}{c.get('fitted_on') or 'held-out'} images.")


def _figure(name: str, figures: dict[str, tuple[Any, str, str]], pngs: dict[str, bytes]) -> str:
    _, heading, caption = figures[name]
    data = base64.b64encode(pngs[name]).decode("ascii")
    return (f"<figure id='{name[:-4]}'><h3>{_e(heading)}</h3>"
            f"<img src='data:image/png;base64,{data}' alt='{_e(heading)}'>"
            f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>")
