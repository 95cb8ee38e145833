"""Sweeps: many trainings at once (a grid, a random sample of one, or the members of an ensemble)
through joblib, on this machine's cores or on a Dask cluster, and the best model.

    >>> ds = dn.load_dataset("sample")
    >>> result = dn.sweep({"model": ["784-64-10", "784-256-10"], "lr": [0.03, 0.1]}, ds,
    ...                   epochs=5)                      # 4 trials, one process per core
    >>> print(result.table()); result.model              # the best network (by val accuracy)
    >>> dn.sweep({"model": ["cnn"]}, ds, members=5)      # 5 seeds of one spec: an Ensemble
    >>> dn.sweep(space, ds, scheduler="tcp://HOST:8786") # the same trials on a Dask cluster

A trial is one configuration: a spec (``model``, with ``activation``, ``init``, ``dropout``) and
training options (those of ``dn.training_options`` and ``dn.train``: ``epochs``, ``optimizer``,
``lr``, ``batch_size``, ``schedule``, ``warmup``, ``augment``, ``elastic``, ``label_smoothing``,
``weight_decay``, ``momentum``, ``betas``, ``patience``, ``seed``); what a trial leaves out
follows its model's recipe. It trains on the dataset's training split and is scored on its
validation split (the best trial: highest validation accuracy, then lowest validation loss,
then the earliest); the test split is reported, never used to choose.

Where it runs: joblib's processes on this machine (``jobs`` of them), or, with ``scheduler``,
the workers of a Dask cluster through joblib's "dask" backend (``dask.distributed.Client``).
The dataset is sent with the trials, not read from a path: joblib memory-maps its arrays for
local processes, and on a cluster it is scattered to the workers once. Each trial computes with
``threads`` threads (BLAS's pool and digitnet's own): locally CPUs // jobs, on a cluster 1 (a
worker runs as many trials at once as it has threads), so that trials do not oversubscribe the
cores. With a fixed thread count a trial's result depends only on its configuration and the
data, so the same sweep gives the same numbers locally and on a cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import SpecError, TrainingError
from .limits import MAX_ENSEMBLE
from .nn.ensemble import Ensemble
from .nn.network import Network
from .nn.specs import build_network
from .recipes import RECIPE_KEYS, training_options
from .threads import ENV, cpu_count
from .train import train

#: what builds the network of a trial, and the options of ``train`` it may also set
BUILD_KEYS = ("model", "activation", "init", "dropout")
TRAIN_KEYS = (*RECIPE_KEYS, "patience", "seed")
KEYS = (*BUILD_KEYS, *TRAIN_KEYS)


@dataclass(frozen=True)
class Range:
    """A range for random search to draw an option's values from, in place of a list:
    uniformly between ``low`` and ``high``; on a log scale with ``log=True`` (learning rates,
    penalties: each factor of 10 as likely); whole numbers with ``integer=True``. A drawn value
    keeps 3 significant digits, so the table shows what to type to train it again.

        dn.sweep({"lr": dn.Range(1e-3, 0.3, log=True), "dropout": dn.Range(0, 0.5)}, ds,
                 n_iter=20)
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.low, self.high
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (lo, hi)) or lo > hi:
            raise SpecError(f"sweep: a range needs two finite numbers, low <= high, got "
                            f"{lo!r}:{hi!r}")
        if self.log and lo <= 0:
            raise SpecError(f"sweep: a log-scale range needs low > 0, got {lo!r}:{hi!r}")

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.integer:
            return int(min(max(round(value), math.ceil(self.low)), math.floor(self.high)))
        return min(max(float(f"{value:.3g}"), self.low), self.high)

    def __str__(self) -> str:
        return f"{self.low:g}:{self.high:g}" + (":log" if self.log else "")


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values in ``space`` ({option: [values]}), the last option
    varying fastest: {"model": [a, b], "lr": [x, y]} -> a x, a y, b x, b y."""
    ranges = [k for k, v in space.items() if isinstance(v, Range)]
    if ranges:
        raise SpecError(f"sweep: {ranges[0]!r} is a range ({space[ranges[0]]}): ranges are "
                        f"drawn from by random search (n_iter=N; `digitnet sweep --random N`); "
                        f"a grid needs a list of values")
    keys = list(space)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(list(space[k]) for k in keys))]


def sample(space: Mapping[str, Sequence[Any] | Range], n: int,
           seed: int = 0) -> list[dict[str, Any]]:
    """A random search with ``seed``: ``n`` different combinations of the grid of ``space``
    (all of them, shuffled, when it has no more than ``n``); with a Range among the options,
    ``n`` draws, each option's value drawn on its own (from a list: one of its values)."""
    rng = np.random.default_rng(seed)
    if not any(isinstance(v, Range) for v in space.values()):
        configs = grid(space)
        order = rng.permutation(len(configs))[:n]
        return [configs[i] for i in order]
    return [{k: v.draw(rng) if isinstance(v, Range) else list(v)[rng.integers(len(v))]
             for k, v in space.items()} for _ in range(n)]


