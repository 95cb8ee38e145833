"""Is it a digit at all? A letter, a smiley, a line or noise, prepared MNIST-style, still gets a
class from a network trained on digits, and often a confident one (a smiley read as "0" with
probability 0.999). ``judge`` says which inputs look like digits, and why not.

    X (N, 784) or (N, 28, 28), MNIST-style, ink 1 on 0
      -> "almost no ink"                  when the input has less ink than MIN_INK (sum of pixels)
      -> detector d(X) in [0, 1]          a small network that tells digits from non-digits
         d < threshold: "looks like a letter or a drawing, not like a digit"

The detector is one model file shipped with digitnet (``data/judge.npz``, conv 5x5 stride 2 ->
conv 3x3 -> 2x2 max pool -> dense -> sigmoid), trained by ``tools/train_judge.py`` on the shipped
MNIST sample (its digits as they are, and pasted into photo-like images and prepared again) against
images of ``data/nondigits.py`` (letters, strokes, scribbles, blobs, dots, lines, frames, noise,
smileys, X's) prepared like a user's file. Its ``threshold`` (in the file's ``meta["judge"]``)
accepts 99.5% of the sample's validation digits. It looks only at the input, so it serves every
digitnet model, old model files too, and any object with ``predict_proba`` (an ensemble): the
model's own scores (max probability, max logit, energy, distance of its features to the class
means) were measured too and told non-digits apart much worse (bench/not_a_digit.py, README
"Not a digit").

It applies to models that read digits; for others (Fashion-MNIST) every input counts as theirs.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError
from .modelfile import load_model
from .nn.layers import as_rows
from .nn.network import Network

#: the shipped detector
DETECTOR = Path(__file__).parent / "data" / "judge.npz"
#: inputs with less ink than this (sum of the 784 pixel values) are "almost no ink"; an MNIST
#: digit has about 100 (its faintest ones about 20)
MIN_INK = 5.0
NO_INK = "almost no ink"


@functools.lru_cache(maxsize=1)
def detector() -> tuple[Network, float]:
    """The shipped detector network and its threshold (loaded once)."""
    net = load_model(DETECTOR)
    t = net.meta.get("judge", {}).get("threshold")
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t < 1 \
            or not math.isfinite(t) or net.n_inputs != 784 or net.n_outputs != 1:
        raise ModelFileError(f"{DETECTOR} is not digitnet's digit detector (meta.judge.threshold "
                             f"must be a number in (0, 1)): reinstall digitnet")
    return net, float(t)


def applies(model: Any) -> bool:
    """Whether ``model`` reads digits (class names "0".."9", or one-vs-rest on a digit), so that
    "not a digit" means something for it; False for Fashion-MNIST and other classes."""
    meta = getattr(model, "meta", None) or {}
    if meta.get("dataset") == "fashion-mnist":
        return False
    names = list(getattr(model, "class_names", []) or [])
    if meta.get("binary_target") is not None:
        return True
    return bool(names) and all(n in {str(d) for d in range(10)} for n in names)


def digit_scores(X: np.ndarray) -> np.ndarray:
    """The detector's score per input, (N,) in [0, 1]: near 1 for a digit, near 0 otherwise."""
    net, _ = detector()
    return net.predict_proba(as_rows(np.asarray(X, np.float32)))[:, 1]


def judge(model: Any, X: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Which of the MNIST-style inputs ``X`` (N, 784) or (N, 28, 28) look like digits:
    (is_digit (N,) bool, reasons) where reasons[i] is None for a digit and otherwise says why
    not, in plain words. ``model`` is the model that reads them (only whether it reads digits at
    all is asked of it: see ``applies``)."""
    X = np.asarray(X, np.float32)
    n = len(X)
    X = X.reshape(n, X[0].size if n else 784)
    if not applies(model) or n == 0:
        return np.ones(n, bool), [None] * n
    ink = X.sum(axis=1)
    score = digit_scores(X)
    _, threshold = detector()
    empty = ink < MIN_INK
    ok = ~empty & (score >= threshold)
    reasons: list[str | None] = [
        None if good else NO_INK if none else
        f"looks like a letter or a drawing, not like any digit the model knows (score {s:.2f}, "
        f"digits score at least {threshold:.2f})"
        for good, none, s in zip(ok.tolist(), empty.tolist(), score.tolist(), strict=True)]
    return ok, reasons
