"""Every bad value of every option: one line on stderr, exit status 1, no traceback; output into
a closed pipe ends quietly; several image files with bad ones among them."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import last_json
from PIL import Image

from digitnet.cli import build_parser, main

NOT_NUMBERS = ["abc", "", "1,5", "0x10", "nan", "inf"]
NOT_WHOLE = ["abc", "", "1.5", "1e3", "nan", "inf", "9" * 5000]
#: a value for each option, with what the error says: (option, value, message)
COUNT = "must be a whole number"
NUMBER = "must be a number"
SEED = [("--seed", v, "from 0 to 4294967295") for v in
        ("-1", "4294967296", str(10**30), "abc", "1.5")]
DATA = ([("--train-size", v, COUNT) for v in ["-1", *NOT_WHOLE]]
        + [("--test-size", v, COUNT) for v in ["-5", *NOT_WHOLE]]
        + [("--val-size", v, "a fraction in [0, 1)") for v in
           ["-0.1", "1.5", "nan", "inf", "-inf", "1e400", "abc", "", "3000000000"]]
        + [("--dataset", "no-such-set", "unknown dataset"),
           ("--data", "/no/such/folder", "no such file")])
TRAINING = ([("--lr", v, NUMBER) for v in ["0", "-1", "-1e-3", "1e400", *NOT_NUMBERS]]
            + [("--batch-size", v, COUNT) for v in ["0", "-1", "2147483648", *NOT_WHOLE]]
            + [("--weight-decay", v, NUMBER) for v in ["-1", "-0.5", "1e400", *NOT_NUMBERS]]
            + [("--optimizer", "rmsprop", "invalid choice")])
MODEL = ([("--dropout", v, "in [0, 1)") for v in ["1", "1.5", "-0.1", "1e400", *NOT_NUMBERS]]
         + [("--activation", "swish", "invalid choice"), ("--init", "zeros", "invalid choice"),
            ("--model", "784-abc-10", "cannot read"), ("--model", "", "")]
         + SEED)


def cases():
    table = []
    for opt, v, msg in DATA + TRAINING + MODEL + [
            ("--epochs", "0", COUNT), ("--epochs", "-3", COUNT), ("--epochs", "1.5", COUNT),
            ("--warmup", "-1", NUMBER), ("--warmup", "nan", NUMBER), ("--warmup", "inf", NUMBER),
            ("--warmup", "2", "--warmup must be between 0 and --epochs"),
            ("--patience", "0", COUNT), ("--patience", "-1", COUNT),
            ("--elastic", "-1", "in [0, 8]"), ("--elastic", "9", "in [0, 8]"),
            ("--elastic", "nan", NUMBER), ("--elastic", "x", NUMBER),
            ("--binary", "-1", COUNT), ("--binary", "10", "class 0..9"),
            ("--schedule", "wavy", "invalid choice"),
            ("--label-smoothing", "1", "in [0, 1)"), ("--label-smoothing", "-0.1", "in [0, 1)"),
            ("--label-smoothing", "nan", NUMBER),
            ("--betas", "0.9", "two numbers"), ("--betas", "0.9,1", "in [0, 1)"),
            ("--betas", "0.9,0.99,0.9", "two numbers"), ("--betas", "a,b", NUMBER),
            ("--momentum", "1", "in [0, 1)"), ("--momentum", "-1", "in [0, 1)"),
            ("--threads", "0", COUNT), ("--threads", "257", COUNT), ("--threads", "two", COUNT),
            ("--ensemble", "0", COUNT), ("--ensemble", "33", COUNT), ("--ensemble", "x", COUNT),
            ("--tta", "4", "invalid choice"), ("--tta", "x", "invalid int"),
            ("--resume", "missing.npz", "no model file"), ("--resume", ".", "is a folder"),
            ("--resume", "afile", "not a digitnet model file"),
            ("--init-from", "missing.npz", "no model file"), ("--init-from", "afile", "not a"),
            ("--nope", None, "unrecognized arguments")]:
        table.append((["train", "--epochs", "1", opt, *([] if v is None else [v])], msg))
    for command in ("evaluate", "calibrate", "predict", "report", "info"):
        model = [] if command == "info" else ["MODEL"]
        for opt, v, msg in DATA:
            table.append(([command, *model, opt, v], msg))
    table += [(["calibrate", "MODEL", opt, v], msg)
              for opt, v, msg in [*SEED, ("--split", "train", "invalid choice")]]
    table += [
        (["evaluate", "MODEL", "--test-size", "0"], "no test images to evaluate"),
        (["predict", "MODEL", "--test-size", "0"], "no test images to predict"),
        (["report", "MODEL", "--test-size", "0"], "no images to report on"),
        (["evaluate", "no-such-model.npz"], "no model file"),
        (["evaluate", "."], "is a folder, not a model file"),
        (["evaluate"], "required: MODEL"),
        (["evaluate", "MODEL", "--tta", "3"], "invalid choice"),
        (["ensemble", "MODEL", "--out", "e.npz", "--tta", "2"], "invalid choice"),
        (["ensemble", "MODEL"], "required: --out"),
        (["ensemble", "--out", "e.npz"], "required: MODEL"),
        (["ensemble", "MODEL", "afile", "--out", "e.npz"], "afile"),
        (["ensemble", "MODEL", "--out", "."], "folder"),
        (["predict", "MODEL", "--submission", "no/such/folder/s.csv"], "does not exist"),
        (["predict", "MODEL", "--submission", "."], "it is a folder"),
        (["predict", "MODEL", "--show", "seen"], "--show works with image files"),
        (["report", "MODEL", "--out", "afile"], "it is a file, not a folder"),
        (["read", "MODEL"], "required: IMAGE"),
        (["read", "MODEL", "missing.png"], "no such file"),
        (["read", "MODEL", "afile"], "not an image"),
        (["read", "no-such-model.npz", "afile"], "no model file"),
    ]
    gc = ["gradcheck", "--model", "784-8-10"]
    table += [([*gc, "--batch", v], COUNT) for v in ["0", "-1", "2147483648", *NOT_WHOLE]]
    table += [([*gc, "--max-entries", v], COUNT) for v in ["0", "-1", *NOT_WHOLE]]
    table += [([*gc, "--eps", v], "in (0, 1)") for v in ["0", "-1", "1", "1e300", *NOT_NUMBERS]]
    table += [([*gc, "--threshold", v], NUMBER) for v in ["0", "-1", "1e400", *NOT_NUMBERS]]
    table += [([*gc, opt, v], msg) for opt, v, msg in MODEL if opt != "--dropout"]
    tr = ["trace", "--model", "784-8-10"]
    table += [([*tr, "--batch", v], COUNT) for v in ["0", "-1", *NOT_WHOLE]]
    table += [([*tr, "--lr", v], NUMBER) for v in ["0", "-1", *NOT_NUMBERS]]
    table += [([*tr, "--layout", "diagonal"], "invalid choice"),
              ([*tr, "--optimizer", "rmsprop"], "invalid choice")]
    table += [([*tr, opt, v], msg) for opt, v, msg in MODEL + DATA if opt != "--dropout"]
    dr = ["doctor", "--model", "784-8-10", "--steps", "1"]
    table += [([*dr, "--steps", v], COUNT) for v in ["-1", *NOT_WHOLE]]
    table += [([*dr, opt, v], msg) for opt, v, msg in TRAINING + MODEL + DATA]
    table += [([*dr, "--code", "missing.py"], "missing.py"),
              ([*dr, "--code", "afile", "--bind", "forward"], "ROLE=FUNCTION"),
              ([*dr, "--bind", "forward=f"], "use it with --code"),
              ([*dr, "--pixels", "1024"], "invalid choice")]
    sv = ["serve", "MODEL"]
    table += [([*sv, "--port", v], "from 0 to 65535") for v in ["-1", "65536", "99999999", "x"]]
    table += [([*sv, "--threads", v], "from 1 to 256") for v in ["0", "-1", "100000000", "x"]]
    table += [([*sv, "--host", v], "not an address of this computer")
              for v in ["999.1.1.1", "not a host", "", "1.2.3.4.5"]]
    table += [([*sv, "--host", "192.0.2.1", "--port", "0"], "cannot listen on 192.0.2.1")]
    sw = ["sweep", "--epochs", "1", "--jobs", "1", "--train-size", "300"]
    table += [([*sw, opt, v], msg) for opt, v, msg in DATA + SEED]
    table += [([*sw, "--lr", v], NUMBER) for v in ["0", "-1", "1e400", "abc", "", "nan", "0.1,0",
                                                   "0.1,"]]
    table += [([*sw, "--batch-size", v], COUNT) for v in ["0", "-1", "2147483648", *NOT_WHOLE]]
    table += [([*sw, opt, v], COUNT) for opt in ("--epochs", "--random", "--jobs")
              for v in ["0", "-1", "1,1.5", "x"]]
    table += [([*sw, "--weight-decay", v], NUMBER) for v in ["-1", "0,-0.5", "nan"]]
    table += [([*sw, opt, v], "in [0, 1)") for opt in ("--dropout", "--label-smoothing")
              for v in ["1", "0.1,1.5", "-0.1"]]
    table += [([*sw, "--warmup", v], NUMBER) for v in ["-1", "inf"]]
    table += [([*sw, "--elastic", v], "in [0, 8]") for v in ["-1", "2,9"]]
    table += [([*sw, "--elastic", v], NUMBER) for v in ["nan", "x"]]
    table += [([*sw, "--optimizer", "adam,rmsprop"], "'rmsprop' is not one of"),
              ([*sw, "--activation", "relu,swish"], "'swish' is not one of"),
              ([*sw, "--schedule", "wavy"], "'wavy' is not one of"),
              ([*sw, "--augment", "maybe"], "must be yes or no"),
              ([*sw, "--model", "784-abc-10"], "cannot read"), ([*sw, "--model", ""], "empty"),
              ([*sw, "--model", "784-8-10,784-abc-10"], "cannot read"),
              ([*sw, "--warmup", "2"], "warmup must be between 0 and the number of epochs"),
              ([*sw, "--ensemble-members", "0"], COUNT), ([*sw, "--ensemble-members", "33"], COUNT),
              ([*sw, "--threads", "0"], COUNT), ([*sw, "--threads", "257"], COUNT),
              ([*sw, "--scheduler", "not an address"], "cannot reach the Dask scheduler"),
              ([*sw, "--scheduler", "http://x"], "cannot reach the Dask scheduler"),
              ([*sw, "--out", "."], "folder")]
    table += [(["no-such-command"], "invalid choice"), (["train", "extra"], "unrecognized")]
    return table


CASES = cases()


@pytest.fixture
def workdir(tmp_path, monkeypatch, model_file):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not an image, not a folder")
    return model_file


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_every_bad_value_is_one_line_and_exit_1(capsys, workdir, argv, message):
    argv = [str(workdir) if a == "MODEL" else a for a in argv]
    if argv[-1] in ("-inf", "-1e-3") and argv[-2].startswith("--"):  # argparse: an option
        message = f"written {argv[-2]}=VALUE"
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1, (out[-300:], err[-300:])
    assert len(err.splitlines()) == 1 and err.startswith("digitnet: error: "), err
    assert message in err and "Traceback" not in err  # (one line: nothing was trained)


def test_the_table_covers_every_option_of_every_subcommand():
    """A new option needs its bad values in CASES (or here, with the reason it has none)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    no_bad_value = {"-h", "--help", "--json", "-q", "--quiet", "--float64", "--augment",
                    "--no-augment", "--force", "--out", "--report", "--show", "--resumable"}
    tried = {(argv[0], a) for argv, _ in CASES for a in argv if a.startswith("-")}
    for name, parser in sub.choices.items():
        for action in parser._actions:
            for option in action.option_strings:
                if option not in no_bad_value:
                    assert (name, option) in tried, f"{name} {option}: no bad value tried"


