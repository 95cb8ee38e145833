"""`digitnet evaluate`: a saved model's accuracy on a dataset's test split, overall and per
class, and how well its confidence matches its accuracy (ECE and the reliability bins, see
``metrics.reliability``)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from ..errors import DataError, SpecError
from ..metrics import per_class_accuracy, reliability
from ..modelfile import load_model
from ..nn.ensemble import TTA_SHIFTS, Ensemble, with_views
from . import options


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="accuracy of a saved model on a dataset's test split")
    options.add_model_file(e)
    options.add_data(e)
    e.add_argument("--tta", type=int, choices=list(TTA_SHIFTS), default=None, metavar="V",
                   help="evaluate with V views of each image (1, 5 or 9: the image and its "
                   "1-pixel shifts) instead of the model's own setting")
    options.add_json(e)
    e.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    if args.tta is not None:
        net = with_views(net, args.tta)
    ds, y = options.test_data(args, net)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its test images: nothing to evaluate "
                        "against (use `digitnet predict` to label them)")
    if not len(y):
        raise DataError(f"{ds.name} has no test images to evaluate on (--test-size 0?): give "
                        "at least one")
    t0 = time.perf_counter()
    if isinstance(net, Ensemble):  # the mean of its members' calibrated probabilities
        P = net.predict_proba(ds.x_test)
        raw = net.predict_proba(ds.x_test, calibrated=False)
        loss = float(-np.mean(np.log(np.maximum(P[np.arange(len(y)), y], 1e-12))))
        temperature: float | list[float] = [m.temperature for m in net.members]
        calibrated = any(t != 1 for t in temperature)
    else:
        Z = net.logits(ds.x_test)
        P, raw = net.probabilities(Z), net.probabilities(Z, temperature=1.0)
        loss = net.loss.value(Z / net.temperature, y)  # as net.evaluate: of the probabilities
        temperature = net.temperature
        calibrated = temperature != 1
    pred = P.argmax(axis=1)
    acc = float(np.mean(pred == y))
    per_class = {name: None if np.isnan(a) else float(a) for name, a in
                 zip(net.class_names, per_class_accuracy(y, pred, net.n_classes), strict=True)}
    rel = reliability(P, y)
    raw_ece = reliability(raw, y)["ece"]
    result = {"accuracy": acc, "loss": loss, "n_test": len(y), "errors": int(np.sum(pred != y)),
              "per_class_accuracy": per_class, "ece": rel["ece"], "temperature": temperature,
              "ece_uncalibrated": raw_ece, "reliability_bins": rel["bins"],
              "seconds": round(time.perf_counter() - t0, 3)}
    print(f"accuracy {acc:.4f} ({len(y) - result['errors']:,}/{len(y):,}) loss {loss:.4f}")
    print("per class: " + "  ".join(f"{k}:{v:.3f}" for k, v in per_class.items()
                                     if v is not None))
    temps = ", ".join(f"{t:.3g}" for t in np.atleast_1d(temperature))
    plural = "s" if isinstance(temperature, list) else ""
    print(f"calibration: ECE {rel['ece']:.2%} ({rel['n_bins']} bins), temperature{plural} "
          f"{temps}" + (f" (ECE {raw_ece:.2%} without)" if calibrated else " (not calibrated)"))
    if args.json:
        options.emit_json(result)
    return 0
