"""ONNX export on full MNIST: each preset trained briefly, exported, and run in onnxruntime on the
10,000 test images; the largest difference in any probability from digitnet's, the number of
images whose predicted class differs, both accuracies, and the time each takes to predict all
10,000 (best of --repeats, the same number of threads for both).

    python bench/onnx_parity.py [--data /work/shared/data/mnist] [--epochs 1] [--threads 2]
                                [--models mlp lenet5 cnn fast every-layer binary7] [--json]

Training: the preset's recipe (dn.training_options) for --epochs epochs, without warmup or
augmentation (so that one epoch is quick); the point is weights that read digits, not the best
accuracy. Besides the presets: "every-layer", a network with every layer type digitnet has
(Deskew first, BatchNorm after a conv and after a dense layer, strides, paddings, both pools,
global average pooling, LeakyReLU, Tanh, Sigmoid, Dropout, a Reshape back to images), and
"binary7", lenet5 with one sigmoid output trained one-vs-rest on "is it a 7?" (as `train
--binary 7`); both with the cnn recipe. Needs the [onnx] extra and onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def every_layer_network():
    import digitnet as dn

    return dn.Network([
        dn.Reshape(28, 28, 1), dn.Deskew(),
        dn.Conv2D(1, 16, kernel=3, padding="same"), dn.BatchNorm(16), dn.LeakyReLU(0.1),
        dn.MaxPool2D(2),                                                # 14x14x16
        dn.Conv2D(16, 32, kernel=3, stride=2, padding=1), dn.Tanh(),    # 7x7x32
        dn.AvgPool2D(2),                                                # 3x3x32
        dn.Conv2D(32, 32, kernel=2, padding="valid"), dn.Sigmoid(),     # 2x2x32
        dn.Flatten(),
        dn.Dense(128, 98), dn.BatchNorm(98), dn.ReLU(), dn.Dropout(0.1),
        dn.Reshape(7, 7, 2),
        dn.Conv2D(2, 32, kernel=5, padding="same"), dn.ReLU(),
        dn.AvgPool2D(0), dn.Flatten(),                                  # 32 features
        dn.Dense(32, 10),
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/work/shared/data/mnist",
                   help="a folder with the four MNIST IDX files")
    p.add_argument("--models", nargs="+",
                   default=["mlp", "lenet5", "cnn", "fast", "every-layer", "binary7"])
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
        for preset in args.models:
            data, labels, recipe = ds, y, preset
            if preset == "every-layer":
                net, recipe = every_layer_network(), "cnn"
            elif preset == "binary7":
                net, recipe = dn.build_network(dn.one_vs_rest_spec("lenet5")), "cnn"
                data = dn.one_vs_rest(ds, 7)
                net.meta.update(binary_target=7, class_names=data.class_names)
                labels = data.y_test
            else:
                net = dn.build_network(preset)
            options = dn.training_options(recipe, epochs=args.epochs, warmup=0, augment=False)
            t0 = time.perf_counter()
            dn.train(net, data, progress=False, **options)
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
                   "accuracy_digitnet": float(np.mean(P_dn.argmax(1) == labels)),
                   "accuracy_onnx": float(np.mean(P_ort.argmax(1) == labels)),
                   "predict_seconds_digitnet": round(dn_s, 3),
                   "predict_seconds_onnxruntime": round(ort_s, 3)}
            rows.append(row)
            print(f"{preset:>11}: trained {train_s:5.1f} s, accuracy {row['accuracy_digitnet']:.4f}"
                  f" | max |P_onnx - P_digitnet| {row['max_abs_diff']:.2e}, differing "
                  f"predictions {row['differing_predictions']} | 10,000 images: digitnet "
                  f"{dn_s:.3f} s, onnxruntime {ort_s:.3f} s ({dn_s / ort_s:.1f}x)", flush=True)
    worst = max(r["max_abs_diff"] for r in rows)
    print(f"largest difference over all models: {worst:.2e} (target <= 1e-5); differing "
          f"predictions: {sum(r['differing_predictions'] for r in rows)}")
    if args.json:
        print(json.dumps({"threads": args.threads, "onnxruntime": ort.__version__,
                          "results": rows}))
    return 0 if worst <= 1e-5 and not any(r["differing_predictions"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