# --- output into a closed pipe ------------------------------------------------------------------
def digitnet(*argv):
    return [os.path.join(os.path.dirname(sys.executable), "digitnet"), *argv]


@pytest.mark.slow
@pytest.mark.parametrize("unbuffered", ["", "1"])
@pytest.mark.parametrize("argv", [["info"], ["info", "--json"], ["evaluate", "MODEL"],
                                  ["train", "--help"], ["--version"]])
def test_output_into_a_closed_pipe_ends_quietly(argv, unbuffered, model_file):
    """`digitnet info | head -0`: the reader is gone before digitnet writes. Exit status 141
    (as `cat` would be killed by SIGPIPE); --help and --version: argparse ignores the failed
    write itself, and exits 0 when Python writes unbuffered."""
    argv = [str(model_file) if a == "MODEL" else a for a in argv]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(digitnet(*argv), stdout=write_end, stderr=subprocess.PIPE,
                              timeout=120, env=env)
    finally:
        os.close(write_end)
    assert proc.stderr == b""  # no traceback, no "Exception ignored" at exit
    assert proc.returncode == 141 or (proc.returncode == 0 and unbuffered and
                                      argv[-1] in ("--help", "--version"))


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_it_quietly(tmp_path):
    """`digitnet info | head -1`, through a shell: digitnet may finish before head exits."""
    proc = subprocess.run(["bash", "-c", " ".join(digitnet("info")) + " | head -1; "
                           "echo status ${PIPESTATUS[0]}"], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.splitlines()[0].startswith("dataset: ")
    assert proc.stdout.splitlines()[-1] in ("status 0", "status 141")  # 0: all fit the pipe
    assert proc.stderr == ""


# --- several image files, bad ones among them ---------------------------------------------------
@pytest.fixture
def images(tmp_path, sample):
    """Two good digit images (a 7 and a 2, dark on white), and bad ones of every kind."""
    for name, i in (("seven.png", 0), ("two.png", 1)):
        x = np.kron(sample.x_test[i].reshape(28, 28), np.ones((4, 4)))
        Image.fromarray(np.uint8(255 - 255 * x)).save(tmp_path / name)
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty").mkdir()
    return tmp_path


BAD = {"blank.png": "no digit found", "notes.png": "not an image", "missing.png": "no such file",
       "empty": "no image files"}


def test_predict_reports_bad_files_and_reads_the_others(capsys, model_file, images):
    argv = [str(images / n) for n in ("seven.png", "blank.png", "notes.png", "missing.png",
                                      "empty", "two.png")]
    code = main(["predict", str(model_file), *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    result = last_json(out)
    assert [(p["file"], p["digit"]) for p in result["predictions"]] == \
        [(str(images / "seven.png"), 7), (str(images / "two.png"), 2)]
    assert "seven.png: 7 (probability" in out and "two.png: 2 (probability" in out
    assert [e["file"] for e in result["errors"]] == [str(images / n) for n in BAD]
    lines = err.splitlines()
    assert len(lines) == 4 and all(line.startswith("digitnet: error: ") for line in lines)
    for line, (name, reason) in zip(lines, BAD.items(), strict=True):
        assert name in line and reason in line


def test_read_several_images_reports_bad_ones_and_reads_the_others(capsys, model_file, images):
    code = main(["read", str(model_file), str(images / "seven.png"), str(images / "blank.png"),
                 str(images / "missing.png"), str(images / "two.png"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    result = last_json(out)
    assert [(r["file"], r["number"]) for r in result["readings"]] == \
        [(str(images / "seven.png"), "7"), (str(images / "two.png"), "2")]
    assert [e["file"] for e in result["errors"]] == [str(images / "blank.png"),
                                                     str(images / "missing.png")]
    assert len(err.splitlines()) == 2 and "blank.png" in err and "missing.png" in err
    assert f"{images / 'seven.png'}: 7\n" in out


def test_read_one_image_prints_what_it_always_did(capsys, model_file, images):
    assert main(["read", str(model_file), str(images / "seven.png"), "--json"]) == 0
    out = capsys.readouterr().out
    # issue 13 added "lines" and "dropped"; "number" and "digits" mean what they did
    assert out.splitlines()[0] == "7" and set(json.loads(out.splitlines()[-1])) == \
        {"number", "digits", "lines", "dropped"}
    assert main(["read", str(model_file), str(images / "blank.png")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no digit" in err


def test_all_files_bad_is_exit_1_with_no_predictions(capsys, model_file, images):
    code = main(["predict", str(model_file), str(images / "blank.png"),
                 str(images / "notes.png"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and last_json(out)["predictions"] == [] and len(err.splitlines()) == 2
