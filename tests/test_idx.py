"""IDX files: round trips and every kind of damaged file."""

import gzip
import struct

import numpy as np
import pytest

from digitnet.data import read_idx, write_idx
from digitnet.data.idx import read_idx_pair
from digitnet.errors import DataError


def images_and_labels(n=5, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def idx_bytes(array):
    """An IDX file built by hand, independent of write_idx."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_round_trip(tmp_path, name):
    images, _ = images_and_labels()
    write_idx(tmp_path / name, images)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.shape == (5, 28, 28)
    np.testing.assert_array_equal(back, images)
    back[0, 0, 0] = 1  # an ordinary, writable array


def test_gz_is_compressed_and_detected_by_content(tmp_path):
    images, _ = images_and_labels()
    write_idx(tmp_path / "a.gz", images)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    (tmp_path / "renamed").write_bytes((tmp_path / "a.gz").read_bytes())  # gzip without .gz
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed"), images)
    (tmp_path / "raw.gz").write_bytes(idx_bytes(images))  # raw despite the .gz name
    np.testing.assert_array_equal(read_idx(tmp_path / "raw.gz"), images)


def test_gz_output_is_deterministic(tmp_path):
    images, _ = images_and_labels()
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "b.gz", images)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_reads_hand_made_file_and_big_endian_types(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    (tmp_path / "l").write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), labels)
    ints = np.array([[1, -2], [300000, 4]], dtype=np.int32)
    write_idx(tmp_path / "i", ints)
    assert (tmp_path / "i").read_bytes()[:4] == bytes([0, 0, 0x0C, 2])
    np.testing.assert_array_equal(read_idx(tmp_path / "i"), ints)


def expect_error(path, *words):
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope", "not found")


def test_wrong_magic(tmp_path):
    data = bytearray(idx_bytes(np.zeros(3, np.uint8)))
    data[0] = 0x12
    (tmp_path / "f").write_bytes(bytes(data))
    expect_error(tmp_path / "f", "not an IDX file", "00 00")


def test_text_file_is_not_idx(tmp_path):
    (tmp_path / "f.csv").write_text("label,pixel0\n1,2\n")
    expect_error(tmp_path / "f.csv", "not an IDX file")


def test_unsupported_type(tmp_path):
    (tmp_path / "f").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))
    expect_error(tmp_path / "f", "unsupported", "0x07")


@pytest.mark.parametrize("ndim", [0, 200])
def test_bad_ndim(tmp_path, ndim):
    (tmp_path / "f").write_bytes(bytes([0, 0, 0x08, ndim]) + bytes(64))
    expect_error(tmp_path / "f", f"declares {ndim} dimensions")


def test_truncated_header(tmp_path):
    (tmp_path / "f").write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 5]))
    expect_error(tmp_path / "f", "truncated")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    images, _ = images_and_labels()
    data = idx_bytes(images)[:-100]
    (tmp_path / "f").write_bytes(gzip.compress(data) if gz else data)
    message = expect_error(tmp_path / "f", "truncated", "(5, 28, 28)")
    assert "3,920 bytes" in message and "3,820" in message


def test_oversized_payload(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "f").write_bytes(idx_bytes(labels) + b"extra")
    expect_error(tmp_path / "f", "5 unexpected bytes")


def test_corrupt_gzip(tmp_path):
    images, _ = images_and_labels()
    data = bytearray(gzip.compress(idx_bytes(images)))
    data[40:60] = bytes(20)  # damage the compressed stream
    (tmp_path / "f.gz").write_bytes(bytes(data))
    expect_error(tmp_path / "f.gz", "damaged gzip", "download or copy it again")


def test_cut_off_gzip(tmp_path):
    images, _ = images_and_labels()
    (tmp_path / "f.gz").write_bytes(gzip.compress(idx_bytes(images))[:-30])
    expect_error(tmp_path / "f.gz", "damaged gzip")


def test_write_rejects_unknown_dtype_and_leaves_nothing(tmp_path):
    with pytest.raises(DataError, match="astype"):
        write_idx(tmp_path / "f", np.zeros(3, np.int64))
    assert list(tmp_path.iterdir()) == []


def test_write_to_missing_folder(tmp_path):
    with pytest.raises(DataError, match="cannot write"):
        write_idx(tmp_path / "no" / "such" / "f.gz", np.zeros(3, np.uint8))


def test_pair(tmp_path):
    images, labels = images_and_labels(7)
    write_idx(tmp_path / "i.gz", images)
    write_idx(tmp_path / "l", labels)
    x, y = read_idx_pair(tmp_path / "i.gz", tmp_path / "l")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_pair_count_mismatch(tmp_path):
    images, labels = images_and_labels(7)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", labels[:6])
    with pytest.raises(DataError, match="7 images but .* has 6 labels"):
        read_idx_pair(tmp_path / "i", tmp_path / "l")


def test_pair_label_out_of_range(tmp_path):
    images, labels = images_and_labels(7)
    labels[4] = 12
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", labels)
    with pytest.raises(DataError, match=r"label 12 at index 4 is outside 0\.\.9"):
        read_idx_pair(tmp_path / "i", tmp_path / "l")


def test_pair_files_swapped(tmp_path):
    images, labels = images_and_labels(7)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", labels)
    with pytest.raises(DataError, match="expected 28x28"):
        read_idx_pair(tmp_path / "l", tmp_path / "i")
