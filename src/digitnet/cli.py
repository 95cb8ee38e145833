"""`digitnet` on the command line: train, evaluate, predict, info. Each subcommand is thin and
calls the Python API; errors a user can cause print one line and exit with status 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import __version__
from .data import DATASET_NAMES, Dataset, load_dataset, write_submission
from .errors import DigitnetError, SpecError, TrainingError
from .metrics import per_class_accuracy
from .modelfile import load_model, save_model
from .nn.activations import ACTIVATIONS
from .nn.init import INITIALIZERS
from .nn.probe import LAYOUTS
from .nn.specs import PRESETS, build_network
from .onevsrest import labels_for, one_vs_rest, one_vs_rest_spec
from .optim import DEFAULT_LR, OPTIMIZERS, SCHEDULES
from .recipes import PRESET_TRAINING, RECIPE_KEYS, training_options
from .train import History, train


# --- shared options ---------------------------------------------------------------------------
def _add_data_options(p: argparse.ArgumentParser, default: str | None = "sample") -> None:
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dataset", metavar="NAME", default=None,
                     help=f"a named dataset: {', '.join(DATASET_NAMES)} (default: {default})")
    src.add_argument("--data", metavar="PATH", default=None,
                     help="a folder with the four MNIST-style IDX files, or a Kaggle CSV file")
    g.add_argument("--train-size", type=int, metavar="N", help="learn on the first N images")
    g.add_argument("--test-size", type=int, metavar="N", help="test on the first N images")
    g.add_argument("--val-size", type=float, default=None, metavar="N",
                   help="validation images carved from training: a count, or a fraction < 1 "
                        "(default 0.1 for training, 0 otherwise)")
    p.set_defaults(default_dataset=default)


def _load(args: argparse.Namespace, val_size: float) -> Dataset:
    source = args.data or args.dataset or args.default_dataset
    vs = args.val_size if args.val_size is not None else val_size
    return load_dataset(source, val_size=int(vs) if vs >= 1 else vs,
                        train_size=args.train_size, test_size=args.test_size,
                        seed=getattr(args, "seed", 0))


def _emit_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj))


# --- train ------------------------------------------------------------------------------------
def _fill_recipe(args: argparse.Namespace) -> None:
    """Options left unset take the model's recipe (``recipes.training_options``)."""
    given = {k: getattr(args, k) for k in RECIPE_KEYS}
    for key, value in training_options(args.model, **given).items():
        setattr(args, key, value)


def _check_train_options(args: argparse.Namespace) -> None:
    """Fail before loading any data when an option cannot work."""
    _fill_recipe(args)
    if args.lr is not None and not args.lr > 0:
        raise SpecError(f"--lr: the learning rate must be a positive number, got {args.lr:g}")
    if args.epochs < 1 or args.batch_size < 1:
        raise SpecError("--epochs and --batch-size must be at least 1")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise SpecError(f"--dropout must be in [0, 1), got {args.dropout:g}")
    if args.weight_decay < 0:
        raise SpecError(f"--weight-decay must be >= 0, got {args.weight_decay:g}")
    if not 0 <= args.warmup <= args.epochs:
        raise SpecError(f"--warmup must be between 0 and --epochs ({args.epochs}), "
                        f"got {args.warmup:g}")
    if args.patience is not None and args.patience < 1:
        raise SpecError("--patience must be at least 1")


