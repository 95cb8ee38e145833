"""Make the figures shown in README.md, from the MNIST sample shipped with digitnet.

    python tools/make_figures.py [OUT_DIR]        # default: docs/figures

Trains a 784-100-10 network (momentum SGD, lr 0.1 with cosine decay, weight decay 1e-3, 15 epochs,
seed 0; a few seconds on one core) and writes:

- curves.png       loss per iteration, loss and accuracy per epoch (training and validation)
- predictions.png  the first 25 test images with the network's answers, mistakes in red
- weights.png      32 of the first layer's 100 units as 28x28 templates

The PNGs are reduced to a 256-colour palette to keep them small in the repository.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

import digitnet as dn
from digitnet import plots

ROOT = Path(__file__).resolve().parents[1]


def save_small(fig: object, path: Path, dpi: int = 80) -> int:
    """Save a figure as a palette PNG; returns its size in bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # type: ignore[attr-defined]
    img = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    img.save(path, optimize=True)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "figures"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    ds = dn.load_dataset("sample", seed=0)
    net = dn.build_network("784-100-10", seed=0)
    history = dn.train(net, ds, epochs=15, optimizer="momentum", lr=0.1, schedule="cosine",
                       weight_decay=1e-3, seed=0, progress=False)
    pred = net.predict(ds.x_test)
    print(f"test accuracy {np.mean(pred == ds.y_test):.4f} on {len(pred):,} sample test images")

    figures = {
        "curves.png": history.plot(),
        "predictions.png": plots.digit_grid(ds.x_test, ds.y_test, pred, ds.class_names),
        "weights.png": plots.first_layer_weights(net, n=32),
    }
    for name, fig in figures.items():
        print(f"{out / name}: {save_small(fig, out / name) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