@dataclass
class SweepResult:
    """The trials (one dict each: the configuration given, the options it trained with, its
    validation and test numbers, where it ran) and the best model."""

    trials: list[dict[str, Any]]
    best: int
    #: the best trial's network, or with ``members`` the Ensemble of all of them
    model: Network | Ensemble
    #: with ``members``: the ensemble's own validation and test numbers
    ensemble: dict[str, Any] | None = None
    scheduler: str | None = None
    seconds: float = 0.0
    varied: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "best": self.best, "ensemble": self.ensemble,
                "scheduler": self.scheduler, "seconds": round(self.seconds, 2)}

    def table(self) -> str:
        """One line per trial (its model and the options that vary), the best marked *."""
        keys = ["model"] + [k for k in self.varied if k != "model"]
        head = ["", "#", *keys, "val_acc", "val_loss", "test_acc", "epochs", "seconds",
                "threads", "worker"]
        rows = []
        for i, t in enumerate(self.trials):
            def num(v: Any, fmt: str) -> str:
                return "-" if v is None else format(v, fmt)
            rows.append(["*" if i == self.best else "", str(i + 1),
                         *(_show(t["options"].get(k, t["config"].get(k))) for k in keys),
                         num(t["val_accuracy"], ".4f"), num(t["val_loss"], ".4f"),
                         num(t["test_accuracy"], ".4f"), str(t["epochs"]),
                         f"{t['seconds']:.1f}", str(t["threads"]), t["worker"]])
        widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in [head, *rows]]
        if self.ensemble is not None:
            e = self.ensemble
            test = "-" if e["test_accuracy"] is None else f"{e['test_accuracy']:.4f}"
            lines.append(f"ensemble of {e['members']}: val_acc {e['val_accuracy']:.4f}  "
                         f"test_acc {test}")
        return "\n".join(lines)


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if 0 < abs(v) < 1e-3 or v != v else f"{v:g}"
    return "-" if v is None else str(v)


def trial_configs(space: Mapping[str, Sequence[Any] | Range] | Sequence[Mapping[str, Any]], *,
                  n_iter: int | None = None, members: int | None = None, seed: int = 0,
                  **fixed: Any) -> list[dict[str, Any]]:
    """The configurations a sweep trains: the grid of ``space`` (a dict of value lists), or
    ``n_iter`` of them at random, or the list given; each with the ``fixed`` options it does
    not set. ``members``: one configuration trained with seeds seed, seed+1, ..."""
    if isinstance(space, Mapping):
        for key, values in space.items():
            if isinstance(values, Range):
                continue
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise SpecError(f"sweep: give {key!r} a list of values, e.g. {key!r}: "
                                f"[{values!r}]")
        configs = grid(space) if n_iter is None else sample(space, n_iter, seed)
    else:
        configs = [dict(c) for c in space]
    if n_iter is not None and n_iter < 1:
        raise SpecError(f"sweep: n_iter must be at least 1, got {n_iter}")
    configs = [{**fixed, **c} for c in configs]
    for c in configs:
        unknown = set(c) - set(KEYS)
        if unknown:
            raise SpecError(f"sweep: unknown option(s) {', '.join(sorted(unknown))}: a trial "
                            f"sets {', '.join(KEYS)}")
        c.setdefault("model", "mlp")
        c.setdefault("seed", seed)
    if members is not None:
        if len(configs) != 1:
            raise SpecError(f"sweep: members trains the seeds of one configuration, but "
                            f"{len(configs)} are given: give one value per option")
        if not 1 <= members <= MAX_ENSEMBLE:
            raise SpecError(f"sweep: members must be from 1 to {MAX_ENSEMBLE}, got {members}")
        first = configs[0]
        configs = [{**first, "seed": (first["seed"] + k) % 2**32} for k in range(members)]
    if not configs:
        raise SpecError("sweep: there is nothing to train (no configuration)")
    return configs


