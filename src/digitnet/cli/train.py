"""`digitnet train`: build a network, train it, report its test accuracy, save it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from ..augment import ELASTIC_MAX
from ..data.kaggle import csv_digest
from ..errors import SpecError, TrainingError
from ..limits import MAX_ENSEMBLE
from ..metrics import reliability
from ..modelfile import check_save_target, load_model, save_model
from ..nn.calibration import MIN_CALIBRATION_IMAGES
from ..nn.ensemble import TTA_SHIFTS, Ensemble
from ..nn.network import Network
from ..nn.specs import PRESETS, build_network
from ..onevsrest import one_vs_rest, one_vs_rest_spec
from ..optim import SCHEDULES
from ..recipes import PRESET_TRAINING, RECIPE_KEYS, training_options
from ..report import check_report_folder
from ..train import History, train
from ..version import __version__
from . import options
from .options import UsageError

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
    m.add_argument("--ensemble", type=options.count(1, MAX_ENSEMBLE), default=1, metavar="N",
                   help="train N networks (seeds SEED, SEED+1, ...) and save them as one model "
                   "that averages their probabilities (N times the training time; default 1)")
    m.add_argument("--tta", type=int, choices=list(TTA_SHIFTS), default=1, metavar="V",
                   help="test-time augmentation saved with the model: average each answer over "
                   "V views of the image (1: the image only; 5: also shifted 1 pixel up, "
                   "down, left, right; 9: and diagonally), V times the prediction time")
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
    o.add_argument("--elastic", type=options.number(0, ELASTIC_MAX), default=None,
                   metavar="PIXELS",
                   help="augment, and also bend each training image by a smooth random warp "
                   "that moves its points up to PIXELS pixels, at most 8 (default: the "
                   "recipe's, else 0: none; 2 suits MNIST)")
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
    r = t.add_argument_group("continuing", "--resume goes on with the saved run's data and "
                             "options (only --epochs, --threads, --out, --report, --json and "
                             "-q may be given); --init-from starts a new run from a model's "
                             "weights.")
    r.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in FILE (by --resumable) exactly where it "
                   "stopped; --epochs N is the run's new total (a finished run goes on with "
                   "the schedule of N epochs: the rate rises again, then decays); saves back "
                   "to FILE unless --out is given")
    r.add_argument("--init-from", metavar="FILE",
                   help="fine-tune: start from the weights (and architecture) of the model in "
                   "FILE, with a new optimizer and schedule, on the data given; its classes "
                   "must be the data's")
    out = t.add_argument_group("output", "Both are checked before training starts. A run that "
                               "never completes an epoch (it diverges or is interrupted in the "
                               "first one) writes neither: an existing FILE stays as it was.")
    out.add_argument("--out", metavar="FILE", help="save the trained model to FILE (.npz)")
    out.add_argument("--resumable", action="store_true",
                     help="also save where training stands (optimizer state, schedule "
                     "position, random generators; the file grows 2-3x), after every epoch: "
                     "`digitnet train --resume FILE` continues the run")
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
    if args.elastic and args.augment is False:
        raise UsageError("--elastic bends the augmented images: leave out --no-augment")
    fill_recipe(args)  # (an --elastic given turns augmentation on)
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


#: options --resume takes from the saved run (giving one is an error), with their defaults
RESUME_KEEPS = {"model": "mlp", "activation": "relu", "init": None, "dropout": None,
                "binary": None, "float64": False, "ensemble": 1, "tta": 1, "init_from": None,
                "optimizer": None, "lr": None, "batch_size": None, "weight_decay": None,
                "schedule": None, "warmup": None, "augment": None, "elastic": None,
                "patience": None, "label_smoothing": None, "betas": None, "momentum": None,
                "resumable": False}


def resume_args(args: argparse.Namespace) -> Network:
    """--resume: the saved network (with its training state), and ``args`` filled with the
    saved run's data and options (those given on the command line must be the ones allowed)."""
    given = [k for k, default in RESUME_KEEPS.items() if getattr(args, k) != default]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"--resume goes on with the saved run's options: leave out {flag} "
                         f"(only --epochs, --threads, --out, --report, --json and -q may be "
                         f"given with it)")
    net = load_model(args.resume)
    if isinstance(net, Ensemble) or getattr(net, "train_state", None) is None:
        raise UsageError(f"{args.resume} keeps no training state to resume: it was saved "
                         f"without --resumable (train again with --resumable --out FILE, or "
                         f"fine-tune it with --init-from {args.resume})")
    saved = net.meta.get("training") or {}
    for key in RESUME_KEEPS:
        if key in saved:
            setattr(args, key, saved[key])
    for key in ("dataset", "data", "train_size", "test_size", "val_size", "seed"):
        if getattr(args, key, None) is None and saved.get(key) is not None:
            setattr(args, key, saved[key])
    args.resumable, args.ensemble, args.tta = True, 1, 1
    args.out = args.out or args.resume
    state = net.train_state  # type: ignore[attr-defined]
    args.epochs = args.epochs or state.options["epochs"]
    if args.epochs <= state.epochs_done and state.position is None:
        raise UsageError(f"{args.resume}: the saved run has done {state.epochs_done} epochs: to "
                         f"go on, give a larger total (e.g. --epochs {state.epochs_done + 5})")
    return net


