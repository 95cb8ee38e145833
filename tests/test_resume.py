"""Resumable training: a run stopped after epoch k (or part-way through it) and resumed ends with
the same weights, bit for bit, as one that never stopped; the state in the model file is checked
like the rest of it; --init-from fine-tunes."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import ModelFileError, SpecError
from digitnet.optim import cosine

RUNS = [
    ("784-32-10", {"optimizer": "sgd", "lr": 0.1}),
    ("784-32-10", {"optimizer": "momentum", "lr": 0.05, "warmup": 1, "weight_decay": 1e-4}),
    ("784-32-10", {"optimizer": "adam", "schedule": "onecycle", "label_smoothing": 0.1}),
    ("conv4-bn-pool2-16-drop0.3-10", {"optimizer": "adam", "augment": True, "threads": 1}),
]


def weights_equal(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights(),
                                                     strict=True))


@pytest.mark.parametrize("spec, options", RUNS, ids=[o["optimizer"] for _, o in RUNS])
def test_stopped_after_epoch_2_and_resumed_from_the_file_equals_never_stopped(
        sample, tmp_path, spec, options):
    ds = dn.load_dataset("sample", train_size=3000, val_size=500)
    checkpoint = tmp_path / "epoch2.npz"

    def keep(net):
        if net.train_state.epochs_done == 2:
            dn.save_model(net, checkpoint, resumable=True)

    whole = dn.build_network(spec, seed=3)
    h_whole = dn.train(whole, ds, epochs=4, seed=5, progress=False, on_epoch=keep, **options)
    resumed = dn.load_model(checkpoint)
    assert resumed.train_state.epochs_done == 2
    h = dn.train(resumed, ds, progress=False, resume=True)  # epochs: the run's own 4
    assert weights_equal(whole, resumed)
    assert h.epoch == [1, 2, 3, 4] and h.batch_loss == h_whole.batch_loss
    assert h.val_loss == h_whole.val_loss


def test_interrupted_part_way_by_ctrl_c_and_resumed_equals_never_stopped(tmp_path):
    env = {**os.environ, "DIGITNET_THREADS": "1"}
    run = [sys.executable, "-m", "digitnet.cli", "train", "--model", "784-64-10", "--epochs", "12",
           "--optimizer", "adam", "--augment", "-q"]
    subprocess.run([*run, "--out", str(tmp_path / "whole.npz")], env=env, check=True)
    part = tmp_path / "part.npz"
    proc = subprocess.Popen([*run, "--out", str(part), "--resumable"], env=env)
    deadline = time.time() + 120
    while not part.exists() and time.time() < deadline:  # the first epoch's checkpoint
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    stopped = dn.load_model(part)
    assert stopped.train_state.epochs_done < 12  # stopped early (at an epoch's end or in one)
    assert main(["train", "--resume", str(part), "-q"]) == 0
    whole, resumed = dn.load_model(tmp_path / "whole.npz"), dn.load_model(part)
    assert weights_equal(whole, resumed)
    assert resumed.meta["history"]["epoch"] == list(range(1, 13))
    assert resumed.meta["history"]["batch_loss"] == whole.meta["history"]["batch_loss"]


def test_a_finished_run_goes_on_with_the_schedule_of_its_new_total(sample):
    ds = dn.load_dataset("sample", train_size=1280, val_size=0)
    net = dn.build_network("784-16-10")
    dn.train(net, ds, epochs=2, optimizer="momentum", lr=0.1, batch_size=128, progress=False)
    with pytest.raises(SpecError, match="has done 2 epochs"):
        dn.train(net, ds, resume=True, progress=False)
    h = dn.train(net, ds, epochs=4, resume=True, progress=False)
    assert h.epoch == [1, 2, 3, 4]
    steps = 10  # 1280 images in batches of 128, per epoch
    # each epoch's last step s has rate lr * cosine(s / total steps); from epoch 3 the total is 4
    assert h.lr[1] == pytest.approx(0.1 * cosine(19 / 20))
    assert h.lr[2] == pytest.approx(0.1 * cosine((3 * steps - 1) / 40))
    assert h.lr[2] > h.lr[1]  # the rate rose again (a warm restart), then decays
    assert h.lr[3] == pytest.approx(0.1 * cosine((4 * steps - 1) / 40))


def test_resume_refuses_what_cannot_continue(sample, tmp_path):
    ds = dn.load_dataset("sample", train_size=600, val_size=0)
    fresh = dn.build_network("784-8-10")
    with pytest.raises(SpecError, match="no training state"):
        dn.train(fresh, ds, resume=True, progress=False)
    with pytest.raises(ModelFileError, match="no training state"):
        dn.save_model(fresh, tmp_path / "x.npz", resumable=True)
    dn.train(fresh, ds, epochs=1, optimizer="adam", progress=False)
    with pytest.raises(SpecError, match="its optimizer is 'adam', got 'sgd'"):
        dn.train(fresh, ds, epochs=3, optimizer="sgd", resume=True, progress=False)
    other = dn.load_dataset("sample", train_size=500, val_size=0)
    with pytest.raises(SpecError, match="trained on 600 images, these are 500"):
        dn.train(fresh, other, epochs=3, resume=True, progress=False)
    with pytest.raises(ModelFileError, match="ensemble"):
        dn.save_model(dn.Ensemble([fresh]), tmp_path / "e.npz", resumable=True)


@pytest.fixture(scope="module")
def resumable_file(tmp_path_factory):
    ds = dn.load_dataset("sample", train_size=600, val_size=100)
    net = dn.build_network("conv2-pool2-drop0.2-8-10")
    dn.train(net, ds, epochs=1, optimizer="adam", progress=False)
    net.train_state = copy.deepcopy(net.train_state)
    net.train_state.position = {"next": 256, "loss_sum": 1.0, "correct": 3, "seen": 256,
                                "seconds": 0.5}
    net.train_state.perm = np.random.default_rng(0).permutation(500)
    return dn.save_model(net, tmp_path_factory.mktemp("r") / "r.npz", resumable=True)


def _edit(path, out, change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    change(header["train_state"], arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("change, message", [
    (lambda s, a: s["options"].update(optimizer="rmsprop"), "options.optimizer"),
    (lambda s, a: s["options"].update(epochs=0), "options.epochs"),
    (lambda s, a: s["options"].update(betas=[0.9, 1.5]), "options.betas"),
    (lambda s, a: s["options"].update(augment={"rotate": "x"}), "options.augment"),
    (lambda s, a: s["options"].update(augment={"rotate": 1, "scale": 0, "shift": 0, "image_shape":
                                               [28, 28], "shear": 3}), "options.augment"),
    (lambda s, a: s["options"].update(augment={"rotate": 1, "scale": 0, "shift": 0, "image_shape":
                                               [28, 28], "elastic": -1}), "options.augment"),
    (lambda s, a: s.update(epochs_done="one"), "epochs_done"),
    (lambda s, a: s.update(epochs_done=99), "epochs_done"),
    (lambda s, a: s.update(rng={"bit_generator": "MT19937"}), "train_state.rng"),
    (lambda s, a: s.update(layer_rngs={}), "layer_rngs"),
    (lambda s, a: s["optimizer"].update(slots={}), "optimizer.slots"),
    (lambda s, a: s.update(position={"next": -1}), "position"),
    (lambda s, a: s.update(history=[1]), "history"),
    (lambda s, a: s.update(best_loss=float("nan")), "best_loss"),
    (lambda s, a: a.pop("train/opt.1.W.0"), "do not match"),
    (lambda s, a: a.update({"train/opt.1.W.0": a["train/opt.1.W.0"][:1]}), "do not match"),
    (lambda s, a: a.update({"train/perm": np.zeros(500, np.int64)}), "order of 500 images"),
    (lambda s, a: a.update({"train/perm": np.zeros(3, np.float32)}), "whole numbers"),
])
def test_a_damaged_training_state_is_one_clear_error(resumable_file, tmp_path, change, message):
    assert dn.load_model(resumable_file).train_state.position["next"] == 256
    bad = _edit(resumable_file, tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError, match=message):
        dn.load_model(bad)


def test_cli_resume_and_init_from(tmp_path, capsys):
    run = tmp_path / "run.npz"
    assert main(["train", "--model", "784-16-10", "--epochs", "2", "--optimizer", "adam",
                 "--train-size", "2000", "--out", str(run), "--resumable", "-q"]) == 0
    assert dn.load_model(run).train_state.epochs_done == 2
    assert main(["train", "--resume", str(run), "--epochs", "3", "-q", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["epochs_run"] == 3
    assert dn.load_model(run).train_state.epochs_done == 3  # saved back to the same file
    for argv, message in [
            (["--resume", str(run), "--lr", "0.5"], "leave out --lr"),
            (["--resume", str(run), "--model", "cnn"], "leave out --model"),
            (["--resume", str(run), "--epochs", "2"], "has done 3 epochs"),
            (["--model", "784-8-10", "--resumable"], "give --out FILE"),
            (["--model", "784-8-10", "--resumable", "--ensemble", "2", "--out", "x.npz"],
             "train each member"),
            (["--init-from", str(run), "--binary", "3"], "tells 10 classes apart, the data "
                                                         "has 2"),
    ]:
        assert main(["train", "--epochs", "1", *argv]) == 1 if "--epochs" not in argv \
            else main(["train", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err
    plain = tmp_path / "plain.npz"
    assert main(["train", "--model", "784-16-10", "--epochs", "1", "--out", str(plain),
                 "-q"]) == 0
    assert main(["train", "--resume", str(plain)]) == 1
    assert "saved without --resumable" in capsys.readouterr().err
    # fine-tuning starts from the weights: its first epoch starts where the model was
    tuned = tmp_path / "tuned.npz"
    assert main(["train", "--init-from", str(run), "--epochs", "1", "--optimizer", "adam",
                 "--lr", "1e-4", "--out", str(tuned), "-q", "--json"]) == 0
    first = dn.load_model(tuned).meta["history"]["batch_loss"][0]
    ds = dn.load_dataset("sample")
    start = dn.load_model(run).evaluate(ds.x_train[:2000], ds.y_train[:2000])[0]
    fresh = dn.build_network("784-16-10").evaluate(ds.x_train[:2000], ds.y_train[:2000])[0]
    assert abs(first - start) < 0.3 and first < fresh - 0.3, (first, start, fresh)
