"""Where a training step's time goes: forward and backward of each layer, and the optimizer.

Times one minibatch step at a time on random inputs (the layers' cost does not depend on the
pixel values), after a few warm-up steps, and prints milliseconds per step for every layer.

    python bench/profile_layers.py                 # the lenet5 preset, batch 128
    python bench/profile_layers.py cnn --steps 20
    OMP_NUM_THREADS=1 python bench/profile_layers.py 784-512-10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import digitnet as dn
from digitnet.optim import make_optimizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default="lenet5", help="a preset or spec (default lenet5)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--optimizer", default="momentum")
    a = p.parse_args()
    net = dn.build_network(a.spec, seed=0)
    rng = np.random.default_rng(0)
    X = rng.random((a.batch_size, net.n_inputs), dtype=np.float32)
    y = rng.integers(0, net.n_classes, a.batch_size)
    opt = make_optimizer(a.optimizer, net, 0.01)
    for _ in range(5):
        net.train_step(X, y)
        opt.step()
    fwd = [0.0] * len(net.layers)
    bwd = [0.0] * len(net.layers)
    t_opt = 0.0
    t_all = time.perf_counter()
    for _ in range(a.steps):
        A = X
        for i, layer in enumerate(net.layers):
            t = time.perf_counter()
            A = layer.forward(A, training=True)
            fwd[i] += time.perf_counter() - t
        net.loss.forward(A, y)
        d = net.loss.backward()
        for i in reversed(range(len(net.layers))):
            t = time.perf_counter()
            d = net.layers[i].backward(d)
            bwd[i] += time.perf_counter() - t
            if d is None:
                break
        t = time.perf_counter()
        opt.step()
        t_opt += time.perf_counter() - t
    total = (time.perf_counter() - t_all) / a.steps * 1e3
    print(f"{a.spec}, batch {a.batch_size}: {total:.2f} ms per step "
          f"({a.batch_size / total * 1e3:,.0f} images/s)")
    ms = 1e3 / a.steps
    for i, layer in enumerate(net.layers):
        print(f"{i:3d} {layer!r:52.52s} forward {fwd[i] * ms:7.2f} ms  "
              f"backward {bwd[i] * ms:7.2f} ms")
    print(f"    {a.optimizer} step {t_opt * ms:.2f} ms")


if __name__ == "__main__":
    main()
