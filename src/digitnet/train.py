"""The training loop: shuffled minibatches, an optimizer step per batch, a learning-rate schedule,
a progress bar, a per-epoch history, early stopping, and safe stops (NaN loss, Ctrl-C).

    for epoch in 1..E:
        shuffle the training set (seeded)
        for each batch (X, y) of B images:
            L, Z = net.train_step(X, y)      # forward, loss, backward: fills every dW, db
            optimizer.step()                 # W -= lr * dW (or momentum / Adam)
        evaluate on the validation split; stop early if it stopped improving
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .augment import Augment, augmentation
from .errors import SpecError, TrainingError
from .heap import give_back, keep_freed_memory
from .nn.calibration import MIN_CALIBRATION_IMAGES
from .nn.calibration import calibrate as fit_calibration
from .nn.checks import label_problem
from .nn.network import Network
from .nn.sizes import check_batch
from .optim import default_lr, get_schedule, make_optimizer
from .parallel import Replicas, worth_replicas
from .threads import LoadMeter, blas_threads, choose, forced


@dataclass
class History:
    """What happened in training: one entry per epoch, plus the loss of every batch."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: the threads each epoch computed with (chosen from the CPUs other processes left free)
    threads: list[int] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    #: "completed", "early_stopping", "interrupted" or "diverged"
    stop_reason: str = "completed"
    best_epoch: int | None = None
    #: True when Ctrl-C stopped the last epoch part-way (its numbers cover the images it saw)
    partial_epoch: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def complete_epochs(self) -> int:
        """Epochs that went through every training image with a finite loss: 0 means the
        weights never finished one pass (diverged or interrupted in the first epoch)."""
        return len(self.epoch) - self.partial_epoch

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def plot(self, per: str = "both") -> Any:
        """Loss per iteration, loss and accuracy per epoch: a matplotlib Figure (shown in a
        notebook; ``.savefig("curves.png")`` elsewhere). See ``digitnet.plots.loss_curves``."""
        from .plots import loss_curves  # matplotlib is imported only when plotting

        return loss_curves(self, per=per)


#: the options of ``train`` a saved run keeps and continues with (``TrainState.options``)
RUN_OPTIONS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "warmup", "weight_decay",
               "momentum", "betas", "label_smoothing", "patience", "seed", "augment")


@dataclass
class TrainState:
    """Where a run stands, so that ``train(net, data, resume=True)`` continues it exactly as if
    it had never stopped: the run's options, the epochs and optimizer steps done, the state of
    every random generator (the order of the images, augmentation, dropout masks), the
    optimizer's state (Momentum's velocity, Adam's moments and step counts) and the history.
    Stopped part-way through an epoch (Ctrl-C), it also keeps that epoch's order of the images
    and where in it the run was.

    ``train`` leaves it on the network as ``net.train_state`` after every epoch (and when
    stopped); ``save_model(net, path, resumable=True)`` (``digitnet train --resumable``) keeps
    it in the model file, ``load_model`` gives it back."""

    options: dict[str, Any]
    epochs_done: int
    step: int
    rng: dict[str, Any]
    layer_rngs: dict[str, dict[str, Any]]
    optimizer: dict[str, Any]
    optimizer_arrays: dict[str, np.ndarray]
    history: dict[str, Any]
    best_loss: float | None = None
    #: mid-epoch: {"next": first image index not yet trained on, "loss_sum", "correct", "seen",
    #: "seconds"}; None at the end of an epoch
    position: dict[str, Any] | None = None
    perm: np.ndarray | None = None

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON values, arrays) for a model file."""
        info = {k: getattr(self, k) for k in ("options", "epochs_done", "step", "rng",
                                              "layer_rngs", "optimizer", "history",
                                              "best_loss", "position")}
        arrays = {f"opt.{k}": a for k, a in self.optimizer_arrays.items()}
        if self.perm is not None:
            arrays["perm"] = self.perm
        return info, arrays


def _augment_option(augment: Augment | bool | None) -> Any:
    """The augment option as JSON: False, or an Augment's ranges."""
    return asdict(augment) if isinstance(augment, Augment) else False


