"""The options several subcommands share, each declared once (the data, the model, the model file,
the optimizer, `--json`), and what the commands do with them: load the data, build or load the
model, print the JSON line."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from ..data import DATASET_NAMES, Dataset, load_dataset
from ..data.datasets import CSV_TEST_FRACTION
from ..data.kaggle import csv_digest
from ..errors import DigitnetError, SpecError
from ..files import file_problem
from ..modelfile import load_model
from ..nn.activations import ACTIVATIONS
from ..nn.ensemble import Ensemble
from ..nn.init import INITIALIZERS
from ..nn.network import Network
from ..nn.specs import PRESETS, build_network
from ..onevsrest import labels_for
from ..optim import DEFAULT_LR, OPTIMIZERS

MODEL_FILE_HELP = "a model file saved by `digitnet train --out`"
SPEC_HELP = "a spec or preset as for train (default mlp), or a model file (.npz)"
JSON_HELP = "last line: one JSON object"
#: each optimizer's learning rate when none is given and no recipe sets one
DEFAULT_LRS = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())

Group = argparse._ArgumentGroup  # what add_argument_group returns
#: the largest count an option takes (a C int): larger ones are typing mistakes
MAX_COUNT = 2**31 - 1
#: NumPy's seeds for the global generator the doctor's --code uses are 32-bit
MAX_SEED = 2**32 - 1


class UsageError(DigitnetError):
    """A command line that cannot run: an unknown option, a missing argument, a value that is
    not a number or is out of range."""


class Parser(argparse.ArgumentParser):
    """argparse's parser, with its errors one line and exit status 1 like every error a user can
    cause (argparse's own: the usage block, then the error, status 2)."""

    def error(self, message: str) -> NoReturn:
        option = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if option:  # `--lr -inf`: argparse takes "-inf" for an option, not for a value
            message += f" (a value starting with '-' is written {option[1]}=VALUE)"
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# --- values -------------------------------------------------------------------------------------
def count(low: int = 1, high: int = MAX_COUNT) -> Callable[[str], int]:
    """An option's type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            within = f">= {low}" if high == MAX_COUNT else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {within}, got {text!r}")
        return value
    return parse


def number(low: float = -math.inf, high: float = math.inf, *, above: bool = False,
           below: bool = False) -> Callable[[str], float]:
    """An option's type: a finite number in [low, high] (``above``: > low; ``below``: < high)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (low < value if above else low <= value)
                and (value < high if below else value <= high)):
            if high == math.inf:
                within = f"{'>' if above else '>='} {low:g}"
            else:
                within = f"in {'(' if above else '['}{low:g}, {high:g}{')' if below else ']'}"
            raise argparse.ArgumentTypeError(f"must be a number {within}, got {text!r}")
        return value
    return parse


def pair(item: Callable[[str], float]) -> Callable[[str], tuple[float, float]]:
    """An option's type: two values of type ``item`` separated by a comma ("0.7,0.9")."""
    def parse(text: str) -> tuple[float, float]:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"must be two numbers separated by a comma, e.g. "
                                             f"0.9,0.999, got {text!r}")
        return item(parts[0].strip()), item(parts[1].strip())
    return parse


