"""`digitnet train`: build a network, train it, report its test accuracy, save it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from ..errors import SpecError, TrainingError
from ..metrics import reliability
from ..modelfile import check_save_target, save_model
from ..nn.calibration import MIN_CALIBRATION_IMAGES
from ..nn.specs import PRESETS, build_network
from ..onevsrest import one_vs_rest, one_vs_rest_spec
from ..optim import SCHEDULES
from ..recipes import PRESET_TRAINING, RECIPE_KEYS, training_options
from ..report import check_report_folder
from ..train import History, train
from ..version import __version__
from . import options

MODEL_HELP = (f"a preset ({', '.join(PRESETS)}; default mlp = {PRESETS['mlp'][0]} with dropout "
              f"{PRESETS['mlp'][1]:g}), dense layer sizes like 784-512-256-10, or conv tokens "
              "like conv32-pool2-conv64-bn-pool2-128-10 (conv32: 32 3x3 filters, conv16k5v: 5x5 "
              "without padding, bn: batch norm, pool2: 2x2 max pool, drop0.3: dropout, 128: "
              "dense layer)")
RECIPES_HELP = ("Unset options follow the model's recipe: " + "; ".join(
    f"{name}: " + ", ".join(f"{k} {v}" for k, v in recipe.items() if v is not None)
    for name, recipe in PRESET_TRAINING.items())
    + " (custom specs: mlp's if dense, cnn's with convolutions).")


def add_parser(sub: Any) -> None:
    t = sub.add_parser("train", help="train a network and report its test accuracy",
                       description="Train a network. With no options: the default MLP on the "
                                   "sample shipped with digitnet.")
    options.add_data(t)
    m = options.add_model(t, MODEL_HELP, dropout=True)
    m.add_argument("--binary", type=options.count(0), default=None, metavar="CLASS",
                   help="train a one-vs-rest classifier: is it CLASS? (sigmoid output)")
    m.add_argument("--float64", action="store_true", help="compute in float64 (slower)")
    o = t.add_argument_group("training", RECIPES_HELP)
    o.add_argument("--epochs", type=options.count(1), default=None, metavar="N",
                   help="passes over the training images (default: the recipe's)")
    options.add_training(o)
    o.add_argument("--schedule", default=None, choices=list(SCHEDULES),
                   help="learning-rate schedule over the run")
    o.add_argument("--warmup", type=options.number(0), default=None, metavar="EPOCHS",
                   help="ramp the learning rate up linearly over the first EPOCHS epochs")
    o.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random small rotations, scalings and shifts of training images")
    o.add_argument("--patience", type=options.count(1), default=None, metavar="N",
                   help="stop when validation loss has not improved for N epochs")
    o.add_argument("--label-smoothing", type=options.number(0, 1, below=True), default=None,
                   metavar="EPS", help="train on targets (1 - EPS) one-hot + EPS / classes "
                   "(default: the recipe's, else 0)")
    o.add_argument("--betas", type=options.pair(options.number(0, 1, below=True)), default=None,
                   metavar="B1,B2", help="Adam's decay rates (default 0.9,0.999; a low B1 "
                   "such as 0.7 follows the gradient faster)")
    o.add_argument("--momentum", type=options.number(0, 1, below=True), default=None,
                   metavar="MU", help="Momentum's coefficient (default 0.9)")
    options.add_threads(o)
    out = t.add_argument_group("output", "Both are checked before training starts. A run that "
                               "never completes an epoch (it diverges or is interrupted in the "
                               "first one) writes neither: an existing FILE stays as it was.")
    out.add_argument("--out", metavar="FILE", help="save the trained model to FILE (.npz)")
    out.add_argument("--force", action="store_true",
                     help="replace FILE even if it is read-only")
    out.add_argument("--report", metavar="DIR",
                     help="write an HTML report (DIR/report.html + PNG figures) after training")
    options.add_json(out)
    out.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    t.set_defaults(func=cmd_train)


def fill_recipe(args: argparse.Namespace) -> None:
    """Options left unset take the model's recipe (``recipes.training_options``)."""
    given = {k: getattr(args, k) for k in RECIPE_KEYS}
    for key, value in training_options(args.model, **given).items():
        setattr(args, key, value)


def check_options(args: argparse.Namespace) -> None:
    """Fill in the recipe, and fail before loading any data when options cannot work together
    (each value alone was checked by its option's type, see options.count and options.number)."""
    fill_recipe(args)
    if not args.warmup <= args.epochs:
        raise SpecError(f"--warmup must be between 0 and --epochs ({args.epochs}), "
                        f"got {args.warmup:g}")


def check_outputs(args: argparse.Namespace) -> None:
    """Fail before loading any data when --out or --report could not be written."""
    if args.out:
        check_save_target(args.out, force=args.force)
    if args.out and args.report and os.path.abspath(args.out) == os.path.abspath(args.report):
        raise SpecError(f"--out and --report both name {args.out}: the model is a file, the "
                        "report a folder; give them different names")
    if args.report:
        from .. import plots  # noqa: F401  (the report needs matplotlib: say so before training)

        check_report_folder(args.report)


