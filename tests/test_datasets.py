"""load_dataset: the shipped sample, folders, Kaggle CSV files, the download cache, splits."""

import numpy as np
import pooch
import pytest

from digitnet.data import DATASET_NAMES, Dataset, load_dataset, write_idx
from digitnet.errors import DataError

TRAIN_HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")  # fmt: skip


def fake_mnist(folder, n_train=50, n_test=20, suffix=".gz", dotted=False, seed=0):
    """Write four small IDX files; image i is filled with a value that encodes i."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = [
        np.repeat(np.arange(n_train, dtype=np.uint8), 784).reshape(n_train, 28, 28),
        rng.integers(0, 10, n_train).astype(np.uint8),
        np.full((n_test, 28, 28), 255, np.uint8),
        rng.integers(0, 10, n_test).astype(np.uint8),
    ]
    for name, array in zip(IDX_NAMES, arrays, strict=True):
        if dotted:
            name = name.replace("-idx", ".idx")
        write_idx(folder / (name + suffix), array)
    return arrays


def no_network(*args, **kwargs):
    raise AssertionError("load_dataset tried to download")


def test_sample_shapes_types_and_range():
    data = load_dataset("sample")
    assert isinstance(data, Dataset) and data.name == "sample"
    assert data.x_train.shape == (9000, 784) and data.x_val.shape == (1000, 784)
    assert data.x_test.shape == (2000, 784) and data.y_test.shape == (2000,)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    for y in (data.y_train, data.y_val, data.y_test):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert data.class_names == [str(d) for d in range(10)] and data.image_shape == (28, 28)
    assert "sample" in repr(data) and "9,000" in repr(data) and data.source


def test_sample_test_split_is_the_original_order():
    first = load_dataset("sample", seed=1).y_test[:10]
    np.testing.assert_array_equal(
        first, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    )  # MNIST's first test labels


def test_seeded_shuffle_is_reproducible():
    a, b, c = (load_dataset("sample", seed=s, train_size=500) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(a.y_train, np.sort(a.y_train))


def test_sizes():
    data = load_dataset("sample", train_size=300, test_size=50, val_size=0.2)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (240, 60, 50)
    assert len(data.y_train) == 240 and len(data.y_test) == 50
    data = load_dataset("sample", train_size=300, val_size=25)
    assert (len(data.x_train), len(data.x_val)) == (275, 25)
    data = load_dataset("sample", train_size=300, val_size=0, test_size=0)
    assert data.x_val.shape == (0, 784) and data.y_val.shape == (0,) and len(data.x_test) == 0


def test_validation_is_disjoint_from_training(tmp_path):
    fake_mnist(tmp_path, n_train=50)
    data = load_dataset(tmp_path, val_size=10)
    ids = lambda x: set(np.round(x[:, 0] * 255).astype(int))  # noqa: E731
    assert len(ids(data.x_train) | ids(data.x_val)) == 50
    assert not ids(data.x_train) & ids(data.x_val)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"train_size": -1},
        {"train_size": 10_001},
        {"train_size": 2.5},
        {"test_size": 2001},
        {"test_size": -5},
        {"val_size": -0.1},
        {"val_size": 1.0},
        {"val_size": 10_000},
        {"val_size": True},
        {"val_size": 100, "train_size": 100},
    ],
)
def test_bad_sizes(kwargs):
    with pytest.raises(DataError) as info:
        load_dataset("sample", **kwargs)
    name = next(iter(kwargs))
    assert f"{name}=" in str(info.value)


@pytest.mark.parametrize("suffix, dotted", [(".gz", False), ("", False), ("", True)])
def test_folder_of_idx_files(tmp_path, suffix, dotted):
    arrays = fake_mnist(tmp_path, suffix=suffix, dotted=dotted)
    data = load_dataset(tmp_path, val_size=0)
    assert data.name == str(tmp_path) and len(data.x_train) == 50 and len(data.x_test) == 20
    np.testing.assert_array_equal(data.y_test, arrays[3])
    assert np.all(data.x_test == 1.0)
    assert str(tmp_path) in data.source


def test_folder_missing_one_file(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset(tmp_path)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="holds no MNIST IDX files"):
        load_dataset(tmp_path)


def write_train_csv(path, n=100, seed=0):
    rng = np.random.default_rng(seed)
    table = np.column_stack([rng.integers(0, 10, n), np.repeat(np.arange(n), 784).reshape(n, 784)])
    np.savetxt(path, table % 256, fmt="%d", delimiter=",", header=TRAIN_HEADER, comments="")
    return table


@pytest.mark.parametrize("as_folder", [False, True])
def test_kaggle_train_csv_carves_a_fixed_test_split(tmp_path, as_folder):
    write_train_csv(tmp_path / "train.csv")
    source = tmp_path if as_folder else tmp_path / "train.csv"
    a = load_dataset(source, val_size=0.1, seed=0)
    b = load_dataset(source, val_size=0.1, seed=5)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (81, 9, 10)
    assert a.y_test is not None and a.y_test.dtype == np.int64
    assert "test split" in a.source and "10" in a.source
    ids = lambda x: set(np.round(x[:, 0] * 255).astype(int))  # noqa: E731
    assert ids(a.x_test) == ids(b.x_test)  # the held-out rows do not depend on the seed
    assert not ids(a.x_test) & (ids(b.x_train) | ids(b.x_val))
    assert not np.array_equal(a.y_train, b.y_train)


def test_kaggle_test_csv_is_unlabelled(tmp_path):
    path = tmp_path / "test.csv"
    x = np.arange(5 * 784).reshape(5, 784) % 256
    np.savetxt(path, x, fmt="%d", delimiter=",", header=TRAIN_HEADER[6:], comments="")
    data = load_dataset(path, test_size=4)
    assert data.y_test is None and data.x_test.shape == (4, 784)
    assert data.x_train.shape == (0, 784) and data.y_train.shape == (0,)
    assert data.x_val.shape == (0, 784)
    np.testing.assert_allclose(data.x_test * 255, x[:4], atol=1e-4)
    assert "unlabelled" in repr(data)


def test_bad_csv_error_passes_through(tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN_HEADER + "\n1,2,3\n")
    with pytest.raises(DataError, match="line 2"):
        load_dataset(tmp_path / "train.csv")


def test_unknown_name():
    with pytest.raises(DataError) as info:
        load_dataset("mnistt")
    message = str(info.value)
    assert "'mnistt'" in message
    assert all(name in message for name in DATASET_NAMES)
    assert "folder" in message and "CSV" in message


def test_other_file_type(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match="not a Kaggle CSV file"):
        load_dataset(tmp_path / "x.png")


def test_mnist_uses_files_in_the_cache_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))
    monkeypatch.setattr(pooch, "retrieve", no_network)
    arrays = fake_mnist(tmp_path / "mnist", suffix="")
    data = load_dataset("mnist", val_size=0)
    assert data.name == "mnist" and len(data.x_train) == 50
    np.testing.assert_array_equal(np.sort(data.y_train), np.sort(arrays[1]))
    assert str(tmp_path / "mnist") in data.source


def test_fashion_mnist_class_names(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))
    monkeypatch.setattr(pooch, "retrieve", no_network)
    fake_mnist(tmp_path / "fashion-mnist")
    data = load_dataset("fashion-mnist")
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


def test_download_failure_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))
    calls = []

    def offline(url, **kwargs):
        calls.append(url)
        raise ConnectionError("Failed to resolve host")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "download of MNIST failed" in message and "no connection" in message
    assert str(tmp_path / "mnist") in message and "--data" in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert len(calls) == 2 and calls[1].startswith("https://storage.googleapis.com/")


def test_download_checksum_mismatch(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))

    def bad_hash(url, **kwargs):
        raise ValueError("SHA256 hash of downloaded file (x) does not match the known hash")

    monkeypatch.setattr(pooch, "retrieve", bad_hash)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("fashion-mnist")


def test_download_fetches_only_missing_files_with_checksums(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))
    source = tmp_path / "elsewhere"
    fake_mnist(source)
    fake_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    calls = []

    def fetch(url, known_hash, fname, path, **kwargs):
        calls.append((url, known_hash))
        (path / fname).write_bytes((source / fname).read_bytes())
        return str(path / fname)

    monkeypatch.setattr(pooch, "retrieve", fetch)
    data = load_dataset("mnist", val_size=0)
    assert len(data.x_train) == 50
    assert calls == [
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        )
    ]


def test_cache_dir_default_is_not_shared_data(monkeypatch):
    from digitnet.data import cache_dir

    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    assert cache_dir() == pooch.os_cache("digitnet")
    monkeypatch.setenv("DIGITNET_DATA", "~/mydata")
    assert cache_dir().name == "mydata" and "~" not in str(cache_dir())
