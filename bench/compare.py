"""digitnet against PyTorch (CPU, 2 threads each) on the same network, trained the same way.

For each case both frameworks train the *same* architecture from the *same* initial weights
(digitnet's, copied into the torch model), with the same batch size, optimizer, learning rate,
per-step cosine schedule, number of epochs and shuffling, on full MNIST, each in a fresh process,
alternating digitnet / torch case by case. Printed per run: training samples/s, seconds per
epoch, inference samples/s (PyTorch: the faster of chunks of 1000 and 128 images; digitnet's
predict chooses its own chunks: the faster of two passes), test accuracy, peak memory (the
process's maximum resident set); then the ratio digitnet / PyTorch for throughput.

    pip install -e '.[bench]'          # PyTorch 2.13.0, CPU
    python bench/compare.py                              # all cases, 1 epoch each
    python bench/compare.py --cases lenet5 --epochs 20   # a full training run
    python bench/compare.py --repeat 3                   # 3 alternations per case (noise)
    python bench/compare.py --against /tmp/old/src       # this digitnet against another one
                                                         # (e.g. `git archive REV src`), not torch

Cases: mlp-sgd, mlp-adam (784-512-10), lenet5, cnn (digitnet's presets).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"
CASES = {  # name -> (spec, optimizer, lr)
    "mlp-sgd": ("784-512-10", "sgd", 0.1),
    "mlp-adam": ("784-512-10", "adam", 1e-3),
    "lenet5": ("lenet5", "momentum", 0.05),
    "cnn": ("cnn", "momentum", 0.05),
}
BATCH = 128


# --- the two workers -------------------------------------------------------------------------
def _data(path: str):
    import digitnet as dn

    ds = dn.load_dataset(path, val_size=0)
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def _schedule(step: int, total: int) -> float:
    from digitnet.optim import cosine

    return cosine(step / total)


def run_digitnet(case: str, epochs: int, data: str) -> dict:
    import numpy as np

    import digitnet as dn

    spec, opt, lr = CASES[case]
    x, y, xt, yt = _data(data)
    net = dn.build_network(spec, seed=0)
    hist = dn.train(net, x, y, epochs=epochs, batch_size=BATCH, optimizer=opt, lr=lr,
                    schedule="cosine", seed=0, progress=False)
    net.predict_proba(xt[:1000])
    infer = math.inf
    for _ in range(2):  # the faster of two passes, as PyTorch's (one per chunk size) below
        t = time.perf_counter()
        pred = net.predict(xt, batch_size=1000)
        infer = min(infer, time.perf_counter() - t)
    return {"epoch_seconds": hist.seconds, "test_accuracy": float(np.mean(pred == yt)),
            "infer_seconds": infer, "n_train": len(x), "n_test": len(xt)}


def torch_twin(net):
    """The torch twin of a digitnet network, with digitnet's weights copied in."""
    import numpy as np
    import torch
    from torch import nn

    from digitnet.nn import activations as A
    from digitnet.nn import conv as C
    from digitnet.nn import layers as L

    mods: list = []
    image = None  # (H, W, C) while the data are images
    for layer in net.layers:
        if isinstance(layer, C.Reshape):
            image = layer.shape
            h, w, c = image
            mods.append(nn.Unflatten(1, (h, w, c)))   # rows are NHWC, like digitnet's
            mods.append(_Permute(0, 3, 1, 2))           # -> NCHW for torch
        elif isinstance(layer, C.Conv2D):
            m = nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, layer.stride, layer.pad)
            m.weight.data = torch.from_numpy(
                np.ascontiguousarray(layer.params["W"].transpose(3, 2, 0, 1)))
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
            mods.append(m)
        elif isinstance(layer, C.AvgPool2D):
            mods.append(nn.AdaptiveAvgPool2d(1) if layer.size == 0 else nn.AvgPool2d(layer.size))
        elif isinstance(layer, C.MaxPool2D):
            mods.append(nn.MaxPool2d(layer.size))
        elif isinstance(layer, C.Flatten):
            mods.append(_Permute(0, 2, 3, 1))  # back to NHWC so the flattened order matches
            mods.append(nn.Flatten())
        elif isinstance(layer, L.Dense):
            m = nn.Linear(layer.n_in, layer.n_out)
            m.weight.data = torch.from_numpy(np.ascontiguousarray(layer.params["W"].T))
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
            mods.append(m)
        elif isinstance(layer, L.BatchNorm):
            m = (nn.BatchNorm2d if image is not None and not any(
                isinstance(x, nn.Flatten) for x in mods) else nn.BatchNorm1d)(
                layer.n, eps=layer.eps, momentum=1 - layer.momentum)
            mods.append(m)
        elif isinstance(layer, L.Dropout):
            mods.append(nn.Dropout(layer.p))
        elif isinstance(layer, A.ReLU):
            mods.append(nn.ReLU())
        else:
            raise SystemExit(f"compare.py has no torch twin for {layer!r}")
    return nn.Sequential(*mods)


