"""Training throughput of a 784-512-10 MLP (ReLU, softmax cross-entropy, SGD, batch 128, float32)
on 60,000 synthetic MNIST-shaped images: digitnet against the reference loops in
../shared/bench/reference_mlp.py (plain NumPy, and PyTorch CPU when installed), alternating them
round by round in fresh processes so that machine noise hits all alike.

    python bench/throughput.py [--rounds 5] [--hidden 512] [--reference PATH]
    python bench/throughput.py --same-process     # NumPy reference and digitnet epoch by epoch
                                                  # in one process, on the same arrays

Each process does one warm-up epoch and reports its best of 3 timed epochs, exactly as the
reference script does; the summary gives the median over rounds and the ratio to NumPy.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "reference_mlp.py"
N, D, C, B = 60000, 784, 10, 128


def digitnet_worker(hidden: int) -> None:
    """Same protocol as the reference: warm-up epoch, then best of 3 epochs."""
    import numpy as np

    import digitnet as dn

    rng = np.random.default_rng(0)
    X = rng.random((N, D), dtype=np.float32)
    y = rng.integers(0, C, N)

    def epoch() -> float:
        net = dn.build_network(f"{D}-{hidden}-{C}")
        t = time.perf_counter()
        dn.train(net, X, y, epochs=1, batch_size=B, optimizer="sgd", lr=0.1,
                 schedule="constant", progress=False)
        return time.perf_counter() - t

    epoch()
    best = min(epoch() for _ in range(3))
    print(f"digitnet H={hidden}: epoch {best:.2f}s  {N / best:,.0f} samples/s (best of 3)")


def same_process(reference: str, hidden: int, rounds: int) -> None:
    """Alternate one epoch of the reference NumPy loop and one of digitnet, in this process."""
    import digitnet as dn

    src = Path(reference).read_text().split("\nf = {")[0]  # its definitions, not its main
    ns: dict = {"__name__": "reference"}
    argv, sys.argv = sys.argv, ["reference_mlp.py", "numpy", str(hidden)]
    try:
        exec(compile(src, reference, "exec"), ns)  # noqa: S102 - the reference loop, as is
    finally:
        sys.argv = argv
    X, y = ns["X"], ns["y"]

    def digitnet_epoch() -> float:
        net = dn.build_network(f"{D}-{hidden}-{C}")
        hist = dn.train(net, X, y, epochs=1, batch_size=B, optimizer="sgd", lr=0.1,
                        schedule="constant", progress=False)
        return hist.seconds[0]

    ns["numpy_epoch"](), digitnet_epoch()  # warm-up
    ratios = []
    for r in range(rounds):
        t_ref, t_dn = ns["numpy_epoch"](), digitnet_epoch()
        ratios.append(t_dn / t_ref)
        print(f"round {r + 1}: numpy {t_ref:.3f}s  digitnet {t_dn:.3f}s  ratio {ratios[-1]:.3f}")
    print(f"median digitnet/NumPy epoch time: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")


def run(cmd: list[str]) -> float | None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"epoch ([\d.]+)s", proc.stdout)
    if not m:
        print(f"  ({cmd[-2]} failed: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return float(m.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--reference", default=str(REFERENCE))
    p.add_argument("--same-process", action="store_true",
                   help="alternate epochs of the NumPy reference and digitnet in one process")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        digitnet_worker(args.hidden)
        return 0
    if args.same_process:
        same_process(args.reference, args.hidden, args.rounds)
        return 0
    impls = {"digitnet": [sys.executable, __file__, "--worker", "--hidden", str(args.hidden)]}
    if Path(args.reference).is_file():
        impls["numpy"] = [sys.executable, args.reference, "numpy", str(args.hidden)]
        try:
            import torch  # noqa: F401
            impls["torch"] = [sys.executable, args.reference, "torch", str(args.hidden)]
        except ImportError:
            print("(PyTorch not installed: pip install -e '.[bench]' to compare with it)")
    else:
        print(f"(no reference script at {args.reference}: timing digitnet alone)")
    times: dict[str, list[float]] = {k: [] for k in impls}
    for r in range(args.rounds):
        for name, cmd in impls.items():
            t = run(cmd)
            if t is not None:
                times[name].append(t)
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items() if v))
    print(f"\n784-{args.hidden}-10, batch {B}, SGD, float32, epoch of {N:,} images "
          f"(median over {args.rounds} rounds, each the best of 3 epochs)")
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for k, t in med.items():
        rel = f"  {t / med['numpy']:.3f}x NumPy's time" if "numpy" in med else ""
        print(f"  {k:<9} {t:.3f} s/epoch  {N / t:>9,.0f} samples/s  "
              f"(range {min(times[k]):.3f}-{max(times[k]):.3f}){rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
