"""Time to accuracy on full MNIST (60,000 training images, the 10,000 test images), on this CPU.

Three competitors, each trained from scratch with a budget of epochs (the schedule spans the
budget, as speedruns do), in fresh processes, alternating, for several seeds:

- digitnet: the `fast` preset with its recipe (`digitnet train --model fast`);
- torch twin: the same network, the same initial weights (digitnet's, copied in), the same
  recipe (Adam and its betas, the one-cycle schedule, label smoothing, batch), in PyTorch;
- torch public: the fastest public small-CNN MNIST recipe in PyTorch: conv 24 5x5, max pool,
  conv 32 3x3, max pool, 256, 10 (no dropout), Adam lr 0.01 betas (0.7, 0.9), PyTorch's
  OneCycleLR, batch 256, PyTorch's own initialization.

Printed per run: the training seconds (data loading and testing not counted) and the test
accuracy; then per competitor and budget the medians, and the time to 98% and 99%: the training
time of the smallest budget at which every seed reached it. With --cnn, digitnet's `cnn` preset
too, for 99.5%. The machine (CPU, BLAS and its threads, the load) is printed first.

    pip install -e '.[bench]'
    python bench/speedrun.py                        # budgets 1 and 2 epochs, seeds 0 1 2
    python bench/speedrun.py --budgets 1 --seeds 0  # one quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"
COMPETITORS = ("digitnet", "torch-twin", "torch-public")


def _data(path: str):
    import digitnet as dn

    ds = dn.load_dataset(path, val_size=0)
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def _recipe(preset: str, epochs: int) -> dict:
    from digitnet.recipes import recipe_for

    return {**recipe_for(preset), "epochs": epochs}


def run_digitnet(preset: str, epochs: int, seed: int, data: str) -> dict:
    import numpy as np

    import digitnet as dn

    r = _recipe(preset, epochs)
    x, y, xt, yt = _data(data)
    net = dn.build_network(preset, seed=seed)
    hist = dn.train(net, x, y, epochs=epochs, batch_size=r["batch_size"],
                    optimizer=r["optimizer"], lr=r["lr"], schedule=r["schedule"],
                    warmup=r.get("warmup", 0), betas=r.get("betas"),
                    momentum=r.get("momentum"), label_smoothing=r.get("label_smoothing", 0.0),
                    augment=r.get("augment", False), seed=seed, progress=False)
    acc = float(np.mean(net.predict(xt, batch_size=1000) == yt))
    return {"seconds": sum(hist.seconds), "accuracy": acc, "threads": hist.threads}


def _torch_train(model, x, y, xt, yt, *, epochs: int, batch: int, lr: float, betas, smoothing,
                 schedule, seed: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(2)
    optim = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(betas))
    steps = epochs * -(-len(x) // batch)
    sched = schedule(optim, steps)
    lossf = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            optim.zero_grad(set_to_none=True)
            lossf(model(X[idx]), Y[idx]).backward()
            optim.step()
            sched.step()
    seconds = time.perf_counter() - t
    model.eval()
    with torch.no_grad():
        Xt = torch.from_numpy(xt)
        pred = torch.cat([model(Xt[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
    return {"seconds": seconds, "accuracy": float((pred.numpy() == yt).mean()), "threads": [2]}


def run_torch_twin(preset: str, epochs: int, seed: int, data: str) -> dict:
    import torch

    import digitnet as dn
    from digitnet.optim import get_schedule

    sys.path.insert(0, str(HERE))
    from compare import torch_twin

    torch.manual_seed(seed)
    r = _recipe(preset, epochs)
    if r["optimizer"] != "adam":
        raise SystemExit(f"speedrun.py's torch twin trains with Adam; {preset} uses "
                         f"{r['optimizer']}")
    factor = get_schedule(r["schedule"])
    x, y, xt, yt = _data(data)
    model = torch_twin(dn.build_network(preset, seed=seed))
    return _torch_train(
        model, x, y, xt, yt, epochs=epochs, batch=r["batch_size"], lr=r["lr"],
        betas=r.get("betas") or (0.9, 0.999), smoothing=r.get("label_smoothing", 0.0),
        schedule=lambda o, steps: torch.optim.lr_scheduler.LambdaLR(
            o, lambda s: factor(s / steps)), seed=seed)


def run_torch_public(preset: str, epochs: int, seed: int, data: str) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x, y, xt, yt = _data(data)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 24, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(800, 256),
        nn.ReLU(), nn.Linear(256, 10))
    return _torch_train(
        model, x, y, xt, yt, epochs=epochs, batch=256, lr=0.01, betas=(0.7, 0.9), smoothing=0.0,
        schedule=lambda o, steps: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01,
                                                                      total_steps=steps),
        seed=seed)


RUN = {"digitnet": run_digitnet, "torch-twin": run_torch_twin, "torch-public": run_torch_public,
       "digitnet-cnn": run_digitnet}


def machine() -> str:
    lines = [f"python {platform.python_version()}, {os.cpu_count()} CPUs"]
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name"))
        lines.append(f"CPU: {model}")
    except (OSError, StopIteration):
        lines.append(f"CPU: {platform.processor() or platform.machine()}")
    import numpy  # noqa: F401  (so that threadpoolctl sees its BLAS)
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        lines.append(f"{info['user_api']}: {info['internal_api']} {info.get('version')}, "
                     f"{info['num_threads']} threads ({info.get('threading_layer', '')})")
    try:
        import torch
        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        lines.append("torch: not installed (pip install -e '.[bench]')")
    lines.append("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return "\n".join(lines)


def worker(who: str, preset: str, epochs: int, seed: int, data: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    cmd = [sys.executable, __file__, "--worker", who, "--preset", preset, "--budgets",
           str(epochs), "--seeds", str(seed), "--data", data]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{who} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budgets", default="1,2", help="epochs per run, comma-separated")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--preset", default="fast", help="digitnet's preset (default fast)")
    p.add_argument("--cnn", action="store_true", help="also digitnet's cnn preset (99.5%%)")
    p.add_argument("--only", default=",".join(COMPETITORS), help="competitors to run")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--worker", choices=list(RUN), help=argparse.SUPPRESS)
    a = p.parse_args()
    budgets = [int(b) for b in a.budgets.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.worker:
        print(json.dumps(RUN[a.worker]("cnn" if a.worker == "digitnet-cnn" else a.preset,
                                       budgets[0], seeds[0], a.data)))
        return 0
    if not Path(a.data).is_dir():
        raise SystemExit(f"no MNIST folder at {a.data}: pass --data DIR")
    print(machine())
    who = a.only.split(",") + (["digitnet-cnn"] if a.cnn else [])
    runs: dict[tuple[str, int], list[dict]] = {}
    print(f"\n{'competitor':<14}{'epochs':>7}{'seed':>5}{'train s':>9}{'test acc':>10}  threads")
    for epochs in budgets:
        for seed in seeds:
            for w in who:  # alternating: the machine's drift hits every competitor alike
                r = worker(w, a.preset, epochs, seed, a.data)
                runs.setdefault((w, epochs), []).append(r)
                print(f"{w:<14}{epochs:>7}{seed:>5}{r['seconds']:>9.1f}{r['accuracy']:>10.4f}  "
                      f"{r['threads']}", flush=True)
    print(f"\n{'competitor':<14}{'epochs':>7}{'median s':>9}  test accuracy per seed")
    for (w, epochs), rs in runs.items():
        print(f"{w:<14}{epochs:>7}{statistics.median(r['seconds'] for r in rs):>9.1f}  "
              + ", ".join(f"{r['accuracy']:.4f}" for r in rs))
    print()
    reached: dict[tuple[str, float], float] = {}
    for w in who:
        for goal in (0.98, 0.99, 0.995):
            ok = [e for e in budgets if (w, e) in runs
                  and all(r["accuracy"] >= goal for r in runs[w, e])]
            if ok:
                reached[w, goal] = statistics.median(r["seconds"] for r in runs[w, min(ok)])
        print(f"{w:<14}time to 98% / 99% / 99.5% (every seed): " + " / ".join(
            f"{reached[w, g]:.1f} s" if (w, g) in reached else "not reached"
            for g in (0.98, 0.99, 0.995)))
    for goal in (0.98, 0.99):
        if ("digitnet", goal) in reached and ("torch-public", goal) in reached:
            print(f"digitnet / torch public, time to {goal:.0%}: "
                  f"{reached['digitnet', goal] / reached['torch-public', goal]:.2f}")
        if ("digitnet", goal) in reached and ("torch-twin", goal) in reached:
            print(f"digitnet / torch twin, time to {goal:.0%}: "
                  f"{reached['digitnet', goal] / reached['torch-twin', goal]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
