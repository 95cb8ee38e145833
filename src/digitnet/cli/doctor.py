"""`digitnet doctor`: why a network does not learn, in plain words. Trains a copy briefly (or
inspects a model file) and applies the doctor's rules; with --code, checks a learner's own NumPy
network in a .py or .ipynb file."""

from __future__ import annotations

import argparse
from typing import Any

from ..doctor.findings import FINDINGS
from ..errors import SpecError
from ..onevsrest import labels_for
from ..recipes import training_options
from . import options

STEPS = 300  # minibatch steps of the brief training, unless --steps


def add_parser(sub: Any) -> None:
    d = sub.add_parser("doctor", help="why is my network not learning? diagnoses in plain words",
                       description="Train a network briefly (or inspect a model file), measure "
                                   "activations and gradients layer by layer, and explain what "
                                   "is wrong, with the numbers and a fix to try. With --code: "
                                   "the same for your own NumPy network in a .py or .ipynb "
                                   "file, after comparing its forward pass, gradients and cost "
                                   "with the formulas. Finding ids: " + ", ".join(FINDINGS)
                                   + ". Exit status 1 when it finds something.")
    dc = d.add_argument_group("your own code")
    dc.add_argument("--code", metavar="FILE",
                    help="a .py or .ipynb file with your network in NumPy (init_params, "
                         "forward_prop, backward_prop, update_params, ... in the notebooks' "
                         "layout); only its imports, functions and constants are run")
    dc.add_argument("--bind", action="append", metavar="ROLE=NAME",
                    help="which of your functions plays a role the doctor cannot tell by its "
                         "name: init, forward, backward, update or cost (repeatable)")
    dc.add_argument("--pixels", default="auto", choices=["auto", "01", "255"],
                    help="the pixels your code expects: auto (divided by 255 if your code does "
                         "so anywhere), 01 or 255")
    options.add_data(d)
    options.add_model(d, options.SPEC_HELP + " to inspect without training", dropout=True)
    b = d.add_argument_group("brief training", "A copy of the network is trained at a constant "
                             "learning rate; unset options follow the model's recipe, as for "
                             "train.")
    b.add_argument("--steps", type=options.count(0), default=None, metavar="N",
                   help=f"minibatch steps (default {STEPS}; 0 for a model file: inspect only)")
    options.add_training(b)
    options.add_json(d, '{"findings": [{"id", "message", "evidence"}]}')
    d.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import diagnose

    if args.code:
        return _doctor_code(args)
    if args.bind:
        raise SpecError("--bind names the functions of your own code: use it with --code FILE")
    net, loaded = options.model_or_spec(args)
    spec = (net.meta.get("spec") or args.model) if loaded else args.model  # its recipe
    opts = training_options(spec, optimizer=args.optimizer, lr=args.lr,
                            batch_size=args.batch_size, weight_decay=args.weight_decay)
    steps = args.steps if args.steps is not None else 0 if loaded else STEPS
    if loaded and steps == 0:
        ds, y = options.test_data(args, net)
        x, x_val, y_val = ds.x_test, None, None
        what = f"inspecting {args.model} on {len(x):,} {ds.name} test images"
    else:
        ds = options.load_data(args, val_size=0.1)
        x, y = ds.x_train, labels_for(net, ds.y_train)
        x_val, y_val = (ds.x_val, labels_for(net, ds.y_val)) if len(ds.x_val) else (None, None)
        what = (f"training {args.model} ({net.n_params:,} parameters) for {steps} steps "
                f"on {ds.name}")
    if y is None:
        raise SpecError(f"{ds.name} has no labels for these images: the doctor needs labelled "
                        "images (use --dataset or a labelled --data)")
    d = diagnose(net, x, y, x_val=x_val, y_val=y_val, steps=steps,
                 batch_size=opts["batch_size"], optimizer=opts["optimizer"], lr=opts["lr"],
                 weight_decay=opts["weight_decay"], seed=args.seed)
    if args.json:
        options.emit_json(d.as_dict())
    else:
        print(f"doctor: {what}")
        print(d)
    return 0 if d.ok else 1


def _binds(pairs: list[str] | None) -> dict[str, str]:
    """--bind forward=my_forward --bind backward=my_backprop -> {"forward": "my_forward", ...}"""
    from ..doctor.code.binding import ROLE_NAMES

    out = {}
    for pair in pairs or []:
        role, _, name = pair.partition("=")
        if role not in ROLE_NAMES or not name.isidentifier():
            raise SpecError(f"--bind {pair}: write ROLE=FUNCTION with ROLE one of "
                            f"{', '.join(ROLE_NAMES)}, e.g. --bind forward=my_forward")
        out[role] = name
    return out


def _doctor_code(args: argparse.Namespace) -> int:
    from ..doctor import check_code

    steps = STEPS if args.steps is None else args.steps
    d = check_code(args.code, steps=steps, batch_size=args.batch_size or 64, lr=args.lr,
                   pixels=args.pixels, seed=args.seed, **_binds(args.bind))
    if args.json:
        options.emit_json(d.as_dict())
    else:
        print(d)
    return 0 if d.ok else 1
