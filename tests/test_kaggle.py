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


# --- end to end: train on every labelled row, submit only from test.csv -------------------------
def kaggle_files(folder, sample, n_train=300, n_test=40):
    """A small train.csv (labelled) and test.csv (unlabelled) made of the sample's images."""
    def table(x):
        return np.rint(x * 255).astype(int)

    train = np.column_stack([sample.y_train[:n_train], table(sample.x_train[:n_train])])
    np.savetxt(folder / "train.csv", train, fmt="%d", delimiter=",", header=TRAIN_HEADER,
               comments="")
    np.savetxt(folder / "test.csv", table(sample.x_test[:n_test]), fmt="%d", delimiter=",",
               header=TEST_HEADER, comments="")
    return folder / "train.csv", folder / "test.csv"


def test_test_size_0_and_val_size_0_train_on_every_labelled_row(tmp_path, sample):
    import digitnet as dn

    train_csv, _ = kaggle_files(tmp_path, sample)
    ds = dn.load_dataset(train_csv, test_size=0, val_size=0)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (300, 0, 0)
    assert "all of them train" in ds.source
    np.testing.assert_array_equal(np.sort(ds.y_train), np.sort(sample.y_train[:300]))
    default = dn.load_dataset(train_csv, val_size=0)  # 10% held out as the test split
    assert (len(default.x_train), len(default.x_test)) == (270, 30)
    some = dn.load_dataset(train_csv, test_size=12, val_size=0)  # the rest train, none lost
    assert (len(some.x_train), len(some.x_test)) == (288, 12)
    np.testing.assert_array_equal(some.x_test, default.x_test[:12])  # the same fixed rows
    with pytest.raises(DataError, match="test_size=301 is not possible"):
        dn.load_dataset(train_csv, test_size=301)


def test_cli_trains_on_all_rows_then_submits_for_test_csv(tmp_path, sample, capsys):
    import json

    from digitnet.cli import main

    train_csv, test_csv = kaggle_files(tmp_path, sample)
    model = tmp_path / "m.npz"
    assert main(["train", "--data", str(train_csv), "--test-size", "0", "--val-size", "0",
                 "--model", "784-16-10", "--epochs", "1", "--out", str(model), "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n_train"] == 300 and "test_accuracy" not in result
    assert "300 train, 0 validation, 0 test images" in err
    assert "not calibrated" in err
    sub = tmp_path / "submission.csv"
    assert main(["predict", str(model), "--data", str(test_csv), "--submission", str(sub)]) == 0
    assert f"submission written to {sub}: 40 rows" in capsys.readouterr().out
    lines = sub.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 41 and lines[-1].startswith("40,")


@pytest.mark.parametrize("source", ["sample", "train.csv", "test.csv --test-size 10"])
def test_submission_refuses_a_source_that_is_not_the_whole_unlabelled_test_set(
        tmp_path, sample, capsys, model_file, source):
    from digitnet.cli import main

    kaggle_files(tmp_path, sample)
    name, *more = source.split()
    data = ["--dataset", "sample"] if name == "sample" else ["--data", str(tmp_path / name)]
    sub = tmp_path / "submission.csv"
    assert main(["predict", str(model_file), *data, *more, "--submission", str(sub)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("digitnet: error:") and err.count("\n") == 1, err
    assert ("labelled" in err) if name != "test.csv" else ("drop --test-size" in err)
    assert not sub.exists() and out == ""


def test_measuring_on_a_csv_uses_only_rows_the_model_did_not_learn_from(tmp_path, sample,
                                                                          capsys):
    """A labelled CSV's test rows are carved from the same file: evaluate, report and
    calibrate --split test take the rows the model's training held out, and refuse to count
    rows it learned from (trained with --test-size 0, or a larger --test-size)."""
    import json

    from digitnet.cli import main

    train_csv, _ = kaggle_files(tmp_path, sample)
    models = {}
    for held in ("0", "12", None):
        models[held] = tmp_path / f"m{held}.npz"
        more = ["--test-size", held] if held is not None else []
        assert main(["train", "--data", str(train_csv), *more, "--val-size", "0", "--model",
                     "784-8-10", "--epochs", "1", "-q", "--out", str(models[held])]) == 0
    capsys.readouterr()

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    data = ["--data", str(train_csv)]
    for cmd in (["evaluate"], ["report", "--out", str(tmp_path / "r")],
                ["calibrate", "--split", "test", "--out", str(tmp_path / "c.npz")]):
        code, out, err = run(cmd[0], str(models["0"]), *data, *cmd[1:])
        assert code == 1 and err.count("\n") == 1 and "trained on every row" in err, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "c.npz").exists()
    # the model's own held-out rows unless told; fewer is fine, more is refused
    code, out, _ = run("evaluate", str(models["12"]), *data, "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["n_test"] == 12
    assert run("evaluate", str(models["12"]), *data, "--test-size", "5")[0] == 0
    code, _, err = run("evaluate", str(models["12"]), *data, "--test-size", "13")
    assert code == 1 and "held out only the first 12 test rows" in err
    code, _, err = run("evaluate", str(models[None]), *data, "--test-size", "31")  # 10% of 300
    assert code == 1 and "held out only the first 30 test rows" in err
    assert run("evaluate", str(models[None]), *data, "--test-size", "30")[0] == 0
    # predicting is not measuring: every row may be labelled
    assert run("predict", str(models["0"]), *data, "--test-size", "50")[0] == 0
    # the same file under another name (a copy) or path is known by its bytes
    copy = tmp_path / "elsewhere" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(train_csv.read_bytes())
    for model in ("0", "12"):
        code, _, err = run("evaluate", str(models[model]), "--data", str(copy), "--test-size",
                           "13")
        assert code == 1 and ("trained on every row" if model == "0" else "held out only") in err
    changed = tmp_path / "changed.csv"  # other bytes: another file, nothing to check
    changed.write_bytes(train_csv.read_bytes().replace(b"\n", b"\r\n"))
    assert run("evaluate", str(models["0"]), "--data", str(changed), "--test-size", "13")[0] == 0