def fraction_or_count(text: str) -> int | float:
    """--val-size: a fraction in [0, 1) or a count (0, 1, 2, ...)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if 0 <= value < 1:
        return value
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= MAX_COUNT):
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1) such as 0.1, or a "
                                         f"count (0, 1, 2, ...), got {text!r}")
    return int(value)


# --- declaring ----------------------------------------------------------------------------------
def add_data(p: Parser, default: str = "sample") -> None:
    """--dataset / --data, and the sizes of the splits."""
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dataset", metavar="NAME", default=None,
                     help=f"a named dataset: {', '.join(DATASET_NAMES)} (default: {default})")
    src.add_argument("--data", metavar="PATH", default=None,
                     help="a folder with the four MNIST-style IDX files, or a Kaggle CSV file")
    g.add_argument("--train-size", type=count(0), metavar="N", help="learn on the first N images")
    g.add_argument("--test-size", type=count(0), metavar="N", help="test on the first N images")
    g.add_argument("--val-size", type=fraction_or_count, default=None, metavar="N",
                   help="validation images carved from training: a count, or a fraction < 1 "
                        "(default 0.1 for training, 0 otherwise)")
    p.set_defaults(default_dataset=default)


def add_model_file(p: Parser) -> None:
    """The MODEL positional: a saved model file."""
    p.add_argument("model", metavar="MODEL", help=MODEL_FILE_HELP)


def add_model(p: Parser, model_help: str = SPEC_HELP, *, dropout: bool = False) -> Group:
    """--model, --activation, --init (and --dropout), --seed; returns the group to add to."""
    with_dropout = ", ".join(f"{rate:g} for {name}" for name, (_, rate) in PRESETS.items() if rate)
    g = p.add_argument_group("model")
    g.add_argument("--model", default="mlp", metavar="SPEC", help=model_help)
    g.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                   help="activation of the hidden layers (default relu)")
    g.add_argument("--init", default=None, choices=sorted(INITIALIZERS),
                   help="weight initialization (default: he for relu, glorot for sigmoid/tanh)")
    if dropout:
        g.add_argument("--dropout", type=number(0, 1, below=True), default=None, metavar="P",
                       help=f"dropout rate after each hidden layer (default: {with_dropout}, "
                            "else 0)")
    g.add_argument("--seed", type=count(0, MAX_SEED), default=0,
                   help="seeds every random choice (the weights, the validation split, the "
                        f"order of the images): same seed, same result (0 to {MAX_SEED}; "
                        "default 0)")
    return g


def add_optimizer(g: Group, *, default: str | None, optimizer_help: str,
                          lr_help: str) -> None:
    """--optimizer and --lr."""
    g.add_argument("--optimizer", default=default, choices=list(OPTIMIZERS), help=optimizer_help)
    g.add_argument("--lr", type=number(0, above=True), default=None, help=lr_help)


def add_training(g: Group) -> None:
    """--optimizer, --lr, --batch-size, --weight-decay, unset ones following the model's recipe
    (``recipes.training_options``)."""
    add_optimizer(g, default=None, optimizer_help="default: the model's recipe",
                          lr_help="learning rate (default: the recipe's; for another optimizer "
                                  f"{DEFAULT_LRS})")
    g.add_argument("--batch-size", type=count(1), default=None, metavar="N",
                   help="images per minibatch (default: the recipe's)")
    g.add_argument("--weight-decay", type=number(0), default=None, metavar="WD",
                   help="L2 penalty on the weights, not the biases (default: the recipe's, "
                        "else 0)")


def add_threads(g: Parser | Group) -> None:
    """--threads: how many threads to compute with (default: chosen from the free CPUs)."""
    g.add_argument("--threads", type=count(1, 256), default=None, metavar="N",
                   help="threads to compute with (default: as many as the other processes "
                        "leave CPUs free, chosen again at every epoch; DIGITNET_THREADS=N sets "
                        "it too)")


def add_json(p: Parser | Group, what: str = "") -> None:
    p.add_argument("--json", action="store_true", help=JSON_HELP + (f" ({what})" if what else ""))


# --- using --------------------------------------------------------------------------------------
def load_data(args: argparse.Namespace, val_size: float) -> Dataset:
    """The dataset the data options name; ``val_size`` unless --val-size is given."""
    source = args.data or args.dataset or args.default_dataset
    vs = args.val_size if args.val_size is not None else val_size
    return load_dataset(source, val_size=vs,
                        train_size=args.train_size, test_size=args.test_size,
                        seed=getattr(args, "seed", 0))


def test_data(args: argparse.Namespace, net: Network | Ensemble,
              held_out: bool = True) -> tuple[Dataset, np.ndarray | None]:
    """The test split of the data options, and its labels as ``net`` answers them (None when
    the images have none). ``held_out``: measuring on it, so it must hold no image the model
    learned from (``check_held_out``)."""
    if held_out:
        check_held_out(args, net)
    ds = load_data(args, val_size=0)
    return ds, labels_for(net, ds.y_test)


def check_held_out(args: argparse.Namespace, model: Network | Ensemble) -> None:
    """A labelled Kaggle CSV has no test split of its own: its test rows are the first
    --test-size rows of a fixed shuffled order, and a model trained on the same file learned
    from all the others. So, for that file: unless --test-size is given, take the model's own
    (the rows its training held out); refuse a model that held out none (--test-size 0), or a
    --test-size larger than what it held out (SpecError: the accuracy would count rows it
    learned from). Any other data: nothing to check (IDX test files are separate)."""
    training = (getattr(model, "meta", None) or {}).get("training") or {}
    source = args.data or args.dataset or args.default_dataset
    if not (isinstance(source, str) and source.lower().endswith(".csv")
            and _trained_on(source, training)):
        return
    held = training.get("test_size")
    held = held if isinstance(held, int) and not isinstance(held, bool) else None
    if held == 0:
        raise SpecError(f"{args.model} was trained on every row of {source} (--test-size 0): "
                        "no row of it is unseen, so measuring on it would count rows the model "
                        "learned from; use other labelled data, or train with --test-size N")
    if args.test_size is None:
        args.test_size = held  # None: the file's default share, as in training
        return
    if held is None:  # training held out the default share: how many rows is that?
        held = round(CSV_TEST_FRACTION * _csv_rows(source))
    if args.test_size > held:
        raise SpecError(f"--test-size {args.test_size:,}: {args.model} held out only the first "
                        f"{held:,} test rows of {source} and learned from the others; use "
                        f"--test-size {held:,} or fewer (or leave it out)")


def _trained_on(source: str, training: dict[str, Any]) -> bool:
    """Whether ``source`` is the file the model was trained on: the path it recorded (as given
    then: relative to wherever training ran), or else the same bytes (its SHA-256, recorded
    since 2026-11-24): a copy, or the same file reached by another relative path."""
    trained_on, digest = training.get("data"), training.get("data_sha256")
    if isinstance(trained_on, str) and _same_file(source, trained_on):
        return True
    return isinstance(digest, str) and csv_digest(source) == digest


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _csv_rows(path: str) -> int:
    """The number of labelled rows of a Kaggle CSV (its training and test splits together)."""
    ds = load_dataset(path, val_size=0, test_size=0)
    return len(ds.x_train)


def model_or_spec(args: argparse.Namespace) -> tuple[Network, bool]:
    """--model: a saved model file (loaded; True) or a spec/preset (built; False)."""
    if args.model.lower().endswith(".npz") or os.path.isfile(args.model):
        model = load_model(args.model)
        if isinstance(model, Ensemble):
            raise UsageError(
                f"{args.model} holds an ensemble of {len(model.members)} networks; this command "
                f"looks at one network: in Python, dn.load_model({args.model!r}).members[0] is "
                f"the first")
        return model, True
    return build_network(args.model, activation=args.activation, init=args.init,
                         dropout=getattr(args, "dropout", None), seed=args.seed), False


def emit_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj))


def report_errors(errors: list[dict[str, str]]) -> int:
    """Print each file that could not be read on one line of stderr (after the others were
    read); the exit status: 1 if there was any, else 0."""
    for e in errors:
        print(f"digitnet: error: {e['error']}", file=sys.stderr)
    return 1 if errors else 0


def check_file_target(path: str, option: str) -> None:
    """UsageError unless a file could be written at ``path`` (checked before the work)."""
    problem = file_problem(path)
    if problem:
        raise UsageError(f"{option} {path}: cannot write there: {problem}")