def cmd_train(args: argparse.Namespace) -> int:
    _check_train_options(args)
    ds = _load(args, val_size=0.1)
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
                     patience=args.patience, seed=args.seed, augment=bool(args.augment),
                     progress=not args.quiet)
    except TrainingError as e:
        error, hist = e, getattr(e, "history", History())
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {"model": args.model, "dataset": ds.name, "n_train": len(ds.x_train),
                              "epochs_run": len(hist.epoch), "stop_reason": hist.stop_reason,
                              "seconds": round(seconds, 2)}
    if ds.y_test is not None and len(ds.x_test):
        test_loss, test_acc = net.evaluate(ds.x_test, ds.y_test)
        result.update(test_accuracy=test_acc, test_loss=test_loss, n_test=len(ds.x_test))
        say(f"test accuracy {test_acc:.4f} on {len(ds.x_test):,} images "
            f"(loss {test_loss:.4f}); trained in {seconds:.1f}s, {hist.stop_reason}")
    if args.out:
        save_model(net, args.out, class_names=ds.class_names, metadata={
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
        from .report import write_report

        path = write_report(net, ds.x_test, ds.y_test, args.report, class_names=ds.class_names,
                            history=hist, result=result, data_name=f"{ds.name} test split")
        result["report"] = str(path)
        say(f"report written to {path}")
    if error is not None:
        raise error
    if args.json:
        _emit_json(result)
    return 0


# --- evaluate / predict -----------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    ds = _load(args, val_size=0)
    y = labels_for(net, ds.y_test)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its test images: nothing to evaluate "
                        "against (use `digitnet predict` to label them)")
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
        _emit_json(result)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    if args.images:
        return _predict_images(net, args)
    if args.show:
        raise SpecError("--show works with image files: digitnet predict MODEL IMAGE... --show DIR")
    ds = _load(args, val_size=0)
    pred = net.predict(ds.x_test)
    names = net.class_names
    counts = np.bincount(pred, minlength=net.n_classes)
    print(f"predicted {len(pred):,} images; per class: "
          + "  ".join(f"{names[c]}:{n}" for c, n in enumerate(counts)))
    print("first predictions: " + " ".join(names[p] for p in pred[:20]))
    y = labels_for(net, ds.y_test)
    if y is not None:
        print(f"accuracy {np.mean(pred == y):.4f} against the labels")
    if args.submission:
        write_submission(args.submission, pred)
        print(f"submission written to {args.submission} ({len(pred):,} rows)")
    if args.json:
        _emit_json({"predictions": pred.tolist(), "n": len(pred)})
    return 0


# --- images: predict IMAGE..., read, serve -----------------------------------------------------
def _predict_images(net: Any, args: argparse.Namespace) -> int:
    from .read import predict_files

    if args.data or args.dataset or args.submission:
        raise SpecError("predict takes image files or --dataset/--data (with --submission), "
                        "not both: drop one")
    results = predict_files(net, args.images, show=args.show)
    for r in results:
        top = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top3"])
        print(f"{r['file']}: {r['label']} (probability {r['probability']:.3f}; top 3: {top})")
    if args.show:
        print(f"what the network saw: {args.show}/*.seen.png", file=sys.stderr)
    if args.json:
        _emit_json({"predictions": results})
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    from .read import read_number

    reading = read_number(load_model(args.model), args.image)
    print(reading.number)
    for d in reading.digits:
        print(f"  {d['label']}  probability {d['probability']:.3f}  box {d['box']}")
    if args.json:
        _emit_json(reading.as_dict())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .web.app import serve

    return serve(args.model, host=args.host, port=args.port, threads=args.threads)


# --- info -------------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    ds = _load(args, val_size=0)
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
        _emit_json(info)
    return 0


# --- report / gradcheck / doctor --------------------------------------------------------------
def _model_or_spec(args: argparse.Namespace) -> tuple[Any, bool]:
    """--model: a saved model file (loaded; True) or a spec/preset (built; False)."""
    if args.model.lower().endswith(".npz") or os.path.isfile(args.model):
        return load_model(args.model), True
    return build_network(args.model, activation=args.activation, init=args.init,
                         dropout=getattr(args, "dropout", None), seed=args.seed), False


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    net = load_model(args.model)
    ds = _load(args, val_size=0)
    y = labels_for(net, ds.y_test)
    path = write_report(net, ds.x_test, y, args.out, data_name=f"{ds.name} test split")
    print(f"report written to {path}")
    if args.json:
        _emit_json({"report": str(path), "n": len(ds.x_test),
                    "accuracy": None if y is None else float(np.mean(net.predict(ds.x_test) == y))})
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .gradcheck import gradcheck

    if args.batch < 1 or args.max_entries < 1 or not args.eps > 0:
        raise SpecError("--batch and --max-entries must be at least 1, --eps positive")
    net, _ = _model_or_spec(args)
    X = np.random.default_rng(args.seed).random((args.batch, net.n_inputs))
    res = gradcheck(net, X, eps=args.eps, max_entries=args.max_entries, seed=args.seed,
                    threshold=args.threshold)
    print(f"gradcheck: {args.model} ({net.n_params:,} parameters), {args.batch} random inputs, "
          f"float64, central differences with eps {args.eps:g}")
    print(res)
    if args.json:
        _emit_json({"ok": res.ok, "max_error": res.max_error, "threshold": res.threshold,
                    "rows": [{"name": n, "shape": list(shape), "rel_error": err, "checked": k}
                             for n, shape, err, k in res.rows]})
    return 0 if res.ok else 1


def _binds(pairs: list[str] | None) -> dict[str, str]:
    """--bind forward=my_forward --bind backward=my_backprop -> {"forward": "my_forward", ...}"""
    from .doctor.code.binding import ROLE_NAMES

    out = {}
    for pair in pairs or []:
        role, _, name = pair.partition("=")
        if role not in ROLE_NAMES or not name.isidentifier():
            raise SpecError(f"--bind {pair}: write ROLE=FUNCTION with ROLE one of "
                            f"{', '.join(ROLE_NAMES)}, e.g. --bind forward=my_forward")
        out[role] = name
    return out


def cmd_doctor_code(args: argparse.Namespace) -> int:
    from .doctor import check_code

    steps = 300 if args.steps is None else args.steps
    d = check_code(args.code, steps=steps, batch_size=args.batch_size or 64, lr=args.lr,
                   pixels=args.pixels, seed=args.seed, **_binds(args.bind))
    if args.json:
        _emit_json(d.as_dict())
    else:
        print(d)
    return 0 if d.ok else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose

    if args.code:
        return cmd_doctor_code(args)
    if args.bind:
        raise SpecError("--bind names the functions of your own code: use it with --code FILE")
    net, loaded = _model_or_spec(args)
    spec = (net.meta.get("spec") or args.model) if loaded else args.model  # its recipe
    opts = training_options(spec, optimizer=args.optimizer, lr=args.lr,
                            batch_size=args.batch_size)
    steps = args.steps if args.steps is not None else 0 if loaded else 300
    if loaded and steps == 0:
        ds = _load(args, val_size=0)
        x, y, x_val, y_val = ds.x_test, labels_for(net, ds.y_test), None, None
        what = f"inspecting {args.model} on {len(x):,} {ds.name} test images"
    else:
        ds = _load(args, val_size=0.1)
        x, y = ds.x_train, labels_for(net, ds.y_train)
        x_val, y_val = (ds.x_val, labels_for(net, ds.y_val)) if len(ds.x_val) else (None, None)
        what = (f"training {args.model} ({net.n_params:,} parameters) for {steps} steps "
                f"on {ds.name}")
    if y is None:
        raise SpecError(f"{ds.name} has no labels for these images: the doctor needs labelled "
                        "images (use --dataset or a labelled --data)")
    d = diagnose(net, x, y, x_val=x_val, y_val=y_val, steps=steps,
                 batch_size=opts["batch_size"], optimizer=opts["optimizer"], lr=opts["lr"],
                 weight_decay=args.weight_decay, seed=args.seed)
    if args.json:
        _emit_json(d.as_dict())
    else:
        print(f"doctor: {what}")
        print(d)
    return 0 if d.ok else 1


def cmd_trace(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise SpecError("--batch must be at least 1")
    net, _ = _model_or_spec(args)
    ds = _load(args, val_size=0)
    x, y = ds.x_train[:args.batch], labels_for(net, ds.y_train)
    if y is None:
        raise SpecError(f"{ds.name} has no labels for its training images: trace needs labelled "
                        "images (use --dataset or a labelled --data)")
    t = net.trace(x, y[:args.batch], lr=args.lr, optimizer=args.optimizer, layout=args.layout)
    print(f"trace: {args.model} ({net.n_params:,} parameters), one minibatch of {len(x)} "
          f"{ds.name} training images")
    print(t)
    if args.json:
        _emit_json(t.as_dict())
    return 0


# --- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="digitnet", description=(
        "A neural network written from scratch in NumPy that learns to read handwritten digits."))
    p.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a network and report its test accuracy",
                       description="Train a network. With no options: the default MLP on the "
                                   "sample shipped with digitnet.")
    _add_data_options(t)
    m = t.add_argument_group("model")
    m.add_argument("--model", default="mlp", metavar="SPEC",
                   help=f"a preset ({', '.join(PRESETS)}; default mlp = 784-512-256-10 with "
                        "dropout 0.2), dense layer sizes like 784-512-256-10, or conv tokens "
                        "like conv32-pool2-conv64-bn-pool2-128-10 (conv32: 32 3x3 filters, "
                        "conv16k5v: 5x5 without padding, bn: batch norm, pool2: 2x2 max pool, "
                        "drop0.3: dropout, 128: dense layer)")
    m.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    m.add_argument("--init", default=None, choices=sorted(INITIALIZERS),
                   help="weight initialization (default: he for relu, glorot for sigmoid/tanh)")
    m.add_argument("--dropout", type=float, default=None, metavar="P",
                   help="dropout rate after each hidden layer (default: 0.2 for mlp, else 0)")
    m.add_argument("--binary", type=int, default=None, metavar="CLASS",
                   help="train a one-vs-rest classifier: is it CLASS? (sigmoid output)")
    m.add_argument("--float64", action="store_true", help="compute in float64 (slower)")
    o = t.add_argument_group("training")
    o.description = ("Unset options follow the model's recipe: " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in r.items())
        for name, r in PRESET_TRAINING.items())
        + " (custom specs: mlp's if dense, cnn's with convolutions).")
    o.add_argument("--epochs", type=int, default=None)
    o.add_argument("--batch-size", type=int, default=None)
    o.add_argument("--optimizer", default=None, choices=list(OPTIMIZERS))
    o.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the recipe's; for another optimizer " + ", ".join(
                       f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    o.add_argument("--schedule", default=None, choices=list(SCHEDULES),
                   help="learning-rate schedule over the run")
    o.add_argument("--warmup", type=float, default=None, metavar="EPOCHS",
                   help="ramp the learning rate up linearly over the first EPOCHS epochs")
    o.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random small rotations, scalings and shifts of training images")
    o.add_argument("--weight-decay", type=float, default=0.0, metavar="WD")
    o.add_argument("--patience", type=int, default=None, metavar="N",
                   help="stop when validation loss has not improved for N epochs")
    o.add_argument("--seed", type=int, default=0, help="same seed, same model (default 0)")
    out = t.add_argument_group("output")
    out.add_argument("--out", metavar="FILE", help="save the trained model to FILE (.npz)")
    out.add_argument("--report", metavar="DIR",
                     help="write an HTML report (DIR/report.html + PNG figures) after training")
    out.add_argument("--json", action="store_true",
                     help="print the result as one JSON object on the last line")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy of a saved model on a dataset's test split")
    e.add_argument("model", metavar="MODEL", help="a model file saved by `digitnet train --out`")
    _add_data_options(e)
    e.add_argument("--json", action="store_true", help="last line: one JSON object")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="read digits in image files, or label a dataset's "
                        "test images, with a saved model")
    pr.add_argument("model", metavar="MODEL", help="a model file saved by `digitnet train --out`")
    pr.add_argument("images", nargs="*", metavar="IMAGE",
                    help="image files (PNG, JPEG, BMP, GIF) of one digit each, or folders of "
                         "them; without any, the test images of --dataset/--data are labelled")
    pr.add_argument("--show", metavar="DIR", help="with IMAGE: save a picture of what the "
                    "network saw (the 28x28 input next to the original) into DIR")
    _add_data_options(pr)
    pr.add_argument("--submission", metavar="FILE",
                    help="write a Kaggle submission CSV (ImageId,Label)")
    pr.add_argument("--json", action="store_true", help="last line: one JSON object")
    pr.set_defaults(func=cmd_predict)

    i = sub.add_parser("info", help="shapes, pixel range and label counts of a dataset")
    _add_data_options(i)
    i.add_argument("--json", action="store_true", help="last line: one JSON object")
    i.set_defaults(func=cmd_info)

    rd = sub.add_parser("read", help="read a number written on one line in a photo or scan",
                        description="Read a handwritten number (digits on one line) in an image: "
                                    "find the digits, left to right, and read each one.")
    rd.add_argument("model", metavar="MODEL", help="a model file saved by `digitnet train --out`")
    rd.add_argument("image", metavar="IMAGE", help="a photo or scan (PNG, JPEG, BMP, GIF)")
    rd.add_argument("--json", action="store_true", help="last line: one JSON object")
    rd.set_defaults(func=cmd_read)

    sv = sub.add_parser("serve", help="a web page to draw digits on and watch the network read",
                        description="Serve a local web page: draw a digit, see the probabilities "
                                    "and the 28x28 image the network sees. JSON API: "
                                    "POST /api/predict.")
    sv.add_argument("model", metavar="MODEL", help="a model file saved by `digitnet train --out`")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this computer only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    sv.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    sv.set_defaults(func=cmd_serve)

    rp = sub.add_parser("report", help="an HTML report of a saved model: curves, predictions, "
                        "confusion matrix, mistakes, weights",
                        description="Write OUT/report.html (one self-contained file, images "
                                    "embedded) and the figures as PNG files, on the test images "
                                    "of --dataset/--data.")
    rp.add_argument("model", metavar="MODEL", help="a model file saved by `digitnet train --out`")
    _add_data_options(rp)
    rp.add_argument("--out", metavar="DIR", default="report",
                    help="folder for report.html and the PNGs (default: report)")
    rp.add_argument("--json", action="store_true", help="last line: one JSON object")
    rp.set_defaults(func=cmd_report)

    g = sub.add_parser("gradcheck", help="check backward against finite differences, per array",
                       description="Compare the gradients backward computes with central "
                                   "differences (L(w+eps) - L(w-eps)) / 2eps for every parameter "
                                   "array, in float64 on a small random batch. Exit status 1 "
                                   "when an error is above the threshold.")
    g.add_argument("--model", default="mlp", metavar="SPEC",
                   help="a spec or preset as for train (default mlp), or a model file (.npz)")
    g.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    g.add_argument("--init", default=None, choices=sorted(INITIALIZERS))
    g.add_argument("--batch", type=int, default=4, metavar="N", help="inputs (default 4)")
    g.add_argument("--max-entries", type=int, default=200, metavar="N",
                   help="entries checked per array, chosen at random (default 200)")
    g.add_argument("--eps", type=float, default=1e-6, help="finite-difference step (1e-6)")
    g.add_argument("--threshold", type=float, default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", action="store_true", help="last line: one JSON object")
    g.set_defaults(func=cmd_gradcheck)

    from .doctor.findings import FINDINGS

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
    _add_data_options(d)
    dm = d.add_argument_group("model")
    dm.add_argument("--model", default="mlp", metavar="SPEC",
                    help="a spec or preset as for train (default mlp), or a model file (.npz) "
                         "to inspect without training")
    dm.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    dm.add_argument("--init", default=None, choices=sorted(INITIALIZERS))
    dm.add_argument("--dropout", type=float, default=None, metavar="P")
    do = d.add_argument_group("brief training")
    do.add_argument("--steps", type=int, default=None, metavar="N",
                    help="minibatch steps (default 300; 0 for a model file: inspect only)")
    do.add_argument("--optimizer", default=None, choices=list(OPTIMIZERS),
                    help="default: the model's recipe, as for train")
    do.add_argument("--lr", type=float, default=None, help="learning rate, kept constant")
    do.add_argument("--batch-size", type=int, default=None)
    do.add_argument("--weight-decay", type=float, default=0.0, metavar="WD")
    do.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", action="store_true",
                   help='print one JSON object {"findings": [{"id", "message", "evidence"}]}')
    d.set_defaults(func=cmd_doctor)

    tr = sub.add_parser("trace", help="one training step by hand: Z, A, dZ, dW, db per layer, "
                        "the loss and the update",
                        description="Run one training step on one minibatch of the training "
                                    "images and show, layer by layer, every array (Z, A, dZ, dA, "
                                    "dW, db) with its shape and a few numbers, the loss and the "
                                    "update the optimizer applies. Nothing is saved or changed.")
    _add_data_options(tr)
    tm = tr.add_argument_group("model")
    tm.add_argument("--model", default="mlp", metavar="SPEC",
                    help="a spec or preset as for train (default mlp), or a model file (.npz)")
    tm.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    tm.add_argument("--init", default=None, choices=sorted(INITIALIZERS))
    ts = tr.add_argument_group("step")
    ts.add_argument("--batch", type=int, default=128, metavar="N",
                    help="images in the minibatch: the first N of the training split (default "
                         "128)")
    ts.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS),
                    help="the update shown (default sgd: W -= lr * dW)")
    ts.add_argument("--lr", type=float, default=None,
                    help="learning rate (default: " + ", ".join(
                        f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    ts.add_argument("--seed", type=int, default=0,
                    help="seeds the weights of a spec and the order of the images (default 0)")
    tr.add_argument("--layout", default="rows", choices=list(LAYOUTS),
                    help="rows: digitnet's arrays, one image per row (default); columns: the "
                         "notebooks' view, one image per column (Z1 = W1 @ X + b1)")
    tr.add_argument("--json", action="store_true",
                    help="last line: one JSON object (shapes and summary numbers per array)")
    tr.set_defaults(func=cmd_trace)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(a.startswith("-") for a in extra):
        args.images += extra  # IMAGE files after options: argparse leaves them over
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except DigitnetError as e:
        print(f"digitnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
