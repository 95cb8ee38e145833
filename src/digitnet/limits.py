"""The limits that keep a damaged, hostile or mistaken input from taking all the memory.

Every size that a file or an option declares is compared with these before anything that large
is allocated; beyond one, the reader raises a DigitnetError that names the limit and the size
asked for. Each limit is far above what real use needs (the numbers next to them), and each is
a plain module constant: raise it here if your data is larger.
"""

from __future__ import annotations

MiB, GiB = 2**20, 2**30

# --- data files (data/idx.py, data/kaggle.py) ----------------------------------------------------
#: the data of one IDX or CSV file. Full MNIST's training images are 47 MB, EMNIST ByClass's
#: 550 MB; 2 GiB is a dataset that needs 8 GiB as float32 pixels
MAX_DATA_BYTES = 2 * GiB
#: a gzip'd IDX file may declare at most this many times its own size of data (MNIST's files
#: decompress 2-5x, Fashion-MNIST's 2x; deflate's own ceiling is about 1000x) ...
MAX_GZIP_RATIO = 100
#: ... or this much, whatever its size (small files of blank images compress very well)
GZIP_RATIO_FLOOR = 64 * MiB

# --- model files (modelcheck.py, modelfile.py) ---------------------------------------------------
#: the parameters of a network (and the values of a model file's arrays). The presets have 0.54 M
#: (mlp), 0.06 M (lenet5) and 0.82 M (cnn); 100 M is 400 MB of float32 weights, 1.6 GB to train
MAX_PARAMS = 100_000_000
#: values one image makes in any one layer (its output, or a convolution's window matrix). The
#: cnn preset's largest is 56 k (the 3x3x32 windows of its second convolution); 2 M allows 256
#: channels of 3x3 windows at full 28x28 resolution, and is 8 MiB per image in float32
MAX_VALUES_PER_IMAGE = 2**21
#: layers of a network read from a model file (the presets have 7 to 13)
MAX_LAYERS = 1000
#: networks in an ensemble (``--ensemble N``); each answers every image, so N times the time
MAX_ENSEMBLE = 32
#: a model file's arrays may hold at most this many times the file's size (np.savez stores them
#: uncompressed: 1x; re-zipped float32 weights shrink about 1.1x) ...
MAX_MODEL_RATIO = 20
#: ... plus this much, whatever the file's size
MODEL_RATIO_FLOOR = 1 * MiB
#: a model file's JSON header (with a long training history: about 4 MB for 100 epochs of full
#: MNIST in batches of 32)
MAX_HEADER_BYTES = 64 * MiB
#: nesting of lists and dicts in that header (digitnet writes 4 levels)
MAX_HEADER_DEPTH = 32

# --- batches (train.py, trace.py, gradcheck.py, doctor) ------------------------------------------
#: the arrays one minibatch makes on its way through a network (its images times the values per
#: image of every layer): the mlp preset on all 54,000 MNIST training images at once is 0.6 GB
MAX_BATCH_BYTES = 2 * GiB

# --- reading numbers in images (read.py) ---------------------------------------------------------
#: separate ink marks (those that are not specks beside the largest) a number is read from: a
#: number has a few dozen strokes; a photo of dotted or squared paper has thousands of dots
MAX_BLOBS = 500


def size_text(n: float, unit: str = "B") -> str:
    """1536 -> '1.5 KiB', 2**30 - 1 -> '1024 MiB', 3e9 values -> '3 G values': sizes for
    messages."""
    def number(v: float) -> str:
        return f"{v:.3g}" if v < 1000 else f"{v:.0f}"

    if unit != "B":
        for div, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if n >= div:
                return f"{number(n / div)} {prefix} {unit}"
        return f"{n:,.0f} {unit}"
    for div, prefix in ((GiB * 1024, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (1024, "KiB")):
        if n >= div:
            return f"{number(n / div)} {prefix}"
    return f"{n:,.0f} bytes"
