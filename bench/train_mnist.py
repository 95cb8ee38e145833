"""Train digitnet's default MLP on full MNIST through the CLI and report what the issue asks:
test accuracy, seconds per epoch, total training time and peak memory.

    python bench/train_mnist.py                       # MNIST from ../shared/data/mnist
    python bench/train_mnist.py --data DIR [-- extra digitnet train options]

Runs `digitnet train --data DIR --json` in a child process (so peak memory is that process's
own maximum resident set) and prints one summary line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the MNIST IDX files")
    p.add_argument("--runs", type=int, default=1, help="repeat with seeds 0..runs-1")
    p.add_argument("extra", nargs="*", help="more `digitnet train` options (after --)")
    args = p.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"no MNIST folder at {args.data}: pass --data DIR")
    exe = [sys.executable, "-m", "digitnet.cli"]
    for seed in range(args.runs):
        cmd = [*exe, "train", "--data", args.data, "--json", "-q", "--seed", str(seed),
               *args.extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        peak = f"{peak_kb / 1024:.0f} MiB" if peak_kb > before else "(<= earlier run)"
        print(f"seed {seed}: test accuracy {r['test_accuracy']:.4f} on {r['n_test']} images, "
              f"{r['epochs_run']} epochs in {r['seconds']:.1f}s "
              f"({r['seconds'] / r['epochs_run']:.2f} s/epoch), peak memory {peak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
