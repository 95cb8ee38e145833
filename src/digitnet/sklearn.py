"""digitnet as a scikit-learn classifier: ``DigitnetClassifier`` (the ``[sklearn]`` extra).

    >>> from digitnet.sklearn import DigitnetClassifier
    >>> clf = DigitnetClassifier("784-128-10", epochs=5).fit(ds.x_train, ds.y_train)
    >>> clf.score(ds.x_test, ds.y_test)                  # accuracy
    >>> GridSearchCV(clf, {"model": ["784-64-10", "784-256-10"], "lr": [0.03, 0.1]}, n_jobs=2)

The parameters are the architecture (``model``: a preset or spec string, with ``activation``,
``init``, ``dropout``) and the training options of ``dn.train`` (``epochs``, ``optimizer``,
``lr``, ``batch_size``, ``schedule``, ``warmup``, ``augment``, ``label_smoothing``,
``weight_decay``, ``momentum``, ``betas``, ``seed``); None means the model's recipe
(``dn.training_options``), as on the command line. ``elastic=PIXELS`` (0 to 8) adds the elastic
warp to the augmentation (``Augment(elastic=...)``, ``digitnet train --elastic``) and implies
``augment=True``.

Data: X is (N, features), one image per row; digitnet's images are (N, 784) floats in [0, 1]
(``dn.load_dataset``), and the values are used as given (scale other data first, e.g. a
``MinMaxScaler`` in a ``Pipeline``). The spec is fitted to the data: the first number of a dense
spec becomes the number of features (so "784-128-10" also fits 64-pixel images or 4 iris
measurements) and the last number of any spec becomes the number of classes found in y (any
labels: strings, -1/1, ...; ``classes_`` keeps them, sorted, and the network answers 0..C-1).
A convolutional spec takes images of its shape (28x28x1 unless it starts with e.g. 8x8x1):
X must have that many columns, else ``fit`` raises a ValueError.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .extras import missing

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:
    raise missing("sklearn", e) from None

from .augment import ELASTIC_MAX, Augment
from .errors import SpecError
from .nn.network import Network
from .nn.specs import PRESETS, build_network, is_dense_spec
from .recipes import training_options
from .train import History, train

#: the checks of ``sklearn.utils.estimator_checks.check_estimator`` that fail, and why: pass it
#: as ``check_estimator(clf, expected_failed_checks=EXPECTED_FAILED_CHECKS)``. (scikit-learn
#: >= 1.6 takes the list there: estimator tags no longer carry one.) With ``float64=True`` every
#: check passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    name: "float32 arithmetic: BLAS rounds a row's products differently with other rows around "
          "it, so a row's probabilities differ by a few float32 units in the last place (~1e-7)"
          " between batches; the check allows 1e-7 (float64=True passes it)"
    for name in ("check_methods_subset_invariance", "check_methods_sample_order_invariance")}


class ParameterError(SpecError, ValueError):
    """A parameter of the estimator that digitnet cannot train with (a ValueError, as
    scikit-learn expects, and a DigitnetError)."""


class _Pause(Exception):
    """Raised from ``train``'s ``on_epoch`` to stop a run after an epoch (it can be resumed)."""


def fitted_spec(model: str, n_features: int, n_classes: int) -> tuple[str, float | None]:
    """(the spec for data of ``n_features`` columns and ``n_classes`` classes, the preset's
    dropout or None): a dense spec's first number becomes ``n_features``, any spec's last number
    ``n_classes``; a convolutional spec must take images of ``n_features`` values."""
    if not isinstance(model, str) or not model.strip():
        raise ParameterError(f"model must be a preset ({', '.join(PRESETS)}) or a spec string "
                             f"such as '784-128-10', got {model!r}")
    spec, dropout = model.strip().lower(), None
    if spec in PRESETS:
        spec, dropout = PRESETS[spec]
    tokens = [t.strip() for t in spec.split("-")]
    if not tokens[-1].isdigit():
        raise ParameterError(f"model {model!r} must end with a number (the output layer; it "
                             f"is set to the number of classes), e.g. '784-128-10'")
    tokens[-1] = str(n_classes)
    if is_dense_spec(spec):
        if len(tokens) < 2:
            raise ParameterError(f"model {model!r}: a dense spec has an input and an output "
                                 f"size, e.g. '784-128-10'")
        tokens[0] = str(n_features)
    else:
        shape = tokens[0] if "x" in tokens[0] else "28x28x1"
        size = int(np.prod([int(v) for v in shape.split("x")])) if all(
            v.isdigit() for v in shape.split("x")) else None
        if size != n_features:
            raise ParameterError(
                f"model {model!r} takes {shape} images ({size} values per row), X has "
                f"{n_features} columns: use a dense spec (e.g. '{n_features}-128-{n_classes}'), "
                f"or start the spec with the images' shape (e.g. '8x8x1-conv8-pool2-"
                f"{n_classes}' for 8x8 images)")
    return "-".join(tokens), dropout


