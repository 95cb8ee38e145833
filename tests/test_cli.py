"""The `digitnet` command end to end on the shipped sample."""

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import build_parser, main

FAST = ["--train-size", "2000", "--epochs", "2", "--model", "784-64-10", "-q"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A model trained and saved by `digitnet train --out` itself."""
    path = tmp_path_factory.mktemp("m") / "model.npz"
    assert main(["train", *FAST, "--out", str(path)]) == 0
    return path


def test_train_json_reports_accuracy_and_saves(capsys, tmp_path):
    code, out, err = run(capsys, "train", *FAST, "--json", "--out", str(tmp_path / "m.npz"))
    assert code == 0
    result = last_json(out)
    assert result["test_accuracy"] > 0.8
    assert result["n_test"] == 2000
    assert result["seconds"] > 0
    assert result["out"] == str(tmp_path / "m.npz")
    assert dn.load_model(tmp_path / "m.npz").meta["result"]["test_accuracy"] == \
        result["test_accuracy"]


def test_evaluate_matches_training_result(capsys, cli_model):
    code, out, _ = run(capsys, "evaluate", str(cli_model), "--json")
    assert code == 0
    result = last_json(out)
    assert result["accuracy"] == dn.load_model(cli_model).meta["result"]["test_accuracy"]
    assert result["n_test"] == 2000
    assert set(result["per_class_accuracy"]) == {str(i) for i in range(10)}


def test_predict_refuses_a_submission_from_the_labelled_sample(capsys, cli_model, tmp_path):
    sub = tmp_path / "submission.csv"
    code, out, err = run(capsys, "predict", str(cli_model), "--submission", str(sub))
    assert code == 1 and "unlabelled test.csv" in err and not sub.exists()


def test_predict_on_kaggle_test_csv(capsys, cli_model, tmp_path, sample):
    csv = tmp_path / "test.csv"
    pixels = np.rint(sample.x_test[:50] * 255).astype(int)
    header = ",".join(f"pixel{i}" for i in range(784))
    csv.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in pixels) + "\n")
    code, out, _ = run(capsys, "predict", str(cli_model), "--data", str(csv), "--json")
    assert code == 0
    pred = last_json(out)["predictions"]
    assert len(pred) == 50
    assert np.mean(np.array(pred) == sample.y_test[:50]) > 0.7


def test_info_shows_shapes_range_and_label_counts(capsys):
    code, out, _ = run(capsys, "info", "--json")
    assert code == 0
    info = last_json(out)
    assert info["splits"]["train"]["x_shape"] == [10000, 784]
    assert info["splits"]["test"]["label_counts"][1] == 234
    assert info["splits"]["train"]["min"] == 0.0 and info["splits"]["train"]["max"] == 1.0
    assert 100 < info["splits"]["train"]["distinct_values"] <= 256
    assert "labels 0:" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "784-abc-10"], "cannot read"),
    (["train", "--model", "784-64-7", "--epochs", "1"], "end the spec with 10"),
    (["train", "--dataset", "no-such-set"], "no-such-set"),
    (["train", "--lr", "-1"], "argument --lr: must be a number > 0"),
    (["evaluate", "missing.npz"], "no model file"),
    (["train", "--train-size", "-5"], "size"),
    (["train", "--epochs", "2", "--warmup", "3"], "--warmup must be between 0 and --epochs"),
    (["train", "--model", "conv8-pool64-10"], "already smaller"),
    (["train", "--model", "conv8-pool2"], "must end with the number of classes"),
])
def test_user_errors_print_one_line_and_exit_1(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("digitnet: error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_corrupt_model_file_is_a_clean_error(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "evaluate", str(bad))
    assert code == 1 and "not a digitnet model file" in err


def test_diverging_training_exits_1_and_saves_the_last_good_weights(capsys, tmp_path):
    """Epoch 1 completes (the learning rate is still warming up), epoch 2 diverges: the weights
    of epoch 1 are saved. (A run that diverges in its first epoch saves nothing: see
    test_nothing_lost.py.)"""
    out_file = tmp_path / "m.npz"
    code, _, err = run(capsys, "train", "--train-size", "500", "--epochs", "20", "--warmup",
                       "20", "--schedule", "constant", "--model", "784-64-64-10", "--optimizer",
                       "sgd", "--lr", "1e6", "-q", "--out", str(out_file))
    assert code == 1 and "lower learning rate" in err and "in epoch 2" in err
    assert f"They were saved to {out_file}." in err and len(err.splitlines()) == 1
    net = dn.load_model(out_file)  # saved, and finite
    assert net.meta["result"]["stop_reason"] == "diverged"
    assert net.meta["result"]["epochs_run"] == 1


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, as `digitnet --help` lists them."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def help_of(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # help text rewrapped on one line


def test_the_commands_are_the_ones_the_readme_promises():
    assert set(subcommands()) >= {"train", "evaluate", "predict", "info", "read", "serve",
                                  "report", "gradcheck", "doctor", "trace"}


@pytest.mark.parametrize("command", list(subcommands()))
def test_every_subcommand_has_help(capsys, command):
    text = help_of(capsys, command)
    options = [s for a in subcommands()[command]._actions for s in a.option_strings]
    assert "--help" in options
    for option in options:
        assert option in text, f"{command} --help does not mention {option}"


def test_help_lists_every_finding_preset_and_recipe(capsys):
    from digitnet.doctor.findings import FINDINGS
    from digitnet.nn.specs import PRESETS
    from digitnet.recipes import PRESET_TRAINING

    doctor = help_of(capsys, "doctor")
    assert all(f in doctor for f in FINDINGS)
    train = help_of(capsys, "train")
    for name in PRESETS:
        recipe = ", ".join(f"{k} {v}" for k, v in PRESET_TRAINING[name].items())
        assert name in train and f"{name}: {recipe}" in train


@pytest.mark.slow
def test_console_script_ctrl_c_stops_after_the_batch_and_saves(tmp_path):
    """A real `digitnet` process: SIGINT during training still saves the model."""
    out_file = tmp_path / "m.npz"
    exe = os.path.join(os.path.dirname(sys.executable), "digitnet")
    proc = subprocess.Popen([exe, "train", "--epochs", "500", "--model", "784-32-10",
                             "--out", str(out_file), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    for line in proc.stderr:  # wait until an epoch has finished
        if line.startswith("epoch") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = last_json(out)
    assert result["stop_reason"] == "interrupted" and result["epochs_run"] < 500
    assert dn.load_model(out_file).meta["result"]["stop_reason"] == "interrupted"


@pytest.mark.parametrize("argv, expected", [
    (["--model", "cnn"], {"epochs": 15, "optimizer": "momentum", "augment": True}),
    (["--model", "lenet5", "--epochs", "3"], {"epochs": 3, "augment": True}),
    (["--model", "784-64-10"], {"epochs": 40, "lr": 0.1, "augment": False}),
    (["--model", "conv8-pool2-10"], {"epochs": 15, "augment": True}),   # custom conv: cnn's
    (["--model", "cnn", "--optimizer", "adam"], {"optimizer": "adam", "lr": 1e-3}),
    (["--model", "cnn", "--no-augment"], {"augment": False}),
    (["--model", "cnn"], {"warmup": 1, "lr": 0.05}),
    (["--model", "mlp", "--warmup", "2"], {"warmup": 2}),
    (["--model", "fast"], {"epochs": 2, "optimizer": "adam", "lr": 0.01, "betas": (0.7, 0.9),
                           "schedule": "onecycle", "batch_size": 256, "label_smoothing": 0.1}),
    (["--model", "fast", "--betas", "0.9,0.99", "--label-smoothing", "0"],
     {"betas": (0.9, 0.99), "label_smoothing": 0.0}),
    (["--model", "fast", "--optimizer", "momentum"],                # its own lr and coefficient
     {"optimizer": "momentum", "lr": 0.1, "betas": None, "momentum": None}),
    (["--model", "cnn"], {"label_smoothing": 0.0, "betas": None}),
])
def test_unset_train_options_follow_the_models_recipe(argv, expected):
    from digitnet.cli.train import fill_recipe

    args = build_parser().parse_args(["train", *argv])
    fill_recipe(args)
    assert {k: getattr(args, k) for k in expected} == expected


def test_one_vs_rest_end_to_end(capsys, tmp_path):
    path = tmp_path / "is3.npz"
    code, out, _ = run(capsys, "train", *FAST, "--binary", "3", "--json", "--out", str(path))
    assert code == 0 and last_json(out)["test_accuracy"] > 0.9
    net = dn.load_model(path)
    assert net.meta["binary_target"] == 3 and net.class_names == ["not 3", "3"]
    code, out, _ = run(capsys, "evaluate", str(path), "--json")
    assert code == 0 and set(last_json(out)["per_class_accuracy"]) == {"not 3", "3"}
    code, _, err = run(capsys, "train", "--binary", "10")
    assert code == 1 and "class 0..9" in err
