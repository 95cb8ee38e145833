"""How much slower `digitnet train` gets when another process keeps one CPU busy.

Each round runs `digitnet train --epochs 5 --json` (the default model on the shipped sample) in
three conditions, in turn: on the machine as it is ("idle"), beside one busy process (a Python
loop that spins one core, started before and stopped after), and beside the busy process with the
thread count forced to the number of CPUs (DIGITNET_THREADS=N: what digitnet did before it chose
its threads, BLAS spinning against the other process). The time is the training time digitnet
reports (data loading not counted). Target: busy / idle <= 1.8 on 2 cores.

    python bench/shared_cpu.py [--rounds 5] [--epochs 5] [--model mlp]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DIGITNET = Path(sys.executable).with_name("digitnet")
BUSY = "while True:\n    pass\n"


def train(epochs: int, model: str, env: dict[str, str]) -> float:
    p = subprocess.run([str(DIGITNET), "train", "--epochs", str(epochs), "--model", model,
                        "--json", "--quiet"], capture_output=True, text=True,
                       env={**os.environ, **env})
    if p.returncode:
        raise SystemExit(f"digitnet train failed:\n{p.stderr[-2000:]}")
    return float(json.loads(p.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--model", default="mlp")
    a = p.parse_args()
    cpus = os.cpu_count() or 1
    print(f"{cpus} CPUs; load average before: {os.getloadavg()}")
    forced = {"DIGITNET_THREADS": str(cpus)}
    times: dict[str, list[float]] = {"idle": [], "busy": [], f"busy, {cpus} threads forced": []}
    for _ in range(a.rounds):
        times["idle"].append(train(a.epochs, a.model, {}))
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        try:
            time.sleep(1.0)  # the load meter sees it
            times["busy"].append(train(a.epochs, a.model, {}))
            times[f"busy, {cpus} threads forced"].append(train(a.epochs, a.model, forced))
        finally:
            busy.kill()
            busy.wait()
        time.sleep(1.0)
    idle = statistics.median(times["idle"])
    print(f"{'condition':28} {'median s':>9} {'/ idle':>7}  all runs (s)")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:28} {m:9.2f} {m / idle:7.2f}  " + " ".join(f"{t:.2f}" for t in ts))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