class DigitnetClassifier(ClassifierMixin, BaseEstimator):
    """A digitnet network trained by ``fit``; see the module's docstring for the parameters.

    Fitted attributes: ``classes_`` (the labels, sorted), ``n_features_in_``, ``network_`` (the
    trained ``dn.Network``: ``dn.save_model(clf.network_, "model.npz")`` keeps it, with its
    class names), ``history_`` (its ``dn.History``), ``n_iter_`` (epochs trained).

    The same seed gives the same network, bit for bit, when the thread count is the same
    (``threads=1``, or ``DIGITNET_THREADS``); by default digitnet picks the threads from the
    CPUs other processes leave free, at every epoch (see ``digitnet.threads``)."""

    def __init__(self, model: str = "mlp", *, activation: str = "relu", init: str | None = None,
                 dropout: float | None = None, epochs: int | None = None,
                 optimizer: str | None = None, lr: float | None = None,
                 batch_size: int | None = None, schedule: str | None = None,
                 warmup: float | None = None, augment: bool | None = None,
                 elastic: float | None = None,
                 label_smoothing: float | None = None, weight_decay: float | None = None,
                 momentum: float | None = None, betas: tuple[float, float] | None = None,
                 seed: int = 0, float64: bool = False, threads: int | None = None,
                 verbose: bool = False) -> None:
        self.model = model
        self.activation = activation
        self.init = init
        self.dropout = dropout
        self.epochs = epochs
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.schedule = schedule
        self.warmup = warmup
        self.augment = augment
        self.elastic = elastic
        self.label_smoothing = label_smoothing
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.betas = betas
        self.seed = seed
        self.float64 = float64
        self.threads = threads
        self.verbose = verbose

    # --- scikit-learn's protocol ----------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.poor_score = False
        return tags

    def fit(self, X: Any, y: Any) -> DigitnetClassifier:
        """Build the network for X's columns and y's classes and train it for ``epochs`` (the
        recipe's by default) from the start, whatever an earlier fit did."""
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self._build(X.shape[1])
        self._run(X, y_index, epochs=self._options()["epochs"])
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> DigitnetClassifier:
        """One epoch more on (X, y).

        - First call (before any fit): builds the network for ``classes`` (all the labels that
          will come; default: those in y) and trains the first epoch of a run of ``epochs``
          epochs (its learning-rate schedule spans them).
        - Next calls on as many images (the usual case: the same training set, epoch by epoch)
          resume that run (``dn.train(..., resume=True)``): the optimizer's state, the
          schedule's position and the random generators go on, so ``epochs`` calls give the
          same network, bit for bit (same threads), as ``fit``.
        - Once the run's ``epochs`` are done, each call extends it by one epoch: the run
          resumed with a total of one epoch more (a cosine schedule's rate rises again to its
          value at done/(done+1) of a run, then decays to 0 over that epoch).
        - On a different number of images (chunks of a stream), a run cannot be resumed: the
          call trains one epoch of a new one-epoch run on them (the weights go on; the
          optimizer state and the schedule start afresh).
        """
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64], reset=first)
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.asarray(classes)
            check_classification_targets(labels)
            self.classes_ = np.unique(labels)
            self._build(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={list(np.unique(classes))} differs from the classes of "
                             f"the first partial_fit ({list(self.classes_)})")
        y_index = self._encode(y)
        state = getattr(self.network_, "train_state", None)
        if first:
            self._run(X, y_index, epochs=self._options()["epochs"], stop_after=1)
        elif state is not None and state.options.get("n_train") == len(X):
            total = max(state.options["epochs"], state.epochs_done + 1)
            self._run(X, y_index, epochs=total, resume=True, stop_after=state.epochs_done + 1)
        else:
            self._run(X, y_index, epochs=1)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return self.network_.predict_proba(X).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """(N,) the most probable label of each row (one of ``classes_``)."""
        check_is_fitted(self, "network_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # --- inside -----------------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        """The training options: those set, the model's recipe for the rest."""
        given = {k: getattr(self, k) for k in ("epochs", "optimizer", "lr", "batch_size",
                                               "schedule", "warmup", "augment",
                                               "label_smoothing", "betas", "momentum",
                                               "weight_decay")}
        given["elastic"] = self._elastic()
        try:
            return training_options(self.model, **given)
        except (SpecError, TypeError) as e:
            raise ParameterError(str(e)) from None

    def _build(self, n_features: int) -> None:
        if len(self.classes_) < 2:
            raise ValueError(f"DigitnetClassifier needs at least 2 classes to tell apart; y "
                             f"has only one class: {self.classes_[0]!r}")
        spec, preset_dropout = fitted_spec(self.model, n_features, len(self.classes_))
        dropout = preset_dropout if self.dropout is None else self.dropout
        try:
            net = build_network(spec, activation=self.activation, init=self.init,
                                dropout=dropout, seed=self.seed,
                                dtype=np.float64 if self.float64 else np.float32)
        except SpecError as e:
            raise ParameterError(str(e)) from None
        net.meta["class_names"] = [str(c) for c in self.classes_]
        net.meta["spec"] = spec
        self.network_: Network = net

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Labels -> their index in ``classes_``; a label not among them is a ValueError."""
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise ValueError(f"y has labels the classifier was not set up for: "
                             f"{sorted(set(np.asarray(y)[unknown].tolist()))[:5]} (classes_ "
                             f"is {list(self.classes_)}; pass classes= to the first "
                             f"partial_fit)")
        return index

    def _augment(self, augment: Any, elastic: float, n_features: int) -> Augment | None:
        """The Augment for images of this shape (training_options has checked the two)."""
        if not augment:
            return None
        spec = self.network_.meta["spec"]
        first = spec.split("-")[0]
        if "x" in first:
            h, w, c = (int(v) for v in first.split("x"))
            if c == 1:
                return Augment(image_shape=(h, w), elastic=elastic)
        elif n_features == 784:
            return Augment(elastic=elastic)
        raise ParameterError(f"augment=True (and elastic) move 28x28 (or HxWx1) images; these "
                             f"rows have {n_features} values: set augment=False")

    def _elastic(self) -> float | None:
        """``elastic`` checked: None when unset (the recipe's); a number of pixels in
        [0, ELASTIC_MAX]."""
        if self.elastic is None:
            return None
        try:
            value = float(self.elastic)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0 <= value <= ELASTIC_MAX:  # also nan
            raise ParameterError(f"elastic must be a number of pixels from 0 to {ELASTIC_MAX} "
                                 f"(2 is a good start), got {self.elastic!r}")
        return value

    def _run(self, X: np.ndarray, y: np.ndarray, *, epochs: int, resume: bool = False,
             stop_after: int | None = None) -> None:
        """Train ``network_`` on (X, y): a new run of ``epochs`` epochs, or (``resume``) the
        run it carries, with a total of ``epochs``; ``stop_after``: stop after that epoch."""
        options = self._options()
        net = self.network_

        def pause(net: Any) -> None:
            if stop_after is not None and net.train_state.epochs_done >= stop_after:
                raise _Pause

        try:
            with contextlib.suppress(_Pause):
                if resume:
                    train(net, X, y, epochs=epochs, resume=True, threads=self.threads,
                          progress=bool(self.verbose), on_epoch=pause)
                else:
                    options.update(epochs=epochs, augment=self._augment(
                        options["augment"], options.pop("elastic"), X.shape[1]))
                    if options["warmup"] > epochs:
                        options["warmup"] = epochs
                    train(net, X, y, seed=self.seed, threads=self.threads,
                          progress=bool(self.verbose), on_epoch=pause, **options)
        except SpecError as e:
            if isinstance(e, ParameterError):
                raise
            raise ParameterError(str(e)) from None
        state = net.train_state  # type: ignore[attr-defined]
        self.history_ = History.from_dict(state.history)
        self.n_iter_ = state.epochs_done
