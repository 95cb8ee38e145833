"""`digitnet trace`: one training step by hand, every array layer by layer (``Network.trace``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SpecError
from ..onevsrest import labels_for
from ..trace import LAYOUTS
from . import options


def add_parser(sub: Any) -> None:
    tr = sub.add_parser("trace", help="one training step by hand: Z, A, dZ, dW, db per layer, "
                        "the loss and the update",
                        description="Run one training step on one minibatch of the training "
                                    "images and show, layer by layer, every array (Z, A, dZ, dA, "
                                    "dW, db) with its shape and a few numbers, the loss and the "
                                    "update the optimizer applies. Nothing is saved or changed.")
    options.add_data(tr)
    options.add_model(tr)
    ts = tr.add_argument_group("step")
    ts.add_argument("--batch", type=options.count(1), default=128, metavar="N",
                    help="images in the minibatch: the first N of the training split (default "
                         "128)")
    options.add_optimizer(ts, default="sgd",
                          optimizer_help="the update shown (default sgd: W -= lr * dW)",
                          lr_help=f"learning rate (default: {options.DEFAULT_LRS})")
    tr.add_argument("--layout", default="rows", choices=list(LAYOUTS),
                    help="rows: digitnet's arrays, one image per row (default); columns: the "
                         "notebooks' view, one image per column (Z1 = W1 @ X + b1)")
    options.add_json(tr, "shapes and summary numbers per array")
    tr.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    net, _ = options.model_or_spec(args)
    ds = options.load_data(args, val_size=0)
    x, y = ds.x_train[:args.batch], labels_for(net, ds.y_train)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its training images: trace needs labelled "
                        "images (use --dataset or a labelled --data)")
    t = net.trace(x, y[:args.batch], lr=args.lr, optimizer=args.optimizer, layout=args.layout)
    print(f"trace: {args.model} ({net.n_params:,} parameters), one minibatch of {len(x)} "
          f"{ds.name} training images")
    print(t)
    if args.json:
        options.emit_json(t.as_dict())
    return 0
