"""Build the digit detector shipped in the package (src/digitnet/data/judge.npz), which
``digitnet.judge`` uses to say "not a digit".

Digits: the shipped MNIST sample's training images, as they are, saved as they are as a 28x28
file (dark on white) and prepared again, and pasted into photo-like images
(``data.synthetic.paste_digit``) and prepared again as a user's file is (``data.images.prepare``).
Non-digits: ``data.nondigits`` images (generator seed 1, Pillow's own font only), prepared the same
way; blank ones are left out (``prepare`` already refuses them). A small conv net learns to tell
them apart (sigmoid output: 1 = digit; 8 epochs of Adam, with small random rotations, scalings
and shifts); the threshold accepts 99.5% of the sample's validation digits (as they are,
re-prepared and pasted). bench/not_a_digit.py measures it on other seeds and other fonts.

    python tools/train_judge.py [--out src/digitnet/data/judge.npz] [--negatives 10000]

About 5 minutes on 2 busy cores (most of it drawing and preparing the non-digits).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import digitnet as dn
from digitnet.data.images import prepare
from digitnet.data.nondigits import KINDS, nondigits
from digitnet.data.synthetic import paste_digit
from digitnet.errors import ImageError

ROOT = Path(__file__).resolve().parent.parent
SPEC = "conv16k5s2v-conv32v-pool2-128-1"
ACCEPT = 0.995  # share of validation digits the threshold accepts
SEED = 1  # the non-digits' generator seed (bench/not_a_digit.py uses others)


def prepared(images: list[np.ndarray]) -> np.ndarray:
    """Each image through ``prepare`` as (N, 784); images it refuses (blank) are left out."""
    out = []
    for im in images:
        try:
            out.append(prepare(im).ravel())
        except ImageError:
            continue
    return np.stack(out)


def pasted(x: np.ndarray, seed: int) -> np.ndarray:
    """Digits (N, 784) pasted into photo-like images and prepared again, (N, 784)."""
    rng = np.random.default_rng(seed)
    return prepared([paste_digit(d.reshape(28, 28), rng) for d in x])


def reprepared(x: np.ndarray) -> np.ndarray:
    """Digits (N, 784) as 28x28 files of dark ink on white would be prepared again, (N, 784)."""
    return prepared([np.uint8(255 - 255 * d.reshape(28, 28)) for d in x])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "digitnet" / "data" / "judge.npz")
    ap.add_argument("--negatives", type=int, default=10_000)
    ap.add_argument("--pasted", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ds = dn.load_dataset("sample")  # 9,000 train and 1,000 validation digits
    imgs, _ = nondigits(args.negatives, seed=SEED, kinds=[k for k in KINDS if k != "blank"])
    neg = prepared(imgs)
    pos = np.concatenate([ds.x_train, pasted(ds.x_train[:args.pasted], seed=SEED + 10),
                          reprepared(ds.x_train[-args.pasted:])])
    print(f"{len(pos):,} digits, {len(neg):,} non-digits ({time.perf_counter() - t0:.0f} s)")
    x = np.concatenate([pos, neg]).astype(np.float32)
    y = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
    net = dn.build_network(SPEC, seed=0)
    dn.train(net, x, y, epochs=args.epochs, optimizer="adam", lr=2e-3, augment=True,
             progress=False)
    val = np.concatenate([ds.x_val, pasted(ds.x_val, seed=SEED + 20), reprepared(ds.x_val)])
    score = net.predict_proba(val)[:, 1]
    threshold = float(np.quantile(score, 1 - ACCEPT))
    rejected = float(np.mean(net.predict_proba(neg)[:, 1] < threshold))
    dn.save_model(net, args.out, class_names=["not a digit", "digit"], metadata={
        "spec": SPEC, "dataset": "sample + digitnet.data.nondigits",
        "judge": {"threshold": round(threshold, 6), "accepts": ACCEPT, "nondigit_seed": SEED,
                  "augment": True,
                  "n_digits": len(pos), "n_nondigits": len(neg), "epochs": args.epochs,
                  "built_by": "tools/train_judge.py"}})
    print(f"threshold {threshold:.4f}: accepts {ACCEPT:.1%} of {len(val):,} validation digits, "
          f"rejects {rejected:.1%} of the training non-digits; saved to {args.out} "
          f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
