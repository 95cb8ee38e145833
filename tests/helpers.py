"""Small helpers shared by the tests."""

import json
import tracemalloc
from typing import Any

import numpy as np

import digitnet as dn


def last_json(text: str) -> Any:
    """The JSON object on the last line of a command's output (what --json prints)."""
    return json.loads(text.strip().splitlines()[-1])


class MyDense(dn.Layer):
    """The README's learner-written dense layer (its "Gradient checks" section): ``bug=True``
    has the README's bug in db, the mean over the batch instead of the sum (the loss already
    divides by N, so db comes out N times too small); ``bug=False`` is the fixed layer."""

    def __init__(self, n_in: int, n_out: int, bug: bool = False) -> None:
        super().__init__()
        self.n_in, self.n_out, self.bug = n_in, n_out, bug
        W = np.random.default_rng(0).standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)  # He
        self.params = {"W": W, "b": np.zeros(n_out)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        self.X = X
        return X @ self.params["W"] + self.params["b"]

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        self.grads["W"] = self.X.T @ dZ
        self.grads["b"] = dZ.mean(axis=0) if self.bug else dZ.sum(axis=0)
        return dZ @ self.params["W"].T

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out}


def peak(fn, *args):
    """(what fn(*args) returned or raised, the peak of Python and NumPy allocations in bytes)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 - returned for the test to look at
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def phone_photo(x28: np.ndarray, path, size: tuple[int, int] = (4000, 3000), seed: int = 0):
    """A 12-megapixel JPEG like a phone's photo of one digit written on paper: the MNIST digit
    ``x28`` (28, 28) in [0, 1] scaled to 60% of the photo's height, dark grey ink on off-white
    paper lit unevenly, with sensor noise (which is what makes such a JPEG several MB)."""
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    side = int(0.6 * h)
    ink = np.asarray(Image.fromarray(np.asarray(x28, np.float32)).resize(
        (side, side), Image.Resampling.BILINEAR))
    gray = 0.8 + 0.12 * np.linspace(0, 1, w, dtype=np.float32)[None, :]  # light from one side
    gray = np.repeat(gray, h, axis=0)
    top, left = (h - side) // 2, int(0.45 * w)
    gray[top:top + side, left:left + side] -= 0.65 * np.clip(ink, 0, 1)
    gray += rng.normal(0, 0.03, gray.shape).astype(np.float32)
    rgb = np.clip(gray[..., None] * np.array([1.0, 0.97, 0.9], np.float32), 0, 1)
    Image.fromarray(np.uint8(rgb * 255)).save(path, "JPEG", quality=92)
    return path
