"""Network: a sequence of layers and a loss; forward, backward, predict and the parameters."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DigitnetError, SpecError, TrainingError
from ..heap import keep_freed_memory
from ..threads import SHARED, blas_threads, choose, executor
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .checks import images_problem, label_problem
from .conv import Conv2D, Flatten, fuse_pooling
from .layers import BatchNorm, Dense, Dropout, Layer, as_rows
from .losses import LOSSES, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy
from .sizes import layer_plan

if TYPE_CHECKING:
    from ..trace import StepTrace

#: layers that output as many values per image as they take, so the network's input width is
#: that of the next layer (Flatten: the next layer's, as check_input flattens images anyway)
_WIDTH_KEEPING = (ReLU, LeakyReLU, Sigmoid, Tanh, Dropout, BatchNorm, Flatten)

#: values of the largest layer per forward pass when predicting (see Network._forward_rows)
FORWARD_VALUES = 2**21
#: images per forward pass when predicting: at least, at most
FORWARD_ROWS = (32, 1000)


class Network:
    """A stack of layers trained with one loss.

    ``forward`` runs the layers in order, ``backward`` runs them in reverse:

        X -> layer_1 -> ... -> layer_L -> Z (scores)      loss(Z, y) -> L,  dZ
        dZ -> layer_L.backward -> ... -> layer_1.backward  (fills every layer's grads)

    ``seed`` re-draws all parameters from one generator, so the same seed gives the same network
    bit for bit; ``seed=None`` keeps the layers' parameters as they are.
    """

    def __init__(self, layers: Sequence[Layer], loss: str = SoftmaxCrossEntropy.name,
                 seed: int | None = 0, dtype: Any = np.float32) -> None:
        if not layers:
            raise SpecError("a network needs at least one layer")
        if loss not in LOSSES:
            raise SpecError(f"unknown loss {loss!r}: use one of {', '.join(LOSSES)}")
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise SpecError(f"layer {i} is a {type(layer).__name__}, not a layer: a network "
                                f"takes a list of layers, e.g. [dn.Dense(784, 10)]; a layer of "
                                f"your own subclasses dn.Layer")
            missing = [a for a in ("params", "grads", "state") if not hasattr(layer, a)]
            if missing:
                raise SpecError(f"layer {i} ({type(layer).__name__}) has no "
                                f"{' or '.join(missing)}: its __init__ must call "
                                f"super().__init__() before setting self.params")
        self.loss = LOSSES[loss]()
        self.dtype = np.dtype(dtype)
        self.meta: dict[str, Any] = {}
        self._n_outputs: tuple[tuple[int, ...], int] | None = None  # (layer ids, width)
        if seed is not None:
            self.initialize(seed)
        else:
            self.astype(dtype)
        # Gradients w.r.t. the input images are never needed: skip them up to the first
        # layer with parameters (for a 784-512-10 net that saves a third of the backward pass).
        for layer in self.layers:
            layer.needs_input_grad = False
            if layer.params:
                break

    # --- parameters -----------------------------------------------------------------------
    def initialize(self, seed: int) -> None:
        """Redraw every layer's parameters from one generator seeded with ``seed``. A layer of
        your own without an ``initialize`` method keeps the parameters it made (converted to
        the network's dtype)."""
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.initialize(rng, self.dtype)
        self.astype(self.dtype)

    def astype(self, dtype: Any) -> Network:
        """Convert every layer's params, grads and state to ``dtype`` (in new arrays).

        A layer of your own that keeps float64 arrays (NumPy's default) in a float32 network is
        converted here. One that also keeps a parameter under another name (``self.W`` as well
        as ``self.params["W"]``) would be left using the old array and stop learning: that is a
        SpecError saying so."""
        self.dtype = np.dtype(dtype)
        for i, layer in enumerate(self.layers):
            arrays = [a for d in (layer.params, layer.grads, layer.state) for a in d.values()]
            if all(getattr(a, "dtype", None) == self.dtype for a in arrays):
                continue
            held = [f"self.{name}" for name, v in vars(layer).items()
                    if any(v is a for a in arrays)]
            if held:
                kind = next(a.dtype for a in arrays if getattr(a, "dtype", None) != self.dtype)
                raise SpecError(
                    f"layer {i} ({type(layer).__name__}) has {kind} arrays but the network is "
                    f"{self.dtype}, and it also keeps them as {', '.join(held)}: converting "
                    f"self.params would leave {held[0]} behind, so the layer would not learn. "
                    f"Use only self.params / self.grads in forward and backward, or create "
                    f"the arrays as {self.dtype} (.astype(np.{self.dtype})), or build the "
                    f"network with dtype=np.{kind}"
                )
            layer.astype(self.dtype)
        return self

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        """Yield (name, parameter, gradient) for every parameter, e.g. ("0.W", W, dW).

        A layer that makes its gradients only in its first backward gives None before it."""
        for i, layer in enumerate(self.layers):
            for k, p in layer.params.items():
                yield f"{i}.{k}", p, layer.grads.get(k)

    @property
    def n_params(self) -> int:
        return sum(p.size for _, p, _ in self.parameters())

    def states(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (name, array) for every non-trained array, e.g. ("3.running_mean", ...)."""
        for i, layer in enumerate(self.layers):
            for k, a in layer.state.items():
                yield f"{i}.{k}", a

    @property
    def n_inputs(self) -> int:
        """Values per input image: the first layer's ``n_in`` (784 for Dense(784, ..) or
        Reshape(28, 28, 1)), past activations, Dropout, BatchNorm and Flatten."""
        for i, layer in enumerate(self.layers):
            n_in = getattr(layer, "n_in", None)
            if n_in is not None:
                return int(n_in)
            if not isinstance(layer, _WIDTH_KEEPING):
                raise SpecError(
                    f"layer {i} ({type(layer).__name__}) does not say how many values per image "
                    f"it takes, so the network cannot check its inputs: give it an n_in "
                    f"attribute (self.n_in = n_in in its __init__)"
                )
        raise SpecError("the network's first layers do not say how many inputs they take: "
                        "start it with Dense(n_in, ...) or Reshape(28, 28, 1)")

    @property
    def n_outputs(self) -> int:
        """Scores per image: the last layer's output width. A Dense layer's ``n_out``; for any
        other last layer, found by running one image of zeros through the network (once: it is
        remembered until the list of layers changes)."""
        last = self.layers[-1]
        if type(last) is Dense:
            return last.n_out
        key = tuple(map(id, self.layers))
        if self._n_outputs is None or self._n_outputs[0] != key:
            A = np.zeros((1, self.n_inputs), self.dtype)
            for i, layer in enumerate(self.layers):
                try:
                    A = layer.forward(A, training=False)
                except DigitnetError:
                    raise
                except Exception as e:
                    raise SpecError(
                        f"cannot tell how many scores this network outputs: layer {i} "
                        f"({type(layer).__name__}) failed on one image of zeros "
                        f"({type(e).__name__}: {e})"
                    ) from e
            if np.ndim(A) != 2 or len(A) != 1:
                raise SpecError(
                    f"the last layer ({type(last).__name__}) gives an array of shape "
                    f"{np.shape(A)} for one image; a network must end with scores of shape "
                    f"(N, n_classes)"
                )
            self._n_outputs = (key, int(A.shape[1]))
        return self._n_outputs[1]

    @property
    def thread_safe(self) -> bool:
        """Whether several threads may predict with this network at once: digitnet's own layers
        keep nothing when predicting; a learner's layer may (``self.X = X`` in its forward)."""
        return all(type(layer).__module__.startswith(__package__ + ".")
                   for layer in self.layers)

    @property
    def n_classes(self) -> int:
        """Classes the network tells apart: 2 for a one-output sigmoid network."""
        return 2 if isinstance(self.loss, SigmoidBinaryCrossEntropy) else self.n_outputs

    @property
    def class_names(self) -> list[str]:
        """One name per class: ``meta["class_names"]`` (a model file keeps them: Fashion-MNIST's
        names, ``["not 7", "7"]`` for one-vs-rest), else "0".."C-1"."""
        return list(self.meta.get("class_names") or [str(c) for c in range(self.n_classes)])

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter and state array (in a fixed order)."""
        return [p.copy() for _, p, _ in self.parameters()] + [a.copy() for _, a in self.states()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        arrays = [p for _, p, _ in self.parameters()] + [a for _, a in self.states()]
        for p, w in zip(arrays, weights, strict=True):
            p[...] = w

    # --- passes ---------------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """X:(N, n_inputs) -> Z:(N, n_outputs), the scores before softmax/sigmoid, one layer
        after the other. Training, a first convolution and the max pool right after it run
        as one step (``Conv2D.pooled_forward``: the same numbers, ~2x faster for cnn's pair
        on one thread), and ``backward`` then runs ``Conv2D.pooled_backward`` for both."""
        self._pooled: set[int] = set()
        i = 0
        while i < len(self.layers):
            layer = self.layers[i]
            pool = self.layers[i + 1] if i + 1 < len(self.layers) else None
            if (training and type(layer) is Conv2D and not layer.needs_input_grad
                    and X.ndim == 4 and layer.pools_by_phase(pool, X.shape[2])):
                X = layer.pooled_forward(X, pool, training=True)
                self._pooled.add(i + 1)
                i += 2
                continue
            X = layer.forward(X, training)
            i += 1
        return X

    def backward(self, dZ: np.ndarray) -> None:
        """Propagate dZ = dL/dZ back through every layer, filling each layer's grads."""
        pooled = getattr(self, "_pooled", set())
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i in pooled:  # this pool and the convolution before it, as forward ran them
                self.layers[i - 1].pooled_backward(dZ)
                break
            dZ = layer.backward(dZ)
            if dZ is None:
                if layer.needs_input_grad and i > 0:
                    raise TrainingError(
                        f"layer {i} ({type(layer).__name__}).backward returned None: it must "
                        f"return dX, the gradient w.r.t. its input, for the layers before it"
                    )
                break

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward and backward pass on a batch; returns (mean loss, scores Z)."""
        Z = self.forward(X, training=True)
        loss = self.loss.forward(Z, y)
        self.backward(self.loss.backward())
        return loss, Z

    def trace(self, X: np.ndarray, y: np.ndarray, *, lr: float | None = None,
              optimizer: str = "sgd", layout: str = "rows") -> StepTrace:
        """One training step on the minibatch (X, y), layer by layer: every Z, A, dZ, dW, db
        with its shape and a few numbers, the loss, and the update the optimizer applies.

        It runs on a copy, so this network does not change. ``print(net.trace(X, y))`` shows
        the table; ``layout="columns"`` shows the notebooks' view (one image per column,
        ``Z1 = W1 @ X + b1``). Returns a ``StepTrace`` (see ``digitnet.trace.trace_step``).
        """
        # the one call up the data path from here: tracing applies an optimizer (see
        # tests/test_imports.py); digitnet.trace imports this module only for type hints
        from ..trace import trace_step

        return trace_step(self, X, y, lr=lr, optimizer=optimizer, layout=layout)

    # --- use ------------------------------------------------------------------------------
    def check_input(self, X: np.ndarray) -> np.ndarray:
        """``X`` as an (N, n_inputs) array of the network's dtype, or a SpecError saying what to
        change."""
        X = np.asarray(X)
        n = self.n_inputs
        if X.ndim >= 2 and X.ndim != 2:
            X = as_rows(X)
        if X.ndim != 2 or X.shape[1] != n:
            columns = images_problem(X, n)
            if columns:
                raise SpecError(columns)
            one = " (one image? pass X.reshape(1, -1))" if X.shape == (n,) else ""
            raise SpecError(
                f"this network takes inputs of {n} values per image (N, {n}), one image per "
                f"row; got an array of shape {np.shape(X)}{one}"
            )
        return X.astype(self.dtype, copy=False)

    def _scores(self, X: np.ndarray, batch_size: int) -> list[np.ndarray]:
        """The scores Z of X in chunks of ``batch_size``; several chunks are computed on as many
        threads as the other processes leave free (evaluation-mode forward passes keep nothing
        on digitnet's layers, so the threads share the network), each with one BLAS thread.
        Each BatchNorm after a convolution or dense layer is folded into it (see
        ``fold_batchnorm``): the same scores to rounding, one pass over the data fewer; and each
        convolution with the max pool (and ReLU) after it runs as one ``ConvPool``."""
        rows = min(batch_size, self._forward_rows())
        chunks = [X[i:i + rows] for i in range(0, len(X), rows)]
        layers = fuse_pooling(fold_batchnorm(self.layers))
        keep_freed_memory()  # the chunks reuse the same pages (see heap.py)

        def scores(A: np.ndarray) -> np.ndarray:
            for layer in layers:
                A = layer.forward(A, False)
            return A

        n = min(len(chunks), choose(meter=SHARED)) if len(chunks) > 1 and self.thread_safe else 1
        if n == 1:
            return [scores(c) for c in chunks]
        with blas_threads(1):
            return list(executor(n).map(scores, chunks))

    def _forward_rows(self) -> int:
        """Images per forward pass when predicting: as many as keep the largest layer's values
        (``_predicting_values``) within FORWARD_VALUES (8 MiB of float32, where the caches
        still help), between FORWARD_ROWS. Measured on 2 cores (10,000 images, images/s by
        chunk, in one process, medians of 5-11 alternations): cnn 12.0k in 83, 12.2k in 128,
        12.3k in 167 (it gets 167); best 4.4k in 83, 4.5k in 128 (128); lenet5 41k in 106,
        40k in 200 and 445 (106); 784-512-10 185k in 128, 198k in 512, 202k in 1000 (1000)."""
        try:
            per_image = self._predicting_values()
        except Exception:  # a learner's own layer that cannot be planned: a middle value
            return 128
        return int(np.clip(FORWARD_VALUES // max(per_image, 1), *FORWARD_ROWS))

    def _predicting_values(self) -> int:
        """The most values one image makes in one layer when predicting: as ``plan_network``
        counts them (``layer_plan``), except that a BatchNorm after a Conv2D or Dense counts
        nothing (``fold_batchnorm``), and a Conv2D that
        - runs with the max pool after it as one ConvPool (``Conv2D.fuses_pool``; a
          BatchNorm between them is folded away): it holds one pooling phase of its output at
          a time and the pooled output, 2/q^2 of its output, and its padded input (the pool
          then counts its output only);
        - copies its windows a block of images at a time (``Conv2D.windows_in_blocks``): its
          output and its padded input."""
        most, shape, fused = 0, None, None
        layers = self.layers
        for i, (layer, spec) in enumerate(zip(layers, self.config()["layers"], strict=True)):
            _, out, values = layer_plan(str(spec.get("type")), spec, shape, "")
            if layer is fused:  # a pool run inside the ConvPool before it: its output only
                values = math.prod(out) if out is not None else values
            elif type(layer) is BatchNorm and i and type(layers[i - 1]) in (Conv2D, Dense):
                values = 0  # folded into the layer before it (fold_batchnorm)
            elif type(layer) is Conv2D and shape is not None and out is not None:
                padded = (shape[0] + 2 * layer.pad) * (shape[1] + 2 * layer.pad) * shape[2]
                after = [la for la in layers[i + 1:i + 3] if type(la) is not BatchNorm][:1]
                pool = after[0] if after else None
                if layer.fuses_pool(pool, shape[1]) and pool.size > 1:
                    values, fused = max(2 * math.prod(out) // pool.size ** 2, padded), pool
                elif layer.windows_in_blocks(shape[1]):
                    values = max(math.prod(out), padded)
            most, shape = max(most, values), out
        return most

    @property
    def temperature(self) -> float:
        """T of ``predict_proba``'s softmax(Z / T): ``meta["calibration"]["temperature"]``, set
        by ``calibrate`` (``train`` fits it on the validation split; see nn/calibration.py);
        1.0 for a network never calibrated."""
        record = self.meta.get("calibration")
        return float(record["temperature"]) if record else 1.0

    def logits(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """The scores Z before softmax/sigmoid (and before any temperature), (N, n_outputs)."""
        X = self.check_input(X)
        out = self._scores(X, batch_size)
        return np.concatenate(out) if out else np.zeros((0, self.n_outputs), self.dtype)

    def probabilities(self, Z: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Scores Z (N, n_outputs) -> class probabilities (N, n_classes) at ``temperature``
        (default: the network's own, ``self.temperature``): softmax(Z / T), or for a sigmoid
        network [1 - sigmoid(z / T), sigmoid(z / T)]. T > 0 keeps each row's argmax."""
        T = self.temperature if temperature is None else temperature
        return self.loss.probabilities(Z / np.asarray(T, Z.dtype) if T != 1 else Z)

    def predict_proba(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class probabilities, (N, n_classes); each row sums to 1. Calibrated: softmax(Z / T)
        with the network's ``temperature`` (1 unless it was calibrated)."""
        X = self.check_input(X)
        out = [self.probabilities(Z) for Z in self._scores(X, batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), self.dtype)

    def predict(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class per image, (N,) int64."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
        """(mean loss, accuracy) on a labelled set, without touching the gradients. The loss is
        that of the probabilities ``predict_proba`` gives: of Z / T for a calibrated network."""
        X = self.check_input(X)
        problem = label_problem(X, y, self.n_classes, self.n_inputs)
        if problem:
            raise SpecError(problem)
        y = np.asarray(y).astype(np.int64, copy=False)
        total, correct, i = 0.0, 0, 0
        T = self.temperature
        for Z in self._scores(X, batch_size):
            yb = y[i:i + len(Z)]
            i += len(Z)
            total += self.loss.value(Z / np.asarray(T, Z.dtype) if T != 1 else Z, yb) * len(yb)
            correct += int(np.sum(self.loss.labels(Z) == yb))
        n = max(len(X), 1)
        return total / n, correct / n

    # --- description ----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "layers": [{"type": type(layer).__name__, **layer.config()} for layer in self.layers],
            "loss": self.loss.name,
        }

    def summary(self) -> str:
        rows = [(str(i), repr(layer), sum(p.size for p in layer.params.values()))
                for i, layer in enumerate(self.layers)]
        rows.append(("", f"total ({self.dtype.name})", self.n_params))
        w = max(len(r[1]) for r in rows) + 2
        lines = [f"{'#':>3}  {'layer':<{w}}{'params':>10}"]
        lines += [f"{i:>3}  {name:<{w}}{n:>10,}" for i, name, n in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Network({self.layers!r}, loss={self.loss.name!r})"


def fold_batchnorm(layers: Sequence[Layer]) -> list[Layer]:
    """The layers of an evaluation pass with each BatchNorm that directly follows a Conv2D or
    Dense folded into that layer's weights. In evaluation BatchNorm is an affine map per
    channel, A = Z * scale + shift (``BatchNorm.scale_shift``), and Z = X W + b, so

        A = X (W * scale) + (b * scale + shift)       (scale on W's last axis, the channels)

    one layer instead of two, and one pass less over the largest arrays. Measured predicting
    10,000 images on 2 threads (medians of 5 alternations): cnn 8,700 -> 9,000 images/s, the
    deeper conv32-bn-pool2-conv64-bn-pool2-conv128-bn-pool2-256-10 6,100 -> 7,000.
    The folded layers are copies that share nothing writable with ``layers``; the network
    itself is unchanged. Learners' own subclasses are left as they are."""
    out: list[Layer] = []
    for layer in layers:
        before = out[-1] if out else None
        if (type(layer) is BatchNorm and type(before) in (Conv2D, Dense)
                and before.params["W"].shape[-1] == layer.n):
            scale, shift = layer.scale_shift()
            folded = copy.copy(before)
            W, b = before.params["W"], before.params["b"]
            folded.params = {"W": (W * scale).astype(W.dtype),
                             "b": (b * scale + shift).astype(b.dtype)}
            if isinstance(folded, Conv2D):
                folded._buffers = {}  # its own work arrays (evaluation makes new ones anyway)
            out[-1] = folded
        else:
            out.append(layer)
    return out