def cmd_train(args: argparse.Namespace) -> int:
    resumed = resume_args(args) if args.resume else None
    if args.resumable and args.ensemble > 1:
        raise UsageError("--resumable trains one network: train each member with its own "
                         "--seed and --resumable, then join them with `digitnet ensemble`")
    if args.resumable and not args.out:
        raise UsageError("--resumable saves the run's state with the model: give --out FILE")
    if args.init_from and args.ensemble > 1:
        raise UsageError("--init-from starts one network from a model's weights: leave out "
                         "--ensemble")
    start = load_model(args.init_from) if args.init_from else None
    if isinstance(start, Ensemble):
        raise UsageError(f"{args.init_from} holds an ensemble of {len(start.members)} "
                         f"networks: --init-from starts from one network")
    if start is not None and args.model == "mlp" and start.meta.get("spec"):
        args.model = start.meta["spec"]  # its recipe, unless options say otherwise
    if resumed is None:
        check_options(args)
    check_outputs(args)
    ds = options.load_data(args, val_size=0.1)
    if isinstance(args.data, str) and args.data.lower().endswith(".csv"):
        # saved with the model: evaluate knows the file again under any path (check_held_out)
        args.data_sha256 = csv_digest(args.data)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    spec = args.model
    if args.binary is not None:
        ds, spec = one_vs_rest(ds, args.binary), one_vs_rest_spec(spec)
    if start is not None:
        check_classes(start, ds, args.init_from)
    nets: list[Network] = []
    hists: list[History] = []
    members: list[dict[str, Any]] = []
    error: TrainingError | None = None
    for k in range(args.ensemble):
        seed = (args.seed + k) % 2**32
        net = resumed or start or build_network(
            spec, activation=args.activation, init=args.init, dropout=args.dropout, seed=seed,
            dtype=np.float64 if args.float64 else np.float32)
        if k == 0 and resumed is None:
            check_shapes(net, ds)
            say(f"data: {ds.source or ds.name}: {len(ds.x_train):,} train, "
                f"{len(ds.x_val):,} validation, {len(ds.x_test):,} test images")
        if k == 0:
            say(f"model: {args.model} ({net.n_params:,} parameters), {args.optimizer} "
                f"lr {args.lr:g} {args.schedule}"
                + (f" (warmup {args.warmup:g})" if args.warmup else "")
                + f", {args.epochs} epochs, batch {args.batch_size}"
                + (", augmented" if args.augment else "")
                + (f" (elastic {args.elastic:g} px)" if args.augment and args.elastic else ""))
        if args.ensemble > 1:
            say(f"member {k + 1} of {args.ensemble} (seed {seed})")
        if resumed is not None:
            state = resumed.train_state  # type: ignore[attr-defined]
            say(f"resuming {args.resume}: {state.epochs_done} of {state.options['epochs']} "
                f"epochs done, going on to {args.epochs}")
        checkpoint = (lambda n: save_run(n, args, ds, n.train_state.history)) \
            if args.resumable else None
        t0 = time.perf_counter()
        try:
            if resumed is not None:
                hist = train(net, ds, epochs=args.epochs, resume=True, threads=args.threads,
                             progress=not args.quiet, on_epoch=checkpoint)
            else:
                hist = train(net, ds, epochs=args.epochs, batch_size=args.batch_size,
                             optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                             warmup=args.warmup, weight_decay=args.weight_decay,
                             betas=args.betas, momentum=args.momentum,
                             label_smoothing=args.label_smoothing, patience=args.patience,
                             seed=seed, threads=args.threads,
                             augment=bool(args.augment), elastic=args.elastic,
                             progress=not args.quiet, on_epoch=checkpoint)
        except TrainingError as e:
            error, hist = e, getattr(e, "history", History())
        seconds = time.perf_counter() - t0
        if hist.complete_epochs == 0:
            if not nets:
                return nothing_trained(args, error)
            say(f"member {k + 1} did not complete an epoch: keeping the {len(nets)} before it")
            break
        nets.append(net)
        hists.append(hist)
        member: dict[str, Any] = {"seed": seed, "epochs_run": len(hist.epoch),
                                  "stop_reason": hist.stop_reason, "seconds": round(seconds, 2)}
        if args.ensemble > 1 and ds.y_test is not None and len(ds.x_test):
            member["test_accuracy"] = net.evaluate(ds.x_test, ds.y_test)[1]
            say(f"member {k + 1}: test accuracy {member['test_accuracy']:.4f}")
        members.append(member)
        if error is not None or hist.stop_reason == "interrupted":
            break
    model: Network | Ensemble = nets[0] if len(nets) == 1 and args.tta == 1 \
        else Ensemble(nets, tta=args.tta)
    hist = hists[0]
    seconds = sum(m["seconds"] for m in members)
    result: dict[str, Any] = {"model": args.model, "dataset": ds.name, "n_train": len(ds.x_train),
                              "epochs_run": len(hist.epoch), "stop_reason": hist.stop_reason,
                              "seconds": round(seconds, 2)}
    if isinstance(model, Ensemble):
        result.update(ensemble=len(nets), tta=args.tta, members=members)
    calibrations = [n.meta.get("calibration") for n in nets]
    if all(calibrations):
        result["calibration"] = calibrations[0] if len(nets) == 1 else calibrations
    else:
        say(f"probabilities not calibrated: {len(ds.x_val):,} validation images, at least "
            f"{MIN_CALIBRATION_IMAGES} needed (--val-size)")
    if ds.y_test is not None and len(ds.x_test):
        t0 = time.perf_counter()
        test_loss, test_acc = model.evaluate(ds.x_test, ds.y_test)
        test_ece = reliability(model.predict_proba(ds.x_test), ds.y_test)["ece"]
        result.update(test_accuracy=test_acc, test_loss=test_loss, test_ece=test_ece,
                      n_test=len(ds.x_test), test_seconds=round(time.perf_counter() - t0, 2))
        what = (f"ensemble of {len(nets)}" if len(nets) > 1 else "") \
            + (f"{', ' if len(nets) > 1 else ''}{args.tta} views" if args.tta > 1 else "")
        say(f"test accuracy {test_acc:.4f} on {len(ds.x_test):,} images"
            + (f" ({what})" if what else "")
            + f" (loss {test_loss:.4f}, ECE {test_ece:.2%}); trained in {seconds:.1f}s, "
            f"{hist.stop_reason}")
    if args.out:
        save_run(model, args, ds, hist.as_dict(), result)
        result["out"] = str(args.out)
        say(f"model saved to {args.out}")
    elif not args.quiet:
        say("(not saved: add --out model.npz to keep the model)")
    if args.report:
        from ..report import write_report

        path = write_report(model, ds.x_test, ds.y_test, args.report,
                            class_names=ds.class_names, history=hist, result=result,
                            data_name=f"{ds.name} test split")
        result["report"] = str(path)
        say(f"report written to {path}")
    if error is not None:
        raise TrainingError(f"{error}" + (f" They were saved to {args.out}." if args.out else ""))
    if args.json:
        options.emit_json(result)
    return 0


