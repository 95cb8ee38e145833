"""`digitnet evaluate`: a saved model's accuracy on a dataset's test split, overall and per
class."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from ..errors import DataError, SpecError
from ..metrics import per_class_accuracy
from ..modelfile import load_model
from ..nn.ensemble import TTA_SHIFTS, with_views
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
    pred = net.predict(ds.x_test)
    loss, acc = net.evaluate(ds.x_test, y)
    per_class = {name: None if np.isnan(a) else float(a) for name, a in
                 zip(net.class_names, per_class_accuracy(y, pred, net.n_classes), strict=True)}
    result = {"accuracy": acc, "loss": loss, "n_test": len(y), "errors": int(np.sum(pred != y)),
              "per_class_accuracy": per_class, "seconds": round(time.perf_counter() - t0, 3)}
    print(f"accuracy {acc:.4f} ({len(y) - result['errors']:,}/{len(y):,}) loss {loss:.4f}")
    print("per class: " + "  ".join(f"{k}:{v:.3f}" for k, v in per_class.items()
                                     if v is not None))
    if args.json:
        options.emit_json(result)
    return 0