def nothing_trained(args: argparse.Namespace, error: TrainingError | None) -> int:
    """A run that never completed an epoch writes nothing, so that the file --out names keeps
    what it held: an error (diverged, exit 1) or, interrupted, exit 130."""
    kept = []
    if args.out:
        kept.append(f"{args.out} is as it was" if os.path.exists(args.out)
                    else f"{args.out} was not written")
    if args.report:
        kept.append(f"no report was written to {args.report}")
    nothing = "nothing was saved" + (f": {', '.join(kept)}" if kept else "")
    if error is not None:
        raise TrainingError(f"{error} N{nothing[1:]}.")
    print(f"digitnet: interrupted before the first epoch completed: {nothing}", file=sys.stderr)
    return 130


def cmd_train(args: argparse.Namespace) -> int:
    check_options(args)
    check_outputs(args)
    ds = options.load_data(args, val_size=0.1)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    spec = args.model
    if args.binary is not None:
        ds, spec = one_vs_rest(ds, args.binary), one_vs_rest_spec(spec)
    net = build_network(spec, activation=args.activation, init=args.init, dropout=args.dropout,
                        seed=args.seed, dtype=np.float64 if args.float64 else np.float32)
    n_pixels, n_classes = ds.x_train.shape[1], len(ds.class_names)
    if net.n_inputs != n_pixels:
        raise SpecError(f"the network takes {net.n_inputs} inputs but the images have "
                        f"{n_pixels} pixels: start the spec with {n_pixels}")
    if net.n_classes != n_classes:
        raise SpecError(f"the network has {net.n_outputs} outputs but the data has "
                        f"{n_classes} classes: end the spec with {n_classes}")
    say(f"data: {ds.source or ds.name}: {len(ds.x_train):,} train, {len(ds.x_val):,} validation, "
        f"{len(ds.x_test):,} test images")
    say(f"model: {args.model} ({net.n_params:,} parameters), {args.optimizer} "
        f"lr {args.lr:g} {args.schedule}" + (f" (warmup {args.warmup:g})" if args.warmup else "")
        + f", {args.epochs} epochs, batch {args.batch_size}"
        + (", augmented" if args.augment else ""))
    t0 = time.perf_counter()
    error: TrainingError | None = None
    try:
        hist = train(net, ds, epochs=args.epochs, batch_size=args.batch_size,
                     optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                     warmup=args.warmup, weight_decay=args.weight_decay,
                     betas=args.betas, momentum=args.momentum,
                     label_smoothing=args.label_smoothing, patience=args.patience,
                     seed=args.seed, augment=bool(args.augment), threads=args.threads,
                     progress=not args.quiet)
    except TrainingError as e:
        error, hist = e, getattr(e, "history", History())
    seconds = time.perf_counter() - t0
    if hist.complete_epochs == 0:
        return nothing_trained(args, error)
    result: dict[str, Any] = {"model": args.model, "dataset": ds.name, "n_train": len(ds.x_train),
                              "epochs_run": len(hist.epoch), "stop_reason": hist.stop_reason,
                              "seconds": round(seconds, 2)}
    if "calibration" in net.meta:
        result["calibration"] = net.meta["calibration"]
    else:
        say(f"probabilities not calibrated: {len(ds.x_val):,} validation images, at least "
            f"{MIN_CALIBRATION_IMAGES} needed (--val-size)")
    if ds.y_test is not None and len(ds.x_test):
        test_loss, test_acc = net.evaluate(ds.x_test, ds.y_test)
        test_ece = reliability(net.predict_proba(ds.x_test), ds.y_test)["ece"]
        result.update(test_accuracy=test_acc, test_loss=test_loss, test_ece=test_ece,
                      n_test=len(ds.x_test))
        say(f"test accuracy {test_acc:.4f} on {len(ds.x_test):,} images "
            f"(loss {test_loss:.4f}, ECE {test_ece:.2%}); trained in {seconds:.1f}s, "
            f"{hist.stop_reason}")
    if args.out:
        save_model(net, args.out, force=args.force, class_names=ds.class_names, metadata={
            "spec": args.model, "dataset": ds.name, "binary_target": args.binary,
            "training": {k: v for k, v in vars(args).items()
                         if k not in ("func", "default_dataset")},
            "history": hist.as_dict(), "result": result, "digitnet_version": __version__,
        })
        result["out"] = str(args.out)
        say(f"model saved to {args.out}")
    elif not args.quiet:
        say("(not saved: add --out model.npz to keep the model)")
    if args.report:
        from ..report import write_report

        path = write_report(net, ds.x_test, ds.y_test, args.report, class_names=ds.class_names,
                            history=hist, result=result, data_name=f"{ds.name} test split")
        result["report"] = str(path)
        say(f"report written to {path}")
    if error is not None:
        raise TrainingError(f"{error}" + (f" They were saved to {args.out}." if args.out else ""))
    if args.json:
        options.emit_json(result)
    return 0
