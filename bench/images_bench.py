"""Does the image-file pipeline keep a model's accuracy? MNIST test digits are pasted at a random
scale (1-3.4x), position, grey levels and polarity (half dark-on-light) with noise into 100x100
PNG files, read back with `digitnet.data.images.prepare_file`, and classified; the accuracy is
compared with the model's plain accuracy on the same 28x28 test digits. The number reader is
measured the same way on 4-digit numbers made of test digits, apart and touching.

    python bench/images_bench.py                          # a model trained here on the sample
    python bench/images_bench.py --model mnist.npz --data ../shared/data/mnist
    python bench/images_bench.py --n 2000 --json

Target (issue #5): pasted accuracy within 1 point of the plain accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import digitnet as dn
from digitnet.data.images import prepare_file
from digitnet.data.synthetic import number_image, paste_digit
from digitnet.read import read_number


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a model file (default: train 784-256-10 on the sample)")
    ap.add_argument("--data", default="sample", help="where the test digits come from")
    ap.add_argument("--n", type=int, default=None, help="test digits to use (default: all)")
    ap.add_argument("--numbers", type=int, default=200, help="4-digit numbers per layout")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    ds = dn.load_dataset(args.data, val_size=0, test_size=args.n)
    if args.model:
        net = dn.load_model(args.model)
        model = args.model
    else:
        train = dn.load_dataset("sample", val_size=0)
        net = dn.build_network("784-256-10")
        dn.train(net, train, epochs=10, progress=False)
        model = "784-256-10, 10 epochs Adam on the sample"
    X, y = ds.x_test.reshape(-1, 28, 28), ds.y_test
    rng = np.random.default_rng(args.seed)
    plain = float(np.mean(net.predict(X) == y))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, x in enumerate(X):
            paths.append(Path(tmp) / f"{i}.png")
            Image.fromarray(paste_digit(x, rng)).save(paths[-1])
        t0 = time.perf_counter()
        prepared = np.stack([prepare_file(p) for p in paths])
        per_image = (time.perf_counter() - t0) / len(paths)
    pasted = float(np.mean(net.predict(prepared) == y))
    result = {"model": model, "data": ds.name, "n": len(y), "plain_accuracy": plain,
              "pasted_accuracy": pasted, "difference_points": round(100 * (pasted - plain), 2),
              "ms_per_file": round(1000 * per_image, 2)}
    print(f"{model} on {ds.name}: {len(y):,} test digits")
    print(f"  plain 28x28 accuracy          {plain:.4f}")
    print(f"  pasted in 100x100 PNG files   {pasted:.4f}  ({100 * (pasted - plain):+.2f} points; "
          f"{1000 * per_image:.1f} ms per file)")

    # numbers: 4 digits apart, and touching (overlapping bounding boxes by 2-6 px at 84 px high)
    for layout, gaps in (("apart", (4, 16)), ("touching", (-6, 0))):
        exact = right_length = digits_ok = 0
        t0 = time.perf_counter()
        for k in range(args.numbers):
            idx = rng.integers(0, len(y), 4)
            img = number_image([X[i] for i in idx], int(rng.integers(*gaps)), invert=k % 2 == 0)
            got = read_number(net, img).number
            truth = "".join(str(d) for d in y[idx])
            exact += got == truth
            right_length += len(got) == 4
            digits_ok += sum(a == b for a, b in zip(got, truth, strict=False)) \
                if len(got) == 4 else 0
        ms = 1000 * (time.perf_counter() - t0) / args.numbers
        result[f"numbers_{layout}"] = {
            "n": args.numbers, "exact": exact / args.numbers,
            "right_length": right_length / args.numbers,
            "digit_accuracy_when_right_length": digits_ok / max(4 * right_length, 1),
            "ms_per_image": round(ms, 1)}
        r = result[f"numbers_{layout}"]
        print(f"  read 4-digit numbers, {layout:<9} exact {r['exact']:.3f}, right length "
              f"{r['right_length']:.3f}, digits {r['digit_accuracy_when_right_length']:.3f} "
              f"({ms:.0f} ms per image); plain^4 = {plain ** 4:.3f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
