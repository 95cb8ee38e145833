"""Build the MNIST sample shipped in the package (src/digitnet/data/sample/).

The first 10,000 training and the first 2,000 test images of MNIST, with their labels, in the
original order, written as four gzip'd IDX files. The gzip output is deterministic (mtime 0), so
running this again gives byte-identical files.

    python tools/make_sample.py [--src ../shared/data/mnist] [--out src/digitnet/data/sample]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from digitnet.data.datasets import IDX_FILES, _find_idx_files
from digitnet.data.idx import read_idx_pair, write_idx

ROOT = Path(__file__).resolve().parent.parent
N_TRAIN, N_TEST = 10_000, 2_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / ".." / "shared" / "data" / "mnist")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "digitnet" / "data" / "sample")
    args = parser.parse_args(argv)

    files = _find_idx_files(args.src)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images, labels = read_idx_pair(files[f"{split}_images"], files[f"{split}_labels"])
        write_idx(args.out / (IDX_FILES[f"{split}_images"][0] + ".gz"), images[:n])
        write_idx(args.out / (IDX_FILES[f"{split}_labels"][0] + ".gz"), labels[:n])
        counts = np.bincount(labels[:n], minlength=10)
        print(
            f"{split}: {n:,} images; labels " + " ".join(f"{d}:{c}" for d, c in enumerate(counts))
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