@contextlib.contextmanager
def _thread_count(n: int) -> Iterator[None]:
    """DIGITNET_THREADS=n inside the block (a trial's predictions and training), then as it
    was."""
    before = os.environ.get(ENV)
    os.environ[ENV] = str(n)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def _options(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's training options (the recipe's where it sets none), or the SpecError that
    says what is wrong with them."""
    options = training_options(config["model"], **{k: config.get(k) for k in RECIPE_KEYS})
    if config.get("patience") is not None:
        options["patience"] = config["patience"]
    if not 0 <= options["warmup"] <= options["epochs"]:
        raise SpecError(f"sweep: warmup must be between 0 and the number of epochs "
                        f"({options['epochs']}), got {options['warmup']:g}")
    return options


def _network(config: dict[str, Any], data: Any) -> Network:
    """A trial's network, checked against the data (SpecError if it does not fit)."""
    spec = config["model"]
    net = build_network(spec, activation=config.get("activation") or "relu",
                        init=config.get("init"), dropout=config.get("dropout"),
                        seed=config["seed"])
    n_pixels, n_classes = data.x_train.shape[1], len(data.class_names)
    if (net.n_inputs, net.n_classes) != (n_pixels, n_classes):
        raise SpecError(f"sweep: {spec} takes {net.n_inputs} inputs and tells {net.n_classes} "
                        f"classes apart; the data has {n_pixels} pixels per image and "
                        f"{n_classes} classes")
    net.meta.update(class_names=list(data.class_names), spec=spec)
    return net


