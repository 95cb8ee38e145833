"""ONNX export on full MNIST: each preset trained briefly, exported, and run in onnxruntime on the
10,000 test images; the largest difference in any probability from digitnet's, the number of
images whose predicted class differs, both accuracies, and the time each takes to predict all
10,000 (best of --repeats, the same number of threads for both).

    python bench/onnx_parity.py [--data /work/shared/data/mnist] [--presets mlp lenet5 cnn fast]
                                [--epochs 1] [--threads 2] [--json]

Training: the preset's recipe (dn.training_options) for --epochs epochs, without warmup or
augmentation (so that one epoch is quick); the point is weights that read digits, not the best
accuracy. Needs the [onnx] extra and onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/work/shared/data/mnist",
                   help="a folder with the four MNIST IDX files")
    p.add_argument("--presets", nargs="+", default=["mlp", "lenet5", "cnn", "fast"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="threads for digitnet and onnxruntime")
    p.add_argument("--repeats", type=int, default=3, help="timed predictions of the test set")
    p.add_argument("--json", action="store_true", help="last line: the results as JSON")
    args = p.parse_args()
    os.environ["DIGITNET_THREADS"] = str(args.threads)  # before digitnet chooses its threads

    import numpy as np
    import onnxruntime as ort

    import digitnet as dn

    ds = dn.load_dataset(args.data, val_size=0)
    X, y = ds.x_test, ds.y_test
    print(f"{ds.name}: {len(ds.x_train):,} training, {len(X):,} test images; onnxruntime "
          f"{ort.__version__}, {args.threads} threads each", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            net = dn.build_network(preset)
            options = dn.training_options(preset, epochs=args.epochs, warmup=0, augment=False)
            t0 = time.perf_counter()
            dn.train(net, ds, progress=False, **options)
            train_s = time.perf_counter() - t0
            path = dn.export_onnx(net, Path(tmp) / f"{preset}.onnx")
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

            def run_onnx() -> np.ndarray:
                return session.run(["probabilities"], {"images": X})[0]  # noqa: B023

            def best(f):  # (seconds of the fastest of --repeats calls, its result)
                times, out = [], None
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    out = f()
                    times.append(time.perf_counter() - t)
                return min(times), out

            dn_s, P_dn = best(lambda: net.predict_proba(X))  # noqa: B023
            ort_s, P_ort = best(run_onnx)
            row = {"preset": preset, "epochs": args.epochs, "train_seconds": round(train_s, 1),
                   "onnx_bytes": path.stat().st_size,
                   "max_abs_diff": float(np.abs(P_ort - P_dn).max()),
                   "differing_predictions": int(np.sum(P_ort.argmax(1) != P_dn.argmax(1))),
                   "accuracy_digitnet": float(np.mean(P_dn.argmax(1) == y)),
                   "accuracy_onnx": float(np.mean(P_ort.argmax(1) == y)),
                   "predict_seconds_digitnet": round(dn_s, 3),
                   "predict_seconds_onnxruntime": round(ort_s, 3)}
            rows.append(row)
            print(f"{preset:>7}: trained {train_s:5.1f} s, accuracy {row['accuracy_digitnet']:.4f}"
                  f" | max |P_onnx - P_digitnet| {row['max_abs_diff']:.2e}, differing "
                  f"predictions {row['differing_predictions']} | 10,000 images: digitnet "
                  f"{dn_s:.3f} s, onnxruntime {ort_s:.3f} s ({dn_s / ort_s:.1f}x)", flush=True)
    worst = max(r["max_abs_diff"] for r in rows)
    print(f"largest difference over all presets: {worst:.2e} (target <= 1e-5); differing "
          f"predictions: {sum(r['differing_predictions'] for r in rows)}")
    if args.json:
        print(json.dumps({"threads": args.threads, "onnxruntime": ort.__version__,
                          "results": rows}))
    return 0 if worst <= 1e-5 and not any(r["differing_predictions"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