def save_run(model: Network | Ensemble, args: argparse.Namespace, ds: Any,
             history: dict[str, Any], result: dict[str, Any] | None = None) -> None:
    """Save the model to --out with what the run was (and, --resumable, where it stands: also
    called after every epoch, as a checkpoint, with no result yet)."""
    metadata = {
        "spec": args.model, "dataset": ds.name, "binary_target": args.binary,
        "training": {k: v for k, v in vars(args).items()
                     if k not in ("func", "default_dataset", "resume", "out", "force",
                                  "report", "json", "quiet")},
        "history": history, "result": result or {}, "digitnet_version": __version__,
    }
    save_model(model, args.out, force=args.force, class_names=ds.class_names,
               metadata=metadata, resumable=args.resumable and isinstance(model, Network))


def check_classes(start: Network, ds: Any, path: str) -> None:
    """UsageError unless the model --init-from names tells the data's classes apart."""
    if start.n_classes != len(ds.class_names):
        raise UsageError(f"{path} tells {start.n_classes} classes apart, the data has "
                         f"{len(ds.class_names)}: fine-tuning keeps its output layer, so the "
                         f"classes must be the same (train a new network with --model "
                         f"instead)")
    if start.class_names != list(ds.class_names):
        raise UsageError(f"{path} names its classes {start.class_names}, the data "
                         f"{list(ds.class_names)}: fine-tuning keeps its output layer, so the "
                         f"classes must be the same")
    if start.n_inputs != ds.x_train.shape[1]:
        raise UsageError(f"{path} takes {start.n_inputs} values per image, the data's images "
                         f"have {ds.x_train.shape[1]}")


def check_shapes(net: Network, ds: Any) -> None:
    """SpecError unless the network takes the data's images and tells its classes apart."""
    n_pixels, n_classes = ds.x_train.shape[1], len(ds.class_names)
    if net.n_inputs != n_pixels:
        raise SpecError(f"the network takes {net.n_inputs} inputs but the images have "
                        f"{n_pixels} pixels: start the spec with {n_pixels}")
    if net.n_classes != n_classes:
        raise SpecError(f"the network has {net.n_outputs} outputs but the data has "
                        f"{n_classes} classes: end the spec with {n_classes}")
