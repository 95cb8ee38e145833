"""`digitnet calibrate`: fit a saved model's temperature on held-out labelled images and save it in
the model file (``train`` already does this at the end when it has a validation split).

By default the images are the model's own validation split, made again from what its file says
it was trained with (the data, the seed, the split sizes), so no image it trained
on is used. ``--split test`` fits on the test split instead: then measure on other images.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SpecError
from ..metrics import reliability
from ..modelfile import check_save_target, load_model, save_model
from ..nn.calibration import MIN_CALIBRATION_IMAGES, calibrate
from ..nn.ensemble import Ensemble
from ..onevsrest import labels_for
from . import options


def add_parser(sub: Any) -> None:
    c = sub.add_parser("calibrate", help="fit a saved model's confidence (temperature) on "
                       "held-out images and save it in the model file",
                       description="Fit a saved model's temperature (the T of softmax(scores "
                       "/ T)) on held-out labelled images and save it in the model file. By "
                       "default the images are the model's own validation split, made again "
                       "from what its file says it was trained with (the data, the seed, the "
                       "split sizes), so no image it learned from is used; --split test fits "
                       "on the test split instead (then measure on other images).")
    options.add_model_file(c)
    options.add_data(c)
    c.add_argument("--seed", type=options.count(0, options.MAX_SEED), default=None,
                   help="the seed of the validation split (default: the one the model was "
                        "trained with)")
    c.add_argument("--split", choices=("val", "test"), default="val",
                   help="fit on the validation split (default) or the test split")
    c.add_argument("--out", metavar="FILE", help="save the calibrated model to FILE "
                   "(default: MODEL itself)")
    c.add_argument("--force", action="store_true", help="replace FILE even if it is read-only")
    options.add_json(c)
    c.set_defaults(func=cmd_calibrate)


def _training_split(args: argparse.Namespace, training: dict[str, Any]) -> None:
    """Options not given take the values the model was trained with (when its file has them
    and they are of the right type), so that the validation split is the one training held
    out."""
    def saved(key: str, kind: type | tuple[type, ...]) -> Any:
        value = training.get(key)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    if not (args.data or args.dataset):
        args.data, args.dataset = saved("data", str), saved("dataset", str)
        if saved("val_size", (int, float)) == 0:
            raise SpecError("this model was trained with --val-size 0: it learned from every "
                            "training image, so it has no validation split to calibrate on; "
                            "use --split test (and measure on other images) or other data")
    if args.seed is None:
        args.seed = saved("seed", int) or 0
    for key in ("train_size", "test_size"):  # a CSV's test rows are not training rows
        if getattr(args, key) is None:
            setattr(args, key, saved(key, int))
    if args.val_size is None:
        args.val_size = saved("val_size", (int, float))
        if args.val_size is None:
            args.val_size = 0.1  # `digitnet train`'s default


def cmd_calibrate(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    if isinstance(net, Ensemble):
        raise SpecError(f"{args.model} holds an ensemble of {len(net.members)} networks, each "
                        f"with its own temperature (`digitnet train --ensemble` fits each one): "
                        f"calibrate the networks before joining them (`digitnet ensemble`)")
    out = args.out or args.model
    check_save_target(out, force=args.force)
    if args.split == "val":
        _training_split(args, net.meta.get("training") or {})
    else:
        options.check_held_out(args, net)
    ds = options.load_data(args, val_size=0)
    x, y = (ds.x_val, ds.y_val) if args.split == "val" else (ds.x_test, ds.y_test)
    y = labels_for(net, y)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its test images: calibrating needs "
                        "labelled images (the validation split, or a labelled test split)")
    if len(y) < MIN_CALIBRATION_IMAGES:
        raise SpecError(f"the {args.split} split of {ds.name} has {len(y):,} images; "
                        f"calibrating needs at least {MIN_CALIBRATION_IMAGES} (--val-size N)")
    record = calibrate(net, x, y, fitted_on="validation" if args.split == "val" else "test")
    before = reliability(net.probabilities(net.logits(x), temperature=1.0), y)["ece"]
    after = reliability(net.predict_proba(x), y)["ece"]
    save_model(net, out, force=args.force)
    print(f"temperature {record['temperature']:.3f} fitted on {record['n']:,} {args.split} "
          f"images of {ds.name}: their loss {record['nll_before']:.4f} -> "
          f"{record['nll_after']:.4f}, ECE {before:.2%} -> {after:.2%}")
    print(f"saved to {out}" + ("" if args.split == "val" else
                               " (fitted on the test split: measure it on other images)"))
    if args.json:
        options.emit_json({**record, "ece_before": before, "ece_after": after,
                           "dataset": ds.name, "out": str(out)})
    return 0

