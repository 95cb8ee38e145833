"""Weight initializers: how W starts decides whether a deep network can learn at all.

Each returns an array of shape (n_in, n_out) drawn with the given generator.

- he:     W ~ N(0, 2 / n_in)            keeps the variance of ReLU activations constant with depth
- glorot: W ~ U(-a, a), a = sqrt(6 / (n_in + n_out))   for sigmoid / tanh
- small:  W ~ N(0, 1) * 0.01            the course notebooks' choice; with 3+ layers the signal
                                        shrinks ~100x per layer and the network predicts one class
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import SpecError


def he(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)


def glorot(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, (n_in, n_out))


def small(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n_in, n_out)) * 0.01


INITIALIZERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "he": he,
    "glorot": glorot,
    "small": small,
}


def get_initializer(name: str) -> Callable[[int, int, np.random.Generator], np.ndarray]:
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise SpecError(
            f"unknown initializer {name!r}: use one of {', '.join(INITIALIZERS)}"
        ) from None
