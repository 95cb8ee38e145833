"""`digitnet info`: a dataset's shapes, pixel range and label counts."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from . import options


def add_parser(sub: Any) -> None:
    i = sub.add_parser("info", help="shapes, pixel range and label counts of a dataset")
    options.add_data(i)
    options.add_json(i)
    i.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    ds = options.load_data(args, val_size=0)
    print(f"dataset: {ds.name}" + (f"  ({ds.source})" if ds.source else ""))
    print(f"classes: {', '.join(ds.class_names)}")
    info: dict[str, Any] = {"dataset": ds.name, "splits": {}}
    for split, x, y in (("train", ds.x_train, ds.y_train), ("val", ds.x_val, ds.y_val),
                        ("test", ds.x_test, ds.y_test)):
        if not len(x):
            continue
        levels = np.bincount(np.rint(x * 255).astype(np.uint8).ravel(), minlength=256)
        d: dict[str, Any] = {"x_shape": list(x.shape), "dtype": x.dtype.name,
                             "min": float(x.min()), "max": float(x.max()),
                             "mean": float(x.mean()), "distinct_values": int(np.sum(levels > 0))}
        line = (f"{split:>5}: x {x.shape} {x.dtype.name}, pixels {d['min']:.3g}..{d['max']:.3g}"
                f" (mean {d['mean']:.3f}, {d['distinct_values']} distinct values)")
        if y is not None:
            counts = np.bincount(y, minlength=len(ds.class_names))
            d["label_counts"] = counts.tolist()
            line += "\n       labels " + " ".join(f"{c}:{n}" for c, n in enumerate(counts))
        else:
            line += "\n       no labels"
        info["splits"][split] = d
        print(line)
    if args.json:
        options.emit_json(info)
    return 0
