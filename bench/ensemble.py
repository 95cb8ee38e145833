"""Accuracy of saved models alone, joined into an ensemble, and with test-time augmentation, on
the 10,000 MNIST test images; and what each costs to predict.

    python bench/ensemble.py --data ~/mnist run0.npz run1.npz run2.npz

For each model: its test accuracy with 1, 5 and 9 views (the image and its 1-pixel shifts); then
the ensemble of all of them (and of each leading subset: the first 2, 3, ...) with 1, 5 and 9
views; each line with the seconds the 10,000 predictions took (load average printed first: the
times move with it, the accuracies do not).

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
    ds = dn.load_dataset(args.data, val_size=0)
    x, y = ds.x_test, ds.y_test
    print(f"load average {os.getloadavg()[0]:.2f}; {len(x):,} test images")
    nets, names = [], []
    for path in args.models:
        m = dn.load_model(path)
        members = m.members if isinstance(m, dn.Ensemble) else [m]
        nets.extend(members)
        names.extend([path] if len(members) == 1 else [f"{path}[{j}]" for j in range(len(members))])

    def line(name: str, model: dn.Network | dn.Ensemble) -> None:
        t0 = time.perf_counter()
        pred = model.predict(x)
        seconds = time.perf_counter() - t0
        acc = float(np.mean(pred == y))
        print(f"{name:<34} {acc * 100:6.2f}%  {len(y) - int(np.sum(pred == y)):4d} errors"
              f"  {seconds:6.1f} s")

    if args.subsets:
        best_subsets(nets, views, x, y, names)
        return
    for i, net in enumerate(nets):
        for v in views:
            line(f"network {i} ({v} view{'s' * (v > 1)})",
                 dn.Ensemble([net], tta=v) if v in TTA_SHIFTS and v > 1 else net)
    for k in range(2, len(nets) + 1):
        for v in views:
            line(f"ensemble of {k} ({v} view{'s' * (v > 1)})", dn.Ensemble(nets[:k], tta=v))


def best_subsets(nets: list[dn.Network], views: list[int], x: np.ndarray, y: np.ndarray,
                 names: list[str]) -> None:
    """Print the best subset of each size, for each number of views."""
    for v in views:
        t0 = time.perf_counter()
        probs = [(dn.Ensemble([net], tta=v) if v > 1 else net).predict_proba(x).astype(np.float64)
                 for net in nets]
        print(f"{v} view{'s' * (v > 1)}: the networks' probabilities in "
              f"{time.perf_counter() - t0:.0f} s")
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
