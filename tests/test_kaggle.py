"""Kaggle Digit Recognizer CSV in, submission CSV out."""

import numpy as np
import pytest

from digitnet.data import read_kaggle_csv, write_submission
from digitnet.errors import DataError

PIXELS = ",".join(f"pixel{i}" for i in range(784))
TRAIN_HEADER = "label," + PIXELS
TEST_HEADER = PIXELS


def rows(n=4, labels=True, seed=0):
    """n CSV data lines, and the arrays they encode."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 784))
    y = rng.integers(0, 10, size=n)
    table = np.column_stack([y, x]) if labels else x
    return [",".join(map(str, row)) for row in table], x, y


def write_csv(path, header, lines, end="\n"):
    path.write_text(end.join([header, *lines]) + end)
    return path


def test_train_csv(tmp_path):
    lines, x, y = rows(4)
    got_x, got_y = read_kaggle_csv(write_csv(tmp_path / "train.csv", TRAIN_HEADER, lines))
    assert got_x.dtype == np.uint8 and got_x.shape == (4, 784)
    assert got_y.dtype == np.int64 and got_y.shape == (4,)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_test_csv_has_no_labels(tmp_path):
    lines, x, _ = rows(3, labels=False)
    got_x, got_y = read_kaggle_csv(write_csv(tmp_path / "test.csv", TEST_HEADER, lines))
    assert got_y is None
    np.testing.assert_array_equal(got_x, x)


def test_single_row_windows_line_ends_and_bom(tmp_path):
    lines, x, y = rows(1)
    path = tmp_path / "t.csv"
    path.write_bytes(("\ufeff" + TRAIN_HEADER + "\r\n" + lines[0] + "\r\n").encode())
    got_x, got_y = read_kaggle_csv(path)
    assert got_x.shape == (1, 784)
    np.testing.assert_array_equal(got_y, y)


def read_error(path):
    with pytest.raises(DataError) as info:
        read_kaggle_csv(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    assert "line 1: the file is empty" in read_error(tmp_path / "e.csv")


def test_header_only(tmp_path):
    assert "no data rows" in read_error(write_csv(tmp_path / "h.csv", TRAIN_HEADER, []))


def test_missing_header(tmp_path):
    lines, _, _ = rows(3)
    message = read_error(write_csv(tmp_path / "n.csv", lines[0], lines[1:]))
    assert "line 1" in message and "no header row" in message


def test_wrong_header(tmp_path):
    lines, _, _ = rows(3)
    message = read_error(write_csv(tmp_path / "w.csv", "id," + PIXELS, lines))
    assert "line 1" in message and "'id,pixel0,pixel1...'" in message


def test_binary_file(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x00\x81")
    assert "not a text CSV" in read_error(tmp_path / "b.csv")


@pytest.mark.parametrize(
    "row, bad_line, words",
    [
        (lambda r: r.rsplit(",", 1)[0], 4, "has 784 values, expected 785"),
        (lambda r: r + ",7", 4, "has 786 values"),
        (lambda r: r.replace(",", ",abc,", 1).rsplit(",", 1)[0], 4, "pixel0 is 'abc', not a whole"),
        (lambda r: r.replace(",", ",2.5,", 1).rsplit(",", 1)[0], 4, "'2.5', not a whole number"),
        (lambda r: "3," + ",".join(["256"] + r.split(",")[2:]), 4, "pixel0 is 256, outside 0..255"),
        (lambda r: "3," + ",".join(["-1"] + r.split(",")[2:]), 4, "pixel0 is -1, outside 0..255"),
        (lambda r: "10," + r.split(",", 1)[1], 4, "label is 10, outside 0..9"),
        (lambda r: "99999," + r.split(",", 1)[1], 4, "label is 99999, outside 0..9"),
    ],
)
def test_malformed_row_names_its_line(tmp_path, row, bad_line, words):
    lines, _, _ = rows(5)
    lines[2] = row(lines[2])  # file line 4: header is line 1, data starts on line 2
    message = read_error(write_csv(tmp_path / "m.csv", TRAIN_HEADER, lines))
    assert f"line {bad_line}:" in message, message
    assert words in message, message


@pytest.mark.slow
def test_line_numbers_count_blank_lines_and_long_files(tmp_path):
    lines, _, _ = rows(2500)
    lines.insert(5, "")  # a blank line is skipped but still counted
    lines[2300] = lines[2300].rsplit(",", 1)[0]
    message = read_error(write_csv(tmp_path / "big.csv", TRAIN_HEADER, lines))
    assert "line 2302:" in message, message


def test_blank_lines_are_ignored(tmp_path):
    lines, x, _ = rows(3)
    got_x, _ = read_kaggle_csv(
        write_csv(tmp_path / "b.csv", TRAIN_HEADER, [lines[0], "", *lines[1:]])
    )
    np.testing.assert_array_equal(got_x, x)


def test_test_csv_with_label_column_values(tmp_path):
    lines, _, _ = rows(3)  # 785 values under a 784-column header
    message = read_error(write_csv(tmp_path / "t.csv", TEST_HEADER, lines))
    assert "line 2: has 785 values, expected 784" in message


def test_missing_file(tmp_path):
    assert "not found" in read_error(tmp_path / "nope.csv")


def test_submission_round_trip(tmp_path):
    labels = np.array([7, 2, 1, 0, 9])
    write_submission(tmp_path / "sub.csv", labels)
    text = (tmp_path / "sub.csv").read_text().splitlines()
    assert text == ["ImageId,Label", "1,7", "2,2", "3,1", "4,0", "5,9"]
    table = np.loadtxt(tmp_path / "sub.csv", delimiter=",", skiprows=1, dtype=int)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, 6))
    np.testing.assert_array_equal(table[:, 1], labels)
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]  # no temporary file left


def test_submission_failure_keeps_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "sub.csv"
    write_submission(path, np.array([1, 2, 3]))
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("digitnet.data.idx.os.replace", fail)
    with pytest.raises(DataError, match="No space left"):
        write_submission(path, np.array([4, 5, 6, 7]))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]


@pytest.mark.parametrize("labels", [np.array([1, 10]), np.array([[1, 2]]), np.array([0.5])])
def test_submission_rejects_bad_labels(tmp_path, labels):
    with pytest.raises(DataError):
        write_submission(tmp_path / "sub.csv", labels)
    assert not (tmp_path / "sub.csv").exists()
