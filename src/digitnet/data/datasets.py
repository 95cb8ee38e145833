"""Named data sources and splits: ``load_dataset("sample" | "mnist" | "fashion-mnist" | path)``.

- ``sample``: 10,000 training and 2,000 test MNIST images shipped inside the package.
- ``mnist``, ``fashion-mnist``: the four standard IDX files in ``cache_dir()/<name>/``; files
  already there are used as they are (no network), missing ones are downloaded and checked
  against known SHA-256 checksums.
- a folder with the four IDX files, a Kaggle CSV file, or a folder holding ``train.csv``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.data.idx import read_idx_pair
from digitnet.data.kaggle import read_kaggle_csv
from digitnet.errors import DataError

DATASET_NAMES = ("sample", "mnist", "fashion-mnist")
DIGITS = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
SAMPLE_DIR = Path(__file__).parent / "sample"
CSV_TEST_FRACTION = 0.1  # share of a labelled CSV held out as its test split
CSV_TEST_SEED = 0  # fixed, so the held-out rows are the same whatever seed a run uses

# role -> file name stems accepted in a folder (standard, then the original dotted name)
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

# where the downloads come from; SHA-256 of each .gz file
DOWNLOADS = {
    "mnist": {
        "title": "MNIST",
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "sha256": {
            "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "sha256": {
            "train_images": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "train_labels": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "test_images": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "test_labels": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        },
    },
}  # fmt: skip


@dataclass(repr=False)
class Dataset:
    """Images as rows of pixels in [0, 1], with their labels, split three ways."""

    name: str  # "sample", "mnist", "fashion-mnist", or the path given
    x_train: np.ndarray  # (N, 784) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int64 0..9
    x_val: np.ndarray  # (M, 784) float32, may have M == 0
    y_val: np.ndarray  # (M,) int64
    x_test: np.ndarray  # (T, 784) float32
    y_test: np.ndarray | None  # None when the test images carry no labels (Kaggle test.csv)
    class_names: list[str]  # "0".."9", or Fashion-MNIST's names
    image_shape: tuple[int, int] = (28, 28)
    source: str = ""  # human-readable description of where the data came from

    def __repr__(self) -> str:
        labelled = "labelled" if self.y_test is not None else "unlabelled"
        return (
            f"Dataset({self.name!r}: train {len(self.x_train):,}, val {len(self.x_val):,}, "
            f"test {len(self.x_test):,} {labelled}, {len(self.class_names)} classes)"
        )


def cache_dir() -> Path:
    """The folder downloads go to: ``$DIGITNET_DATA`` if set, else the user's cache folder."""
    env = os.environ.get("DIGITNET_DATA")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("digitnet"))


