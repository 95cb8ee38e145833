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
from . import options


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="accuracy of a saved model on a dataset's test split")
    options.add_model_file(e)
    options.add_data(e)
    options.add_json(e)
    e.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    ds, y = options.test_data(args, net)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its test images: nothing to evaluate "
                        "against (use `digitnet predict` to label them)")
    if not len(y):
        raise DataError(f"{ds.name} has no test images to evaluate on (--test-size 0?): give "
                        "at least one")
    t0 = time.perf_counter()
    Z = net.logits(ds.x_test)
    P = net.probabilities(Z)
    pred = P.argmax(axis=1)
    acc = float(np.mean(pred == y))
    loss = net.loss.value(Z / net.temperature, y)  # as net.evaluate: of the probabilities P
    per_class = {name: None if np.isnan(a) else float(a) for name, a in
                 zip(net.class_names, per_class_accuracy(y, pred, net.n_classes), strict=True)}
    rel = reliability(P, y)
    raw_ece = reliability(net.probabilities(Z, temperature=1.0), y)["ece"]
    result = {"accuracy": acc, "loss": loss, "n_test": len(y), "errors": int(np.sum(pred != y)),
              "per_class_accuracy": per_class, "ece": rel["ece"], "temperature": net.temperature,
              "ece_uncalibrated": raw_ece, "reliability_bins": rel["bins"],
              "seconds": round(time.perf_counter() - t0, 3)}
    print(f"accuracy {acc:.4f} ({len(y) - result['errors']:,}/{len(y):,}) loss {loss:.4f}")
    print("per class: " + "  ".join(f"{k}:{v:.3f}" for k, v in per_class.items()
                                     if v is not None))
    print(f"calibration: ECE {rel['ece']:.2%} ({rel['n_bins']} bins), temperature "
          f"{net.temperature:.3g}" + (f" (ECE {raw_ece:.2%} without)"
                                      if net.temperature != 1 else " (not calibrated)"))
    if args.json:
        options.emit_json(result)
    return 0