class _Permute:  # a tiny module, defined lazily below (torch is imported only in its worker)
    def __new__(cls, *dims):
        from torch import nn

        class Permute(nn.Module):
            def forward(self, x):
                return x.permute(*dims)
        return Permute()


def run_torch(case: str, epochs: int, data: str) -> dict:
    import numpy as np
    import torch

    import digitnet as dn

    torch.set_num_threads(2)
    spec, opt, lr = CASES[case]
    x, y, xt, yt = _data(data)
    model = torch_twin(dn.build_network(spec, seed=0))
    if opt == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optim = torch.optim.SGD(model.parameters(), lr=lr,
                                momentum=0.9 if opt == "momentum" else 0.0)
    n = len(x)
    steps = epochs * -(-n // BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _schedule(s, steps))
    lossf = torch.nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)  # the same shuffles as digitnet's loop
    seconds = []
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        perm = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            optim.zero_grad(set_to_none=True)
            lossf(model(X[idx]), Y[idx]).backward()
            optim.step()
            sched.step()
        seconds.append(time.perf_counter() - t)
    model.eval()
    Xt = torch.from_numpy(xt)
    with torch.no_grad():  # the faster of two chunk sizes (PyTorch's CNNs: 128 ~2x faster)
        infer = math.inf
        for chunk in (1000, 128):
            model(Xt[:chunk])
            t = time.perf_counter()
            pred = torch.cat([model(Xt[i:i + chunk]).argmax(1)
                              for i in range(0, len(xt), chunk)])
            infer = min(infer, time.perf_counter() - t)
    return {"epoch_seconds": seconds, "test_accuracy": float((pred.numpy() == yt).mean()),
            "infer_seconds": infer, "n_train": n, "n_test": len(xt)}


# --- the driver ------------------------------------------------------------------------------
def worker(framework: str, case: str, epochs: int, data: str, src: str | None = None) -> dict:
    """Run one case in a fresh process; ``src``: a digitnet source folder to import instead."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--worker", framework, "--cases", case, "--epochs",
           str(epochs), "--data", data]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{framework} {case} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"from {', '.join(CASES)}")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="alternations per case")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--against", metavar="SRC",
                   help="compare with the digitnet in this source folder (its src/) instead of "
                        "PyTorch: speed before and after a change, in one run")
    p.add_argument("--worker", choices=["digitnet", "torch"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        run = run_digitnet if a.worker == "digitnet" else run_torch
        r = run(a.cases, a.epochs, a.data)
        # the worker's own peak resident set (Linux reports KiB), data loading included
        r["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(r))
        return 0
    if not Path(a.data).is_dir():
        raise SystemExit(f"no MNIST folder at {a.data}: pass --data DIR")
    other = "against" if a.against else "torch"
    print(f"MNIST {a.data}, batch {BATCH}, {a.epochs} epoch(s), 2 threads each, "
          f"{a.repeat} alternation(s) per case"
          + (f"; 'against' is the digitnet in {a.against}" if a.against else ""))
    print(f"{'case':<9}{'framework':<10}{'train img/s':>12}{'s/epoch':>9}{'infer img/s':>12}"
          f"{'test acc':>9}{'peak MiB':>9}")
    for case in a.cases.split(","):
        rates: dict[str, list[float]] = {"digitnet": [], other: []}
        infer: dict[str, list[float]] = {"digitnet": [], other: []}
        for _ in range(a.repeat):
            for fw in ("digitnet", other):
                r = worker("digitnet" if fw == "against" else fw, case, a.epochs, a.data,
                           a.against if fw == "against" else None)
                spe = statistics.median(r["epoch_seconds"])
                rates[fw].append(r["n_train"] / spe)
                infer[fw].append(r["n_test"] / r["infer_seconds"])
                print(f"{case:<9}{fw:<10}{r['n_train'] / spe:>12,.0f}{spe:>9.1f}"
                      f"{r['n_test'] / r['infer_seconds']:>12,.0f}{r['test_accuracy']:>9.4f}"
                      f"{r['peak_mib']:>9.0f}", flush=True)
        for what, d in (("training", rates), ("inference", infer)):
            ratio = [x / y for x, y in zip(d["digitnet"], d[other], strict=True)]
            print(f"{case:<9}digitnet/{other} {what} throughput: {statistics.median(ratio):.2f} "
                  f"(per alternation: {', '.join(f'{v:.2f}' for v in ratio)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