def progress_bar() -> type[Any]:
    """The progress bar class for where training runs: in Jupyter, tqdm's widget bar when
    ipywidgets is installed; everywhere else (and in Jupyter without ipywidgets) the text bar
    on stderr. (``tqdm.auto`` would warn "IProgress not found" in a notebook without
    ipywidgets.) tqdm is imported here, not with digitnet: it takes a while to import."""
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    if (shell is not None and "IPKernelApp" in getattr(shell, "config", {})
            and importlib.util.find_spec("ipywidgets") is not None):
        from tqdm import notebook

        if notebook.IProgress is not None:  # None when ipywidgets is too old for tqdm
            return notebook.tqdm
    from tqdm.std import tqdm as text_bar

    return text_bar


@contextlib.contextmanager
def _smoothing(loss: Any, eps: float) -> Iterator[None]:
    """The loss's label smoothing set to ``eps`` for the run, then put back."""
    before = getattr(loss, "smoothing", 0.0)
    if hasattr(loss, "smoothing"):
        loss.smoothing = float(eps)
    try:
        yield
    finally:
        if hasattr(loss, "smoothing"):
            loss.smoothing = before


class _StopOnCtrlC:
    """While active, the first Ctrl-C only sets a flag (training stops after the current batch);
    a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> _StopOnCtrlC:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(net: Network, x: Any, y: np.ndarray | None = None, *,
          x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
          epochs: int | None = None, batch_size: int = 128, optimizer: str = "adam",
          lr: float | None = None, schedule: str = "cosine", warmup: float = 0.0,
          weight_decay: float = 0.0, momentum: float | None = None,
          betas: tuple[float, float] | None = None, label_smoothing: float = 0.0,
          patience: int | None = None, seed: int = 0, augment: Augment | bool | None = None,
          elastic: float = 0.0, threads: int | None = None, progress: bool = True,
          resume: bool = False, on_epoch: Callable[[Network], None] | None = None,
          calibrate: bool = True) -> History:
    """Train ``net`` in place and return its History.

    ``x`` is either a Dataset (its train and validation splits are used) or an array of images
    (N, 784) with labels ``y`` (N,). ``patience``: stop when the validation loss has not improved
    for that many epochs, and keep the best weights. ``augment``: a random transform applied to
    every training batch (``True`` or ``Augment()``: small rotations, scalings and shifts).
    ``elastic``: also bend each training image by a smooth random warp that moves its points up
    to that many pixels (implies ``augment``; see ``augment.augmentation``).
    ``warmup``: epochs over which the learning rate ramps up linearly from 0 to the schedule's
    rate (large first steps can kill ReLU units for good: a warmup lets them settle first).
    ``momentum`` (Momentum's mu), ``betas`` (Adam's b1, b2): see ``optim.make_optimizer``.
    ``label_smoothing``: eps of the training targets, (1 - eps) one-hot + eps / classes.
    ``threads``: how many threads to compute with; by default (or ``DIGITNET_THREADS``) chosen
    again at every epoch from the CPUs other processes leave free (see ``digitnet.threads``).
    ``calibrate``: at the end, fit the temperature of ``predict_proba``'s softmax(Z / T) on the
    validation split (when it has at least MIN_CALIBRATION_IMAGES images; see
    nn/calibration.py); it is kept in ``net.meta["calibration"]`` and saved with the model.
    A calibration from before training is dropped either way: the scores change.
    The same seed gives the same weights, bit for bit. If the loss becomes NaN or infinite, the
    weights of the last good epoch are restored and TrainingError is raised (its ``history``
    attribute holds what was done). ``epochs`` defaults to 10.

    ``resume=True`` continues the run ``net.train_state`` describes (left by an earlier
    ``train``, or read from a model file saved with ``resumable=True``) with that run's options;
    ``epochs`` is then the run's new total (default: the one it was given). A run stopped
    after epoch k (or part-way through it) and resumed ends with the same weights, bit for bit,
    as one that never stopped, when both compute with the same number of threads (networks
    with Dropout: on one thread; several threads draw their masks from copies made when the
    threads start). A finished run resumed with a larger total goes on with the schedule of a
    run of that many epochs, from where it stands: a cosine schedule's rate rises again (a
    warm restart), then decays to 0 at the new end. With ``patience``, the best weights seen
    before the stop are not kept in the file: early stopping after a resume keeps the best
    since. ``on_epoch(net)`` is called after every complete epoch (``digitnet train
    --resumable`` saves a checkpoint there).
    """
    if hasattr(x, "x_train"):
        ds = x
        x, y = ds.x_train, ds.y_train
        if x_val is None and len(ds.x_val):
            x_val, y_val = ds.x_val, ds.y_val
    if y is None:
        raise SpecError("train() needs labels: pass train(net, x, y) or a Dataset")
    x = net.check_input(x)
    problem = label_problem(x, y, net.n_classes, net.n_inputs)
    if problem:
        raise SpecError(problem)
    y = np.asarray(y).astype(np.int64)
    if len(x) == 0:
        raise SpecError("there are no training images: pass at least one image and its label")
    if x_val is not None:
        x_val = net.check_input(x_val)
        problem = label_problem(x_val, y_val, net.n_classes, net.n_inputs)
        if problem:
            raise SpecError(f"validation set: {problem}")
        y_val = np.asarray(y_val).astype(np.int64)
    augment = augmentation(augment, elastic)
    state: TrainState | None = None
    if resume:
        state = _state_to_resume(net, len(x), {
            "batch_size": batch_size, "optimizer": optimizer, "lr": lr, "schedule": schedule,
            "warmup": warmup, "weight_decay": weight_decay, "momentum": momentum,
            "betas": betas, "label_smoothing": label_smoothing, "patience": patience,
            "seed": seed, "augment": _augment_option(augment)})
        o = state.options
        batch_size, optimizer, lr, schedule = o["batch_size"], o["optimizer"], o["lr"], \
            o["schedule"]
        warmup, weight_decay, momentum, label_smoothing = o["warmup"], o["weight_decay"], \
            o["momentum"], o["label_smoothing"]
        betas = tuple(o["betas"]) if o["betas"] is not None else None
        patience, seed = o["patience"], o["seed"]
        augment = Augment(**{**o["augment"], "image_shape": tuple(o["augment"]["image_shape"])}) \
            if o["augment"] else None
        epochs = o["epochs"] if epochs is None else epochs
        if epochs <= state.epochs_done and state.position is None:
            raise SpecError(f"the saved run has done {state.epochs_done} epochs: to go on, give "
                            f"a larger total number of epochs (e.g. {state.epochs_done + 5})")
        if epochs < state.epochs_done + 1:
            raise SpecError(f"the saved run stopped in epoch {state.epochs_done + 1}: the total "
                            f"must be at least that, got {epochs}")
    epochs = 10 if epochs is None else epochs
    if epochs < 1 or batch_size < 1:
        raise SpecError(f"epochs and batch size must be at least 1, got {epochs}, {batch_size}")
    check_batch(net, min(batch_size, len(x)), "batch_size")
    if not 0 <= warmup <= epochs:
        raise SpecError(f"warmup must be between 0 and the number of epochs ({epochs}), "
                        f"got {warmup}")
    lr = default_lr(optimizer, lr)
    opt = make_optimizer(optimizer, net, lr, weight_decay, momentum=momentum, betas=betas)
    factor = get_schedule(schedule)
    if not (isinstance(label_smoothing, int | float) and 0 <= label_smoothing < 1):
        raise SpecError(f"label smoothing must be in [0, 1), got {label_smoothing!r}")
    if label_smoothing and not hasattr(net.loss, "smoothing"):
        raise SpecError(f"label smoothing is for softmax outputs, not {net.loss.name}")
    run_options = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
                   "schedule": schedule, "warmup": warmup, "weight_decay": weight_decay,
                   "momentum": momentum, "betas": list(betas) if betas is not None else None,
                   "label_smoothing": label_smoothing, "patience": patience, "seed": seed,
                   "augment": _augment_option(augment), "n_train": len(x)}
    net.meta.pop("calibration", None)  # fitted to the weights before training
    rng = np.random.default_rng(seed)
    n = len(x)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = warmup * steps_per_epoch
    hist = History()
    step, first_epoch = 0, 1
    best_loss, best_weights, best_state = math.inf, None, None
    with_rngs = {str(i): layer for i, layer in enumerate(net.layers)
                 if isinstance(getattr(layer, "rng", None), np.random.Generator)}
    if state is not None:
        rng.bit_generator.state = state.rng
        for i, layer in with_rngs.items():
            layer.rng.bit_generator.state = state.layer_rngs[i]
        opt.load_state_dict(state.optimizer, state.optimizer_arrays)
        hist = History.from_dict(copy.deepcopy(state.history))
        hist.stop_reason, hist.partial_epoch = "completed", False
        step, first_epoch = state.step, state.epochs_done + 1
        if state.best_loss is not None:
            best_loss, best_weights = state.best_loss, net.get_weights()

    def snapshot(done: int, position: dict[str, Any] | None = None,
                 perm: np.ndarray | None = None) -> TrainState:
        info, arrays = opt.state_dict()
        return TrainState(
            options=run_options, epochs_done=done, step=step,
            rng=rng.bit_generator.state, optimizer=info, optimizer_arrays=arrays,
            layer_rngs={i: layer.rng.bit_generator.state for i, layer in with_rngs.items()},
            history=hist.as_dict(),  # (asdict copies the lists)
            best_loss=None if math.isinf(best_loss) else float(best_loss), position=position,
            perm=None if perm is None else perm.copy())

    good_weights = net.get_weights()
    Bar = progress_bar()

    forced(threads)  # a bad count fails before training
    meter = LoadMeter()
    replicas: Replicas | None = None

    def stop_replicas() -> None:
        nonlocal replicas
        if replicas is not None:
            replicas.close()
            replicas = None

    with _StopOnCtrlC() as ctrl_c, _smoothing(net.loss, label_smoothing), \
            contextlib.ExitStack() as pool, contextlib.ExitStack() as cleanup:
        cleanup.callback(stop_replicas)  # however training ends
        keep_freed_memory()  # the same pages for every batch (see heap.py) ...
        cleanup.callback(give_back)  # ... and back to the system at the end
        for epoch in range(first_epoch, epochs + 1):
            pool.close()  # the threads of the epoch before
            hist.threads.append(choose(threads, meter))
            if replicas is not None and replicas.n != hist.threads[-1]:
                stop_replicas()
            if hist.threads[-1] > 1 and replicas is None and worth_replicas(net):
                replicas = Replicas(net, hist.threads[-1])
            # several threads: each computes a part of the batch with one BLAS thread, or
            # BLAS has them all (a dense network: see parallel.worth_replicas)
            pool.enter_context(blas_threads(1 if replicas else hist.threads[-1]))
            train_step = replicas.train_step if replicas else net.train_step
            t0 = time.perf_counter()
            at = state.position if state is not None and epoch == first_epoch else None
            if at is not None and state is not None and state.perm is not None:
                # the epoch a run stopped in: its order of the images, from where it stopped
                perm, start = state.perm, int(at["next"])
                loss_sum, correct, seen = float(at["loss_sum"]), int(at["correct"]), \
                    int(at["seen"])
                t0 -= float(at["seconds"])
            else:
                perm, start, loss_sum, correct, seen = rng.permutation(n), 0, 0.0, 0, 0
            bar = Bar(total=n, initial=seen, desc=f"epoch {epoch}/{epochs}", unit="img",
                      leave=False, disable=not progress, mininterval=0.5, dynamic_ncols=True)
            for i in range(start, n, batch_size):
                idx = perm[i:i + batch_size]
                xb, yb = x[idx], y[idx]
                if augment is not None:  # on the replicas' threads: the same images, sooner
                    xb = augment(xb, rng, pool=replicas.pool if replicas else None,
                                 parts=replicas.parts(len(xb)) if replicas else 1)
                opt.lr = lr * factor(step / total_steps)
                if step < warmup_steps:
                    opt.lr *= (step + 1) / warmup_steps
                with np.errstate(over="ignore", invalid="ignore"):  # NaN is checked below
                    loss, Z = train_step(xb, yb)
                if not math.isfinite(loss):
                    net.set_weights(good_weights)
                    hist.stop_reason = "diverged"
                    bar.close()
                    kept = ("the weights of the last good epoch were kept" if hist.epoch else
                            "no epoch had completed: the weights from before training were kept")
                    err = TrainingError(
                        f"the loss became {loss} in epoch {epoch} (batch {i // batch_size + 1}):"
                        f" training diverged. Try a lower learning rate than {lr:g}"
                        f" (e.g. --lr {lr / 10:g}); {kept}."
                    )
                    err.history = hist  # type: ignore[attr-defined]
                    raise err
                opt.step()
                step += 1
                hist.batch_loss.append(loss)
                loss_sum += loss * len(yb)
                correct += int(np.count_nonzero(net.loss.labels(Z) == yb))
                seen += len(yb)
                bar.update(len(yb))
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}",
                                    refresh=False)
                if ctrl_c.requested:
                    break
            bar.close()
            if ctrl_c.requested and seen < n:  # stopped part-way: resume goes on from here
                net.train_state = snapshot(epoch - 1, {  # type: ignore[attr-defined]
                    "next": i + batch_size, "loss_sum": loss_sum, "correct": correct,
                    "seen": seen, "seconds": time.perf_counter() - t0}, perm)
            hist.epoch.append(epoch)
            hist.loss.append(loss_sum / max(seen, 1))
            hist.accuracy.append(correct / max(seen, 1))
            hist.lr.append(opt.lr)
            if x_val is not None and len(x_val):
                vl, va = net.evaluate(x_val, y_val)
                hist.val_loss.append(vl)
                hist.val_accuracy.append(va)
            hist.seconds.append(time.perf_counter() - t0)
            if progress:
                Bar.write(_epoch_line(hist), file=sys.stderr)
            good_weights = net.get_weights()
            if ctrl_c.requested and seen < n:
                hist.stop_reason, hist.partial_epoch = "interrupted", True
                break
            improved = patience is not None and hist.val_loss and hist.val_loss[-1] < best_loss
            if improved:
                best_loss, best_weights = hist.val_loss[-1], good_weights
                hist.best_epoch = epoch
            net.train_state = snapshot(epoch)  # type: ignore[attr-defined]
            if improved:
                best_state = net.train_state  # type: ignore[attr-defined]
            if on_epoch is not None:
                on_epoch(net)
            if ctrl_c.requested:
                hist.stop_reason = "interrupted"
                break
            if patience is not None and hist.val_loss and not improved \
                    and epoch - (hist.best_epoch or 0) >= patience:
                hist.stop_reason = "early_stopping"
                break
    if best_weights is not None and hist.stop_reason == "early_stopping":
        net.set_weights(best_weights)
        if best_state is not None:
            net.train_state = best_state  # type: ignore[attr-defined]
    if calibrate and x_val is not None and len(x_val) >= MIN_CALIBRATION_IMAGES:
        c = fit_calibration(net, x_val, y_val)
        if progress:
            Bar.write(f"calibrated: temperature {c['temperature']:.3f} fitted on "
                      f"{c['n']:,} validation images (their loss {c['nll_before']:.4f} -> "
                      f"{c['nll_after']:.4f})", file=sys.stderr)
    return hist


def _state_to_resume(net: Network, n: int, given: dict[str, Any]) -> TrainState:
    """``net.train_state``, checked against the training images and the options passed to
    ``train`` (an option passed with a value other than its default and the run's is an
    error: a resumed run goes on with its own options)."""
    state = getattr(net, "train_state", None)
    if not isinstance(state, TrainState):
        raise SpecError("this network carries no training state to resume: train it with "
                        "dn.train (or load a model file saved with resumable=True, e.g. "
                        "`digitnet train --resumable --out model.npz`)")
    if state.options.get("n_train") != n:
        raise SpecError(f"the saved run trained on {state.options.get('n_train')} images, these "
                        f"are {n}: resume on the same training images (the same data, "
                        f"--train-size, --val-size and --seed)")
    if state.position is not None and state.perm is None:
        raise SpecError("the saved run stopped part-way through an epoch but its order of the "
                        "images is missing")
    defaults = {k: p.default for k, p in inspect.signature(train).parameters.items()}
    defaults["augment"] = False
    for key, value in given.items():
        saved = state.options[key]
        if key == "betas" and value is not None:
            value = list(value)
        if value != defaults[key] and value != saved:
            raise SpecError(f"resume=True goes on with the saved run's options: its {key} is "
                            f"{saved!r}, got {value!r} (leave it out)")
    return state


def _epoch_line(h: History) -> str:
    line = (f"epoch {h.epoch[-1]:>3}  loss {h.loss[-1]:.4f}  acc {h.accuracy[-1]:.4f}")
    if h.val_loss:
        line += f"  val_loss {h.val_loss[-1]:.4f}  val_acc {h.val_accuracy[-1]:.4f}"
    return line + f"  lr {h.lr[-1]:.2g}  {h.seconds[-1]:.1f}s"
