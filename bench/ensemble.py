"""Accuracy of saved models alone, joined into an ensemble, and with test-time augmentation, on
the 10,000 MNIST test images; and what each costs to predict.

    python bench/ensemble.py --data ~/mnist run0.npz run1.npz run2.npz

For each number of views (1, 5 and 9: the image and its 1-pixel shifts): each model's test
accuracy, then the ensemble of each leading subset (the first 2, 3, ... models: order the files
so that these are the ensembles you want), each line with the seconds the 10,000 predictions
took (an ensemble's: the sum of its members'; load average printed first: the times move with
it, the accuracies do not). Each model predicts once per number of views; an ensemble's
probabilities are the mean of its members', as ``dn.Ensemble`` computes them.

    python bench/ensemble.py --data ~/mnist --subsets a.npz b.npz c.npz d.npz

``--subsets``: instead, the best ensemble of each size among all subsets of the networks (an
ensemble's answer is the mean of its members' probabilities over the views, so each network's
are computed once per number of views and the subsets only average them).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np

import digitnet as dn
from digitnet.nn.ensemble import TTA_SHIFTS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="saved model files (each one network or more)")
    p.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    p.add_argument("--views", default="1,5,9", help="numbers of views to try (default 1,5,9)")
    p.add_argument("--subsets", action="store_true",
                   help="the best subset of each size instead of the leading ones")
    args = p.parse_args()
    views = [int(v) for v in args.views.split(",")]
    if not set(views) <= set(TTA_SHIFTS):
        p.error(f"--views: each one of {', '.join(map(str, TTA_SHIFTS))}")
    ds = dn.load_dataset(args.data, val_size=0)
    x, y = ds.x_test, ds.y_test
    print(f"load average {os.getloadavg()[0]:.2f}; {len(x):,} test images")
    nets, names = [], []
    for path in args.models:
        m = dn.load_model(path)
        members = m.members if isinstance(m, dn.Ensemble) else [m]
        nets.extend(members)
        names.extend([path] if len(members) == 1 else [f"{path}[{j}]" for j in range(len(members))])

    if args.subsets:
        best_subsets(nets, views, x, y, names)
        return
    # each network's probabilities once per number of views; an ensemble's are their mean (as
    # dn.Ensemble computes them), and its time the sum of its members'
    for v in views:
        probs, seconds = member_probabilities(nets, v, x)
        label = f"{v} view{'s' * (v > 1)}"
        for i in range(len(nets)):
            report(f"network {i} ({label})", probs[i], y, seconds[i])
        for k in range(2, len(nets) + 1):
            report(f"ensemble of {k} ({label})", np.mean(probs[:k], axis=0), y,
                   sum(seconds[:k]))
    for i, name in enumerate(names):
        print(f"network {i}: {name}")


def member_probabilities(nets: list[dn.Network], views: int, x: np.ndarray
                         ) -> tuple[list[np.ndarray], list[float]]:
    """Each network's class probabilities averaged over ``views`` views of x, and the seconds
    each took."""
    probs, seconds = [], []
    for net in nets:
        t0 = time.perf_counter()
        model = dn.Ensemble([net], tta=views) if views > 1 else net
        probs.append(model.predict_proba(x).astype(np.float64))
        seconds.append(time.perf_counter() - t0)
    return probs, seconds


def report(name: str, probs: np.ndarray, y: np.ndarray, seconds: float) -> None:
    errors = int(np.sum(probs.argmax(1) != y))
    print(f"{name:<34} {100 - errors / len(y) * 100:6.2f}%  {errors:4d} errors  {seconds:6.1f} s")


def best_subsets(nets: list[dn.Network], views: list[int], x: np.ndarray, y: np.ndarray,
                 names: list[str]) -> None:
    """Print the best subset of each size, for each number of views."""
    for v in views:
        probs, seconds = member_probabilities(nets, v, x)
        print(f"{v} view{'s' * (v > 1)}: the networks' probabilities in {sum(seconds):.0f} s")
        for k in range(1, len(nets) + 1):
            errors, members = min(
                (int(np.sum(np.mean([probs[i] for i in c], axis=0).argmax(1) != y)), c)
                for c in itertools.combinations(range(len(nets)), k))
            print(f"  best of {k}: {100 - errors / len(y) * 100:6.2f}%  {errors:4d} errors  "
                  f"networks {', '.join(str(i) for i in members)}")
    for i, name in enumerate(names):
        print(f"network {i}: {name}")


if __name__ == "__main__":
    main()
