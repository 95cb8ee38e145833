"""Data files that are damaged or hostile: a gzip'd IDX bomb, headers declaring more data than
the file could hold, CSV files of one endless line or of only line ends. Each is refused with a
DataError before its size is allocated (peak memory measured with tracemalloc); random and
mutated files (hypothesis) raise nothing else."""

import gzip
import importlib.util
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers import peak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.data import read_idx, read_kaggle_csv, write_idx
from digitnet.errors import DataError, DigitnetError
from digitnet.limits import GZIP_RATIO_FLOOR, MAX_DATA_BYTES, MAX_GZIP_RATIO, MiB

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
PIXELS = ",".join(f"pixel{i}" for i in range(784))


_spec = importlib.util.spec_from_file_location(
    "hostile_inputs", Path(__file__).resolve().parent.parent / "bench" / "hostile_inputs.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
#: a gzip file of a head and many zero bytes, made without holding them (bench/hostile_inputs.py)
gzip_bomb = _bench.gzip_bomb


def idx_head(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


# --- IDX ---------------------------------------------------------------------------------------
def test_gzip_bomb_of_2_5_gib_is_refused_before_decompressing(tmp_path):
    """Before: a 2.6 MB .gz decompressing to 2.5 GiB was read whole (5 GiB peak). The header
    is read from the stream first; its declared size is beyond MAX_DATA_BYTES."""
    n = 2_684_354_560  # 2.5 GiB of pixels: (10 * 2^20, 16, 16)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(idx_head((10 * 2**20, 16, 16)), 64 * MiB))  # its start suffices
    err, used = peak(read_idx, path)
    assert isinstance(err, DataError), err
    assert "2.5 GiB" in str(err) and "MAX_DATA_BYTES" in str(err)
    assert n > MAX_DATA_BYTES and used < 2 * MiB


@pytest.mark.slow
def test_a_whole_2_5_gib_gzip_bomb(tmp_path):
    """The bomb itself: 2.5 GiB of zeros in 2.6 MB."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip_bomb(idx_head((10 * 2**20, 16, 16)), 10 * 2**28))
    assert path.stat().st_size < 3 * MiB
    err, used = peak(read_idx, path)
    assert isinstance(err, DataError) and "2.5 GiB" in str(err)
    assert used < 2 * MiB


def test_gzip_declaring_more_than_its_ratio_allows(tmp_path):
    """1 GiB declared (under MAX_DATA_BYTES) in a 1 MB file: more than MAX_GZIP_RATIO times its
    size, so refused before decompressing; the message says how to read a genuine file."""
    path = tmp_path / "x.gz"
    path.write_bytes(gzip_bomb(idx_head((2**30,)), 2**30, level=9))
    size = path.stat().st_size
    assert 2**30 > MAX_GZIP_RATIO * size
    err, used = peak(read_idx, path)
    assert isinstance(err, DataError) and "MAX_GZIP_RATIO" in str(err) and "gunzip" in str(err)
    assert used < 2 * MiB


def test_blank_images_compress_well_and_still_read(tmp_path):
    """Within GZIP_RATIO_FLOOR any ratio is fine: 20,000 black images compress 1000x."""
    images = np.zeros((20_000, 28, 28), np.uint8)
    write_idx(tmp_path / "x.gz", images)
    assert images.nbytes > 500 * (tmp_path / "x.gz").stat().st_size
    assert images.nbytes < GZIP_RATIO_FLOOR
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)


@pytest.mark.parametrize("gz", [False, True])
def test_header_declaring_more_than_the_file_holds_reads_only_what_is_there(tmp_path, gz):
    """A 60-byte file declaring 60 MB: truncated, found reading at most what is there."""
    data = idx_head((60_000, 1000)) + bytes(40)
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(data) if gz else data)
    err, used = peak(read_idx, path)
    assert isinstance(err, DataError) and "truncated" in str(err) and "only 40 bytes" in str(err)
    assert used < 4 * MiB


def test_endless_trailing_data_is_counted_in_bounded_reads(tmp_path):
    path = tmp_path / "f.gz"
    path.write_bytes(gzip_bomb(idx_head((3,)) + b"abc", 200 * MiB))
    err, used = peak(read_idx, path)
    assert isinstance(err, DataError) and "more than 67,108,864 unexpected bytes" in str(err)
    assert used < 8 * MiB


def test_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe")  # opening it would wait for a writer forever
    with pytest.raises(DataError, match="not a regular file"):
        read_idx(tmp_path / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        read_idx(tmp_path)
    with pytest.raises(DataError, match="not a regular file"):
        read_kaggle_csv(tmp_path / "pipe")


def reads_or_refuses(path, reader):
    try:
        reader(path)
    except DigitnetError:
        pass


@FUZZ
@given(data=st.binary(max_size=600), gz=st.booleans())
def test_fuzz_idx_random_bytes(data_dir, data, gz):
    path = data_dir / "fuzz"
    path.write_bytes(gzip.compress(data) if gz else data)
    reads_or_refuses(path, read_idx)


@FUZZ
@given(data=st.data())
def test_fuzz_idx_mutated(data_dir, data):
    raw = bytearray(idx_head((3, 4, 5)) + bytes(range(60)))
    if data.draw(st.booleans()):
        raw = bytearray(gzip.compress(bytes(raw)))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and len(raw) > 1:
            del raw[at:at + data.draw(st.integers(1, 8))]
    path = data_dir / "fuzz"
    path.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        reads_or_refuses(path, read_idx)
        assert tracemalloc.get_traced_memory()[1] < 4 * MiB
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --- Kaggle CSV --------------------------------------------------------------------------------
@pytest.mark.parametrize("case, message", [
    ("endless_line", "line 3: has more than 65,536 characters"),
    ("endless_header", "line 1: found a line of more than 16,384 characters"),
    ("only_line_ends", "no data rows"),
    ("two_columns", "line 2: has 2 values, expected 785"),
    ("huge_number", "line 2: label is 99999999999999999999"),
])
def test_hostile_csv_costs_about_its_size(tmp_path, case, message):
    """Each file is 1 MiB; before, these cost 15-18 MiB (the whole text, then a list of lines)."""
    row = ",".join(["1"] * 785)
    text = {"endless_line": f"label,{PIXELS}\n{row}\n" + "1," * (MiB // 2),
            "endless_header": "," * MiB,
            "only_line_ends": f"label,{PIXELS}" + "\n" * MiB,
            "two_columns": f"label,{PIXELS}\n" + "1,2\n" * (MiB // 4),
            "huge_number": f"label,{PIXELS}\n" + "9" * 20 + row[1:] + "\n" + f"{row}\n" * 300,
            }[case]
    path = tmp_path / "x.csv"
    path.write_text(text)
    err, used = peak(read_kaggle_csv, path)
    assert isinstance(err, DataError), err
    assert message in str(err), str(err)
    assert used < 10 * MiB


def test_a_real_size_csv_costs_about_its_values(tmp_path):
    """3,000 rows (7 MB): about its int16 values (4.7 MB) and the uint8 copy, not the text
    several times over."""
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.integers(0, 10, 3000), rng.integers(0, 256, (3000, 784))])
    path = tmp_path / "train.csv"
    np.savetxt(path, table, fmt="%d", delimiter=",", header="label," + PIXELS, comments="")
    (x, y), used = peak(read_kaggle_csv, path)
    np.testing.assert_array_equal(x, table[:, 1:])
    assert used < 2.5 * table.size * 2 + 2 * MiB
    assert path.stat().st_size > 6 * MiB


LINES = st.lists(st.text(alphabet="0123456789,- \t.ax\r\"", max_size=40), max_size=6)


@FUZZ
@given(header=st.sampled_from([f"label,{PIXELS}", PIXELS, "label,pixel0", ""]),
       lines=LINES, row=st.booleans())
def test_fuzz_csv(data_dir, header, lines, row):
    good = ",".join(["3"] * (785 if header.startswith("label,p") else 784))
    path = data_dir / "fuzz.csv"
    path.write_text("\n".join([header, *([good] if row else []), *lines]))
    reads_or_refuses(path, read_kaggle_csv)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_csv_random_bytes(data_dir, data):
    path = data_dir / "fuzz.csv"
    path.write_bytes(f"label,{PIXELS}\n".encode() + data)
    reads_or_refuses(path, read_kaggle_csv)
