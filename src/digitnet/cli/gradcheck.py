"""`digitnet gradcheck`: backward's gradients against finite differences, per parameter array."""

from __future__ import annotations

import argparse
from typing import Any

from . import options


def add_parser(sub: Any) -> None:
    g = sub.add_parser("gradcheck", help="check backward against finite differences, per array",
                       description="Compare the gradients backward computes with central "
                                   "differences (L(w+eps) - L(w-eps)) / 2eps for every parameter "
                                   "array, in float64 on a small random batch. Exit status 1 "
                                   "when an error is above the threshold.")
    options.add_model(g)
    c = g.add_argument_group("check")
    c.add_argument("--batch", type=options.count(1), default=4, metavar="N",
                   help="inputs (default 4)")
    c.add_argument("--max-entries", type=options.count(1), default=200, metavar="N",
                   help="entries checked per array, chosen at random (default 200)")
    c.add_argument("--eps", type=options.number(0, 1, above=True, below=True), default=1e-6,
                   help="finite-difference step, in (0, 1) (default 1e-6)")
    c.add_argument("--threshold", type=options.number(0, above=True), default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    options.add_json(g)
    g.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from ..gradcheck import gradcheck, random_inputs

    net, _ = options.model_or_spec(args)
    X = random_inputs(net, args.batch, args.seed)
    res = gradcheck(net, X, eps=args.eps, max_entries=args.max_entries, seed=args.seed,
                    threshold=args.threshold)
    print(f"gradcheck: {args.model} ({net.n_params:,} parameters), {args.batch} random inputs, "
          f"float64, central differences with eps {args.eps:g}")
    print(res)
    if args.json:
        options.emit_json({
            "ok": res.ok, "max_error": res.max_error, "threshold": res.threshold,
            "rows": [{"name": n, "shape": list(shape), "rel_error": err, "checked": k}
                     for n, shape, err, k in res.rows]})
    return 0 if res.ok else 1