def load_dataset(
    source: str | os.PathLike = "sample",
    *,
    val_size: int | float = 0.1,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset by name or path, shuffle and split it.

    Steps: pixels / 255 as float32; shuffle the training data with ``default_rng(seed)``;
    keep the first ``train_size`` of them and the first ``test_size`` test images; carve the
    validation split from the training data (``val_size``: a count, or a fraction of the
    training data; 0 for none).

    A labelled Kaggle CSV (train.csv) has no test split of its own: ``test_size`` of its rows
    are held out as one (default: CSV_TEST_FRACTION of them, chosen with the fixed seed
    CSV_TEST_SEED) and every other row trains, so ``test_size=0, val_size=0`` trains on every
    labelled row.
    """
    name, x_train, y_train, x_test, y_test, description = _read_source(source, test_size)
    class_names = FASHION_CLASSES if name == "fashion-mnist" else DIGITS
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    n_train = _check_size("train_size", train_size, len(x_train))
    n_test = _check_size("test_size", test_size, len(x_test))
    order = order[:n_train]
    n_val = _val_count(val_size, n_train)
    train, val = order[: n_train - n_val], order[n_train - n_val :]
    return Dataset(
        name=name,
        x_train=_pixels(x_train[train]),
        y_train=y_train[train].astype(np.int64),
        x_val=_pixels(x_train[val]),
        y_val=y_train[val].astype(np.int64),
        x_test=_pixels(x_test[:n_test]),
        y_test=None if y_test is None else y_test[:n_test].astype(np.int64),
        class_names=list(class_names),
        source=description,
    )


def _read_source(source: str | os.PathLike, test_size: int | None = None) -> tuple:
    """(name, x_train, y_train, x_test, y_test or None, description), images as uint8;
    ``test_size``: the rows of a labelled CSV held out as its test split (``_read_csv``)."""
    if isinstance(source, str) and source.lower() in DATASET_NAMES:
        name = source.lower()
        if name == "sample":
            return (name, *_read_idx_folder(SAMPLE_DIR), _describe(name, SAMPLE_DIR))
        folder = cache_dir() / name
        if _find_idx_files(folder, missing_ok=True) is None:
            _download(name, folder)
        return (name, *_read_idx_folder(folder), _describe(name, folder))
    path = Path(source).expanduser()
    if path.is_dir():
        if _find_idx_files(path, missing_ok=True) is not None or not (path / "train.csv").is_file():
            return (str(source), *_read_idx_folder(path), f"IDX files in {path}")
        path = path / "train.csv"
    if path.is_file() and path.suffix.lower() == ".csv":
        return (str(source), *_read_csv(path, test_size))
    if path.exists():
        raise DataError(
            f"{path} is not a Kaggle CSV file (.csv) or a folder; pass train.csv, test.csv, or a "
            "folder holding the four IDX files."
        )
    raise DataError(
        f"unknown dataset {str(source)!r}: not one of {', '.join(DATASET_NAMES)} and no such file "
        "or folder. Give a name, a folder holding the four MNIST IDX files "
        "(train-images-idx3-ubyte[.gz], ...), a Kaggle CSV file, or a folder holding train.csv."
    )


def _read_idx_folder(folder: Path) -> tuple:
    files = _find_idx_files(folder)
    x_train, y_train = read_idx_pair(files["train_images"], files["train_labels"])
    x_test, y_test = read_idx_pair(files["test_images"], files["test_labels"])
    return x_train, y_train, x_test, y_test


def _find_idx_files(folder: Path, missing_ok: bool = False) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` by role, each ``.gz`` or raw, standard or dotted name.

    If any is missing: None when ``missing_ok``, else ``DataError`` naming the missing ones.
    """
    found = {}
    for role, stems in IDX_FILES.items():
        candidates = [folder / (stem + ext) for stem in stems for ext in (".gz", "")]
        found[role] = next((p for p in candidates if p.is_file()), None)
    missing = [IDX_FILES[role][0] for role, p in found.items() if p is None]
    if not missing:
        return found
    if missing_ok:
        return None
    if len(missing) == len(IDX_FILES):
        raise DataError(
            f"{folder} holds no MNIST IDX files; expected train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each "
            "optionally .gz), or a train.csv."
        )
    raise DataError(
        f"{folder} is missing {', '.join(missing)} (raw or .gz); put all four IDX files there."
    )


def _read_csv(path: Path, test_size: int | None = None) -> tuple:
    """A Kaggle CSV as (x_train, y_train, x_test, y_test, description). An unlabelled one
    (test.csv) is all test images, in the file's order. A labelled one (train.csv): its first
    ``test_size`` rows in a fixed shuffled order (seed CSV_TEST_SEED, the same whatever seed a
    run uses; default CSV_TEST_FRACTION of the rows) are the test split, all others train."""
    x, y = read_kaggle_csv(path)
    if y is None:
        empty = np.zeros((0, 784), np.uint8)
        text = f"Kaggle CSV {path}: {len(x):,} unlabelled test images, no training data"
        return empty, np.zeros(0, np.int64), x, None, text
    order = np.random.default_rng(CSV_TEST_SEED).permutation(len(x))
    if test_size is None:
        n_test, share = round(CSV_TEST_FRACTION * len(x)), f"{CSV_TEST_FRACTION:.0%}, "
    else:
        n_test, share = _check_size("test_size", test_size, len(x)), ""
    test, train = order[:n_test], order[n_test:]
    held = (f"the test split is {n_test:,} of them ({share}held out with fixed seed "
            f"{CSV_TEST_SEED}), the rest train" if n_test else "all of them train (no test split)")
    text = f"Kaggle CSV {path}: {len(x):,} labelled images; {held}"
    return x[train], y[train], x[test], y[test], text


def _describe(name: str, folder: Path) -> str:
    if name == "sample":
        return "MNIST subset shipped with digitnet (see digitnet/data/sample/README.md)"
    return f"{DOWNLOADS[name]['title']} IDX files in {folder}"


def _download(name: str, folder: Path) -> None:
    """Fetch the missing IDX .gz files of ``name`` into ``folder``; DataError if that fails."""
    import pooch

    info = DOWNLOADS[name]
    files = ", ".join(stems[0] + ".gz" for stems in IDX_FILES.values())
    where = (
        f"To work offline, put the four files ({files}; gzip'd or not) in {folder}, or pass a "
        "folder that holds them with --data DIR."
    )
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        for role, stems in IDX_FILES.items():
            if any((folder / (stem + ext)).is_file() for stem in stems for ext in (".gz", "")):
                continue
            fname = stems[0] + ".gz"
            reasons = []
            for mirror in info["mirrors"]:
                try:
                    pooch.retrieve(
                        mirror + fname,
                        known_hash="sha256:" + info["sha256"][role],
                        fname=fname,
                        path=folder,
                        progressbar=sys.stderr.isatty(),
                    )
                    break
                except Exception as err:  # offline, HTTP error, checksum mismatch, disk full ...
                    reasons.append(_reason(err))
            else:
                raise DataError(
                    f"download of {info['title']} failed: could not fetch {fname} "
                    f"({'; '.join(dict.fromkeys(reasons))}). {where}"
                )
    finally:
        logger.setLevel(level)


def _reason(err: Exception) -> str:
    """A few words on why a download failed."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if "hash" in text.lower():
        return "checksum mismatch: the file that arrived is not the expected one"
    kind = type(err).__name__
    if "Connection" in kind or "Timeout" in kind:
        return f"no connection ({kind})"
    return f"{kind}: {text[:120]}"


def _check_size(what: str, size: int | None, available: int) -> int:
    if size is None:
        return available
    whole = isinstance(size, (int, np.integer)) and not isinstance(size, bool)
    if not whole or not 0 <= size <= available:
        raise DataError(
            f"{what}={size!r} is not possible: give a whole number from 0 to {available:,} "
            "(the number of images available), or leave it out to use them all."
        )
    return int(size)


def _val_count(val_size: int | float, n_train: int) -> int:
    """How many of ``n_train`` training images go to validation (at least one stays behind)."""
    if isinstance(val_size, (float, np.floating)) and 0 <= val_size < 1:
        n_val = round(float(val_size) * n_train)
    elif isinstance(val_size, (int, np.integer)) and not isinstance(val_size, bool):
        n_val = int(val_size)
    else:
        n_val = -1
    if n_val == 0 or 0 < n_val < n_train:
        return n_val
    raise DataError(
        f"val_size={val_size!r} is not possible with {n_train:,} training images: give a count "
        f"from 0 to {max(n_train - 1, 0):,}, or a fraction in [0, 1) such as 0.1."
    )


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, 784) -> float32 rows (N, 784) in [0, 1]."""
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(255)
