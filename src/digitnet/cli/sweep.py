"""`digitnet sweep`: train many configurations in parallel (here or on a Dask cluster), print
them as a table and save the best model (``dn.sweep``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..augment import ELASTIC_MAX
from ..errors import SpecError
from ..limits import MAX_ENSEMBLE
from ..modelfile import check_save_target, save_model
from ..nn.activations import ACTIVATIONS
from ..optim import OPTIMIZERS, SCHEDULES
from ..sweeps import Range, SweepResult, check_trials, connect, needs, sweep, trial_configs
from ..version import __version__
from . import options
from .options import UsageError


def values(item: Callable[[str], Any], choices: Any = None,
           ranges: bool = False) -> Callable[[str], list[Any] | Range]:
    """An option's type: one value or several separated by commas ("0.01,0.1"); ``ranges``:
    or a range for --random to draw from, LOW:HIGH (uniform) or LOW:HIGH:log."""
    def parse(text: str) -> list[Any] | Range:
        if ranges and ":" in text:
            parts = [p.strip() for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].lower() != "log"):
                raise argparse.ArgumentTypeError(f"a range is LOW:HIGH or LOW:HIGH:log, got "
                                                 f"{text!r}")
            low, high = item(parts[0]), item(parts[1])
            try:
                return Range(low, high, log=len(parts) == 3, integer=isinstance(low, int))
            except SpecError as e:
                raise argparse.ArgumentTypeError(str(e).removeprefix("sweep: ")) from None
        out = []
        for part in (p.strip() for p in text.split(",")):
            value = item(part)
            if choices is not None and value not in choices:
                raise argparse.ArgumentTypeError(f"{part!r} is not one of "
                                                 f"{', '.join(map(str, choices))}")
            out.append(value)
        return out
    return parse


def yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "on", "1"):
        return True
    if text.lower() in ("no", "false", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"must be yes or no, got {text!r}")


#: option -> (its type, what it is); each takes a comma-separated list of values to sweep
SWEPT: dict[str, tuple[Callable[[str], list[Any] | Range], str]] = {
    "model": (values(str), "specs or presets, e.g. 784-128-10,784-256-10,lenet5 (default mlp)"),
    "activation": (values(str, sorted(ACTIVATIONS)), "hidden activations"),
    "dropout": (values(options.number(0, 1, below=True), ranges=True), "dropout rates"),
    "epochs": (values(options.count(1), ranges=True), "passes over the training images"),
    "optimizer": (values(str, list(OPTIMIZERS)), "optimizers"),
    "lr": (values(options.number(0, above=True), ranges=True), "learning rates"),
    "batch_size": (values(options.count(1), ranges=True), "minibatch sizes"),
    "schedule": (values(str, list(SCHEDULES)), "learning-rate schedules"),
    "warmup": (values(options.number(0), ranges=True), "warmup epochs"),
    "weight_decay": (values(options.number(0), ranges=True), "L2 penalties"),
    "label_smoothing": (values(options.number(0, 1, below=True), ranges=True), "label smoothing"),
    "augment": (values(yes_no), "augmentation: yes, no or yes,no"),
    "elastic": (values(options.number(0, ELASTIC_MAX), ranges=True),
                "elastic warps, the most pixels a point moves (turns augmentation on)"),
    "seed": (values(options.count(0, options.MAX_SEED)), "seeds of the weights and the order "
             "of the images (default 0)"),
}


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "sweep", help="train many configurations in parallel and keep the best",
        description="Train every combination of the values given (a grid; --random N: N of "
                    "them at random), or --ensemble-members N seeds of one configuration, in "
                    "parallel: processes on this machine, or the workers of a Dask cluster "
                    "(--scheduler). Each trial trains on the training split and is scored on "
                    "the validation split; options a trial does not set follow its model's "
                    "recipe (see `digitnet train --help`). Prints a table (--json: the "
                    "trials); --out saves the best model.")
    options.add_data(s)
    g = s.add_argument_group("what to sweep", "Each takes one value or several separated by "
                             "commas; with --random, a numeric one may be a range to draw from: "
                             "LOW:HIGH or LOW:HIGH:log.")
    for key, (kind, what) in SWEPT.items():
        g.add_argument("--" + key.replace("_", "-"), type=kind, default=None, metavar="V,...",
                       help=what)
    h = s.add_argument_group("how")
    h.add_argument("--random", type=options.count(1), default=None, metavar="N",
                   help="random search: N combinations of the grid, drawn with the first "
                        "seed; a numeric option may then be a range to draw from, LOW:HIGH "
                        "or LOW:HIGH:log (e.g. --lr 0.001:0.3:log --dropout 0:0.5)")
    h.add_argument("--ensemble-members", type=options.count(1, MAX_ENSEMBLE), default=None,
                   metavar="N", help="train N seeds (SEED, SEED+1, ...) of one configuration "
                   "and save them as one ensemble model")
    h.add_argument("--jobs", type=options.count(1), default=None, metavar="N",
                   help="processes on this machine (default: one per CPU, at most one per "
                   "trial)")
    h.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the trials on a Dask cluster, e.g. tcp://HOST:8786 (the [dask] "
                   "extra; digitnet installed on every worker; the data is sent to them)")
    h.add_argument("--threads", type=options.count(1, 256), default=None, metavar="N",
                   help="threads per trial (default: CPUs / jobs here, 1 per trial on a "
                   "cluster)")
    out = s.add_argument_group("output")
    out.add_argument("--out", metavar="FILE", help="save the best model (or the ensemble) to "
                     "FILE (.npz)")
    out.add_argument("--force", action="store_true", help="replace FILE even if read-only")
    options.add_json(out, "the trials, the best one, the ensemble's numbers")
    out.add_argument("-q", "--quiet", action="store_true", help="no line per finished trial")
    s.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.out:
        check_save_target(args.out, force=args.force)
    space = {k: getattr(args, k) for k in SWEPT if getattr(args, k) is not None}
    space.setdefault("model", ["mlp"])
    seeds = space.get("seed", [0])
    ranges = [k for k, v in space.items() if isinstance(v, Range)]
    if ranges and not args.random:
        raise UsageError(f"--{ranges[0].replace('_', '-')} {space[ranges[0]]} is a range: "
                         f"ranges are drawn from by random search: add --random N")
    if args.ensemble_members is not None:
        many = [f"--{k.replace('_', '-')}" for k, v in space.items()
                if isinstance(v, Range) or len(v) > 1]
        if many or args.random:
            raise UsageError(f"--ensemble-members trains seeds of one configuration: give "
                             f"{many[0] if many else '--random'} one value")
    needs(args.scheduler)  # the extra it needs, said before loading the data
    client = connect(args.scheduler) if args.scheduler else None
    try:
        return run_sweep(args, space, seeds, client)
    finally:
        if client is not None:
            client.close()


def run_sweep(args: argparse.Namespace, space: dict[str, list[Any]], seeds: list[int],
              client: Any) -> int:
    args.seed = seeds[0]  # the data's validation split is drawn with it
    ds = options.load_data(args, val_size=0.1)
    if args.ensemble_members is not None:
        space.pop("seed", None)
    check_trials(trial_configs(space, n_iter=args.random, members=args.ensemble_members,
                               seed=seeds[0]), ds)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    say(f"data: {ds.source or ds.name}: {len(ds.x_train):,} train, {len(ds.x_val):,} "
        f"validation, {len(ds.x_test):,} test images")

    def done(t: dict[str, Any]) -> None:
        acc = "-" if t["val_accuracy"] is None else f"{t['val_accuracy']:.4f}"
        config = " ".join(f"{k}={v}" for k, v in t["config"].items())
        say(f"trial {config}: val_acc {acc} ({t['status']}, {t['seconds']:.1f}s on "
            f"{t['worker']})")

    result = sweep(space, ds, n_iter=args.random, members=args.ensemble_members,
                   seed=seeds[0], jobs=args.jobs, scheduler=client,
                   threads=args.threads, on_trial=done)
    print(result.table())
    report = result.as_dict()
    if args.out:
        save_best(result, args, ds)
        report["out"] = str(args.out)
        say(f"{'ensemble' if result.ensemble else 'best model'} saved to {args.out}")
    if args.json:
        options.emit_json(report)
    return 0


def save_best(result: SweepResult, args: argparse.Namespace, ds: Any) -> None:
    """The best trial's network (or the ensemble) to --out, with the sweep's table."""
    best = result.trials[result.best]
    metadata = {"spec": best["config"]["model"], "dataset": ds.name,
                "training": best["options"], "sweep": result.as_dict(),
                "result": {"val_accuracy": best["val_accuracy"],
                           "test_accuracy": best["test_accuracy"]},
                "digitnet_version": __version__}
    if result.ensemble is not None:
        metadata["result"] = {k: result.ensemble[k] for k in ("val_accuracy", "test_accuracy")}
    save_model(result.model, args.out, force=args.force, class_names=ds.class_names,
               metadata=metadata)