def run_trial(config: dict[str, Any], data: Any, threads: int) -> tuple[dict[str, Any],
                                                                        Network | None]:
    """Train one configuration on ``data``'s training split with ``threads`` threads: (its
    numbers, the network; None if no epoch completed). A trial that diverges is reported as
    such; other errors (a bad option) are raised."""
    t0 = time.perf_counter()
    net, options = _network(config, data), _options(config)
    status = "completed"
    with _thread_count(threads):
        try:
            hist = train(net, data, seed=config["seed"], threads=threads, progress=False,
                         **options)
            status, epochs = hist.stop_reason, hist.complete_epochs
        except TrainingError as e:
            hist = getattr(e, "history", None)
            status, epochs = "diverged", hist.complete_epochs if hist is not None else 0
        trained = epochs > 0
        val = net.evaluate(data.x_val, data.y_val) if trained else (None, None)
        test = net.evaluate(data.x_test, data.y_test) \
            if trained and data.y_test is not None and len(data.x_test) else (None, None)
    options["augment"] = bool(options["augment"])
    options["betas"] = list(options["betas"]) if options["betas"] is not None else None
    result = {"config": config, "options": {**options, "seed": config["seed"]},
              "val_loss": val[0], "val_accuracy": val[1], "test_loss": test[0],
              "test_accuracy": test[1], "epochs": epochs, "status": status,
              "seconds": round(time.perf_counter() - t0, 3), "threads": threads,
              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    return result, net if trained else None


def _better(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    """Whether trial ``a`` beats ``b``: higher validation accuracy, then lower loss (earlier
    trials win ties: ``a`` must be strictly better)."""
    if a["val_accuracy"] is None or (isinstance(a["val_loss"], float)
                                     and math.isnan(a["val_loss"])):
        return False
    if b is None:
        return True
    return (a["val_accuracy"], -a["val_loss"]) > (b["val_accuracy"], -b["val_loss"])


def check_trials(configs: list[dict[str, Any]], data: Any) -> None:
    """SpecError, before any trial is sent, when a configuration cannot train on ``data`` (a
    spec that cannot be read or does not fit the data, options that do not go together)."""
    built = set()
    for c in configs:
        _options(c)
        build = repr([c.get(k) for k in BUILD_KEYS])
        if build not in built:  # each network once
            _network(c, data)
            built.add(build)


def needs(scheduler: str | None) -> Any:
    """joblib (and, for a ``scheduler``, dask.distributed), or the MissingExtraError that
    names the extra to install."""
    from .extras import missing

    try:
        import joblib
    except ImportError as e:
        raise missing("sweep" if scheduler is None else "dask", e) from None
    if scheduler is not None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError as e:
            raise missing("dask", e) from None
    return joblib


def connect(address: str) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (e.g. tcp://HOST:8786),
    or a SpecError saying it cannot be reached."""
    needs(address)
    from dask.distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise SpecError(f"sweep: cannot reach the Dask scheduler at {address}: {e} (start one "
                        f"with `dask scheduler`, and workers with `dask worker {address}`)"
                        ) from None


def sweep(space: Mapping[str, Sequence[Any] | Range] | Sequence[Mapping[str, Any]], data: Any, *,
          n_iter: int | None = None, members: int | None = None, seed: int = 0,
          jobs: int | None = None, scheduler: Any = None, threads: int | None = None,
          on_trial: Any = None, **fixed: Any) -> SweepResult:
    """Train every configuration of ``space`` on ``data`` (a Dataset with a validation split)
    in parallel and return the trials and the best model (see the module's docstring).

    ``space``: {option: [values]} (its grid; ``n_iter``: that many combinations at random,
    drawn with ``seed``; with ``n_iter`` an option may be a ``Range`` to draw from) or a list
    of configurations. ``fixed``: options every trial takes
    unless it sets its own (e.g. ``epochs=5``). ``members=N``: the one configuration trained
    with seeds seed..seed+N-1; the model is then their Ensemble. ``jobs``: processes on this
    machine (default: one per CPU, at most one per trial); ``scheduler``: the address of a
    Dask scheduler ("tcp://HOST:8786"), or a ``dask.distributed.Client``, to run the trials on
    its workers instead. ``threads``: per trial (default CPUs // jobs here, 1 on a cluster).
    ``on_trial(result)`` is called as each trial's numbers come back, in the order of the
    trials.
    """
    if not hasattr(data, "x_val") or not len(data.x_val):
        raise SpecError("sweep: the trials are compared on a validation split, and the data "
                        "has none: load it with val_size > 0 (e.g. --val-size 0.1)")
    configs = trial_configs(space, n_iter=n_iter, members=members, seed=seed, **fixed)
    check_trials(configs, data)
    t0 = time.perf_counter()
    joblib = needs(scheduler)
    client, owned = None, False
    if scheduler is not None:
        client, owned = (connect(scheduler), True) if isinstance(scheduler, str) \
            else (scheduler, False)
        scheduler = client.scheduler.address
        n_jobs, per_trial = -1, threads or 1
        backend: Any = joblib.parallel_config(backend="dask", scatter=[data], client=client)
    else:
        n_jobs = max(1, min(jobs or cpu_count(), len(configs)))
        per_trial = threads or max(1, cpu_count() // n_jobs)
        backend = joblib.parallel_config(backend="loky")
    trials: list[dict[str, Any]] = []
    nets: list[Network | None] = []
    best, best_net = -1, None
    try:
        with backend:
            run = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(
                joblib.delayed(run_trial)(c, data, per_trial) for c in configs)
            for result, net in run:
                trials.append(result)
                if members is not None:
                    nets.append(net)
                if _better(result, trials[best] if best >= 0 else None):
                    best, best_net = len(trials) - 1, net
                if on_trial is not None:
                    on_trial(result)
    finally:
        if owned:
            client.close()
    varied = [k for k in KEYS if len({repr(t["config"].get(k)) for t in trials}) > 1]
    out = SweepResult(trials, best, best_net, scheduler=scheduler,  # type: ignore[arg-type]
                      seconds=time.perf_counter() - t0, varied=varied)
    if members is not None:
        done = [n for n in nets if n is not None]
        if not done:
            raise TrainingError("sweep: no member completed an epoch (all diverged)")
        ens = Ensemble(done)
        ens.meta = dict(done[0].meta, members=len(done))
        val = ens.evaluate(data.x_val, data.y_val)
        test = ens.evaluate(data.x_test, data.y_test) if data.y_test is not None \
            and len(data.x_test) else (None, None)
        out.model = ens
        out.ensemble = {"members": len(done), "val_loss": val[0], "val_accuracy": val[1],
                        "test_loss": test[0], "test_accuracy": test[1]}
    elif best < 0:
        raise TrainingError("sweep: no trial completed an epoch (all diverged): try lower "
                            "learning rates")
    return out
