"""Step-by-step parity with PyTorch: the same network, initial weights and minibatches, trained in
float64 by digitnet and by its PyTorch twin (bench/compare.py builds it); prints the largest
difference of the batch losses over the steps, and of the weights after them.

In float64 two correct implementations agree to ~1e-12 over dozens of steps; a difference of
1e-3 or more means the two compute different things (this found MaxPool2D giving a tied
maximum's gradient to every tied position, which a random-input gradient check cannot see:
MNIST's blank background makes such ties common).

    python bench/twin_parity.py                       # the presets (dropout left out), 40 steps
    python bench/twin_parity.py --steps 100 --specs lenet5 --optimizers adam

Needs PyTorch (the [bench] extra) and the MNIST IDX files (default ../shared/data/mnist).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SPECS = ["784-512-10", "lenet5", "conv32-pool2-conv64-bn-pool2-256-10", "fast",
         "conv8s2-avgpool2-conv16k5v-gap-10"]
OPTIMIZERS = ["sgd", "momentum", "adam"]
LR = {"sgd": 0.05, "momentum": 0.05, "adam": 1e-3}
BATCH = 128


def without_dropout(spec: str) -> str:
    """The spec with its dropout layers left out (their random masks differ between the two)."""
    import digitnet as dn

    spec = dn.nn.specs.PRESETS.get(spec, (spec, 0))[0]
    return re.sub(r"-drop[0-9.]+", "", spec)


def run(spec: str, optimizer: str, steps: int, x: np.ndarray, y: np.ndarray) -> tuple[float,
                                                                                       float]:
    import torch
    from compare import torch_twin

    import digitnet as dn
    from digitnet.optim import make_optimizer

    net = dn.build_network(without_dropout(spec), seed=0, dtype=np.float64)
    model = torch_twin(net).double()
    opt = make_optimizer(optimizer, net, LR[optimizer])
    if optimizer == "adam":
        topt = torch.optim.Adam(model.parameters(), lr=LR[optimizer])
    else:
        topt = torch.optim.SGD(model.parameters(), lr=LR[optimizer],
                               momentum=0.9 if optimizer == "momentum" else 0.0)
    lossf = torch.nn.CrossEntropyLoss()
    worst = 0.0
    for i in range(steps):
        xb, yb = x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]
        ours, _ = net.train_step(xb, yb)
        opt.step()
        topt.zero_grad()
        theirs = lossf(model(torch.from_numpy(xb)), torch.from_numpy(yb.astype(np.int64)))
        theirs.backward()
        topt.step()
        worst = max(worst, abs(ours - theirs.item()))
    ws = [p for _, p, _ in net.parameters()]
    ts = [p.detach().numpy() for p in model.parameters()]
    wdiff = 0.0
    for w, t in zip(ws, ts, strict=True):  # the twin keeps W as (out, in[, k, k])
        t = t.transpose(2, 3, 1, 0) if t.ndim == 4 else t.T if t.ndim == 2 else t
        wdiff = max(wdiff, float(np.abs(w - t).max()))
    return worst, wdiff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--specs", default=",".join(SPECS))
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    a = p.parse_args()
    import torch

    import digitnet as dn

    torch.set_num_threads(1)
    ds = dn.load_dataset(a.data, val_size=0)
    x, y = ds.x_train[:a.steps * BATCH].astype(np.float64), ds.y_train[:a.steps * BATCH]
    print(f"{'spec':<40}{'optimizer':<10}{'max |loss diff|':>16}{'max |W diff|':>14}  "
          f"({a.steps} steps of {BATCH}, float64)")
    for spec in a.specs.split(","):
        for optimizer in a.optimizers.split(","):
            loss, w = run(spec, optimizer, a.steps, x, y)
            flag = "" if max(loss, w) < 1e-8 else "   <- differs"
            print(f"{without_dropout(spec):<40}{optimizer:<10}{loss:>16.2e}{w:>14.2e}{flag}")


if __name__ == "__main__":
    main()
