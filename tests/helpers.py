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
