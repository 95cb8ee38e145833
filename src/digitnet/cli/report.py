"""`digitnet report`: an HTML report of a saved model on a dataset's test images."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..modelfile import load_model
from . import options


def add_parser(sub: Any) -> None:
    rp = sub.add_parser("report", help="an HTML report of a saved model: curves, predictions, "
                        "confusion matrix, mistakes, weights",
                        description="Write OUT/report.html (one self-contained file, images "
                                    "embedded) and the figures as PNG files, on the test images "
                                    "of --dataset/--data.")
    options.add_model_file(rp)
    options.add_data(rp)
    rp.add_argument("--out", metavar="DIR", default="report",
                    help="folder for report.html and the PNGs (default: report)")
    options.add_json(rp)
    rp.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import check_report_folder, write_report  # matplotlib: imported when used

    check_report_folder(args.out)
    net = load_model(args.model)
    ds, y = options.test_data(args, net)
    path = write_report(net, ds.x_test, y, args.out, data_name=f"{ds.name} test split")
    print(f"report written to {path}")
    if args.json:
        accuracy = None if y is None else float(np.mean(net.predict(ds.x_test) == y))
        options.emit_json({"report": str(path), "n": len(ds.x_test), "accuracy": accuracy})
    return 0
