"""Training on several cores: each minibatch split into parts, one thread per part.

NumPy runs its elementwise work (window copies, pooling, ReLU, ...) on one core and releases
Python's lock while it does; so ``Replicas`` keeps copies of the network that share its parameter
arrays but have their own caches, gradients and random generators, runs forward and backward on
one part of the minibatch in each thread (each with one BLAS thread), and combines the parts'
gradients into the network's:

    dW = sum over parts k of (m_k / m) dW_k        (the gradient of the mean loss of the batch)

which is exactly the full batch's gradient, but for two things: BatchNorm normalizes each part
with that part's statistics (its running statistics become the parts' mean), and Dropout draws
each part's mask from that part's generator. So a run is repeatable for a given seed and number
of threads, and the same to rounding for networks without BatchNorm and Dropout.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .nn.network import Network

#: a part smaller than this is not worth a thread of its own (measured: below ~32 images per
#: part, the threads' overhead eats the gain)
MIN_PART = 32


def worth_replicas(net: Network) -> bool:
    """Whether to split batches over threads (Replicas) rather than give BLAS the threads: for
    networks with convolutions, whose window copies, pooling and activations run on one core.
    Measured on 2 cores, one epoch of full MNIST, batch 128, three alternations: LeNet-5 5.3 s
    with replicas against 6.3 s with 2 BLAS threads, the fast preset 6.0 against 6.6 s; but a
    784-512-10 MLP 1.33 against 0.89 s (SGD) and 1.93 against 1.37 s (Adam): a dense network is
    its matmuls, which BLAS splits better than halves of a batch do."""
    from .nn.conv import Conv2D

    return any(isinstance(layer, Conv2D) for layer in net.layers)


class Replicas:
    """``n`` threads training ``net``: ``net`` itself computes the first part of each batch."""

    def __init__(self, net: Network, n: int) -> None:
        self.net, self.n = net, n
        self.copies = [net] + [self._copy(net, k) for k in range(1, n)]
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="digitnet")

    @staticmethod
    def _copy(net: Network, k: int) -> Network:
        twin = copy.deepcopy(net)
        for mine, theirs in zip(twin.layers, net.layers, strict=True):
            mine.params = theirs.params  # the same arrays: one optimizer step updates them all
            if hasattr(theirs, "rng"):  # its own masks, drawn from the network's seed
                mine.rng = np.random.default_rng([int(theirs.rng.integers(2**63)), k])
        return twin

    def parts(self, m: int) -> int:
        """How many threads a batch of ``m`` images is split over."""
        return max(1, min(self.n, m // MIN_PART))

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """``Network.train_step`` on (X, y), split over the threads: (mean loss, scores Z), and
        ``net``'s gradients hold the batch's."""
        k = self.parts(len(X))
        if k == 1:
            return self.net.train_step(X, y)
        bounds = np.linspace(0, len(X), k + 1).astype(int)
        for twin in self.copies[1:k]:  # start from the network's running statistics
            for (_, mine), (_, theirs) in zip(twin.states(), self.net.states(), strict=True):
                mine[...] = theirs
        jobs = [self.pool.submit(twin.train_step, X[a:b], y[a:b])
                for twin, a, b in zip(self.copies, bounds[:-1], bounds[1:], strict=False)]
        results = [job.result() for job in jobs]
        weights = np.diff(bounds) / len(X)
        for i, layer in enumerate(self.net.layers):
            for key, g in layer.grads.items():
                g *= g.dtype.type(weights[0])
                for twin, w in zip(self.copies[1:k], weights[1:], strict=True):
                    g += g.dtype.type(w) * twin.layers[i].grads[key]
            for key, s in layer.state.items():
                s *= s.dtype.type(weights[0])
                for twin, w in zip(self.copies[1:k], weights[1:], strict=True):
                    s += s.dtype.type(w) * twin.layers[i].state[key]
        loss = float(sum(w * r[0] for w, r in zip(weights, results, strict=True)))
        return loss, np.concatenate([r[1] for r in results])

    def close(self) -> None:
        self.pool.shutdown(wait=True)
