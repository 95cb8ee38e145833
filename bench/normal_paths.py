"""The normal paths' speed, this digitnet against another source tree: reading full MNIST (IDX,
gzip), reading a Kaggle-style CSV, saving and loading a model file, predicting, one epoch of
training. Checks and limits on hostile input must not slow the good paths down.

    git archive HEAD~5 src | tar -x -C /tmp/old      # the tree to compare with
    python bench/normal_paths.py --against /tmp/old/src [--rounds 5] [--mnist DIR]

Each round runs every step once in a fresh process per tree, the two trees alternating; the
summary is the median over rounds per step and the ratio this / against (< 1: this is faster).
One BLAS thread each (DIGITNET_THREADS=1), so that the numbers are the code's, not the machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
MNIST = HERE.parent.parent / "shared" / "data" / "mnist"

WORKER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
import digitnet as dn
from digitnet.data import read_kaggle_csv
mnist, tmp = Path(sys.argv[1]), Path(sys.argv[2])
out = {}
def timed(name, fn):
    t = time.perf_counter(); r = fn(); out[name] = time.perf_counter() - t; return r
ds = timed("load mnist idx (70k)", lambda: dn.load_dataset(mnist, val_size=0))
csv = tmp / "train.csv"
if not csv.exists():
    X = (ds.x_train[:10000] * 255).round().astype(np.uint8)
    rows = np.column_stack([ds.y_train[:10000], X])
    np.savetxt(csv, rows, fmt="%d", delimiter=",", header="label," + ",".join(
        f"pixel{i}" for i in range(784)), comments="")
timed("read kaggle csv (10k)", lambda: read_kaggle_csv(csv))
net = dn.build_network("cnn", seed=0)
model = tmp / "model.npz"
timed("save cnn model", lambda: dn.save_model(net, model, force=True))
net = timed("load cnn model", lambda: dn.load_model(model))
timed("predict cnn (10k)", lambda: net.predict(ds.x_test))
mlp = dn.build_network("mlp", seed=0)
sub = dn.Dataset("part", ds.x_train[:20000], ds.y_train[:20000], ds.x_test[:1000],
                 ds.y_test[:1000], ds.x_test, ds.y_test, ds.class_names)
timed("train mlp 1 epoch (20k)", lambda: dn.train(mlp, sub, epochs=1, progress=False, seed=0))
print("RESULT " + json.dumps(out))
"""


def run(src: Path, mnist: Path, tmp: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src), "DIGITNET_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", WORKER, str(mnist), str(tmp)], env=env,
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"worker for {src} failed:\n{p.stderr[-2000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, type=Path, metavar="SRC",
                   help="another digitnet's src folder")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--mnist", type=Path, default=MNIST, help="folder of the four IDX .gz files")
    a = p.parse_args()
    print("load:", os.getloadavg())
    trees = {"this": SRC, "against": a.against.resolve()}
    times: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for t in order:
                for step, s in run(trees[t], a.mnist, Path(tmp)).items():
                    times[t].setdefault(step, []).append(s)
    print(f"{'step':28} {'this (s)':>10} {'against (s)':>12} {'ratio':>7}   (medians of "
          f"{a.rounds} rounds; load after: {os.getloadavg()})")
    for step in times["this"]:
        m, o = statistics.median(times["this"][step]), statistics.median(times["against"][step])
        print(f"{step:28} {m:10.4f} {o:12.4f} {m / o:7.2f}")


if __name__ == "__main__":
    main()
