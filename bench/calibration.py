"""Honest confidence on full MNIST: the expected calibration error (ECE, 15 equal-width bins) on
the 10,000 test images before and after temperature scaling, for digitnet's presets.

    python bench/calibration.py                          # mlp and fast, MNIST from ../shared
    python bench/calibration.py --models fast --seeds 0 1 2
    python bench/calibration.py --model-file runs/cnn.npz   # a model trained elsewhere

Each preset is trained as `digitnet train --data DIR --model NAME` trains it (its recipe, 10% of
the training images held out for validation, the seed), then its temperature is fitted on that
validation split (`dn.calibrate`) and both are measured on the test images, which neither
training nor the fit saw. A model file is measured as it is and after fitting its temperature on
the validation split its file says it was trained with (data path, seed and sizes from
meta["training"]); the file itself is not changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import digitnet as dn

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"


def measure(net: dn.Network, ds: dn.Dataset) -> dict:
    """Accuracy, NLL and ECE on the test split at T = 1 and at the network's temperature."""
    Z = net.logits(ds.x_test)
    y = ds.y_test
    out = {"accuracy": float(np.mean(Z.argmax(1) == y)), "T": net.temperature}
    for tag, T in (("before", 1.0), ("after", net.temperature)):
        P = net.probabilities(Z, temperature=T)
        out[f"ece_{tag}"] = dn.reliability(P, y)["ece"]
        out[f"nll_{tag}"] = net.loss.value(Z / T, y)
    return out


def line(name: str, r: dict, extra: str = "") -> str:
    return (f"{name}: test accuracy {r['accuracy']:.4f}; T {r['T']:.3f}; test ECE "
            f"{r['ece_before']:.2%} -> {r['ece_after']:.2%}; test NLL {r['nll_before']:.4f} -> "
            f"{r['nll_after']:.4f}{extra}")


def run_preset(name: str, seed: int, data: str) -> str:
    ds = dn.load_dataset(data, val_size=0.1, seed=seed)
    net = dn.build_network(name, seed=seed)
    t0 = time.perf_counter()
    hist = dn.train(net, ds, **dn.training_options(name), seed=seed, progress=False,
                    calibrate=False)
    seconds = time.perf_counter() - t0
    dn.calibrate(net, ds.x_val, ds.y_val)
    return line(f"{name} seed {seed}", measure(net, ds),
                f" ({hist.epoch[-1]} epochs in {seconds:.0f}s; T fitted on {len(ds.y_val):,} "
                f"validation images)")


def run_file(path: str, data: str) -> str:
    net = dn.load_model(path)
    tr = net.meta.get("training") or {}
    seed = tr.get("seed") or 0
    val = tr.get("val_size") if tr.get("val_size") is not None else 0.1
    ds = dn.load_dataset(data, val_size=val, seed=seed, train_size=tr.get("train_size"))
    if net.temperature != 1:
        net.meta.pop("calibration")
    dn.calibrate(net, ds.x_val, ds.y_val)
    return line(f"{path}", measure(net, ds),
                f" (T fitted on the {len(ds.y_val):,}-image validation split of seed {seed})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the MNIST IDX files")
    p.add_argument("--models", nargs="*", default=["mlp", "fast"], help="presets to train")
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--model-file", nargs="*", default=[], help="saved models to measure too")
    args = p.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"no MNIST folder at {args.data}: pass --data DIR")
    print(f"load average {os.getloadavg()[0]:.2f}; {args.data}", flush=True)
    for name in args.models:
        for seed in args.seeds:
            print(run_preset(name, seed, args.data), flush=True)
    for path in args.model_file:
        print(run_file(path, args.data), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
