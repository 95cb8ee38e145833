"""dn.sweep and `digitnet sweep`: grids, random searches and ensemble members trained in
parallel through joblib, on this machine's processes and on a Dask cluster (a LocalCluster of
two worker processes on loopback), with the same results either way."""

import json
import os

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.sweeps import grid, sample, trial_configs

pytest.importorskip("joblib")

SPACE = {"model": ["784-8-10", "784-32-10"], "lr": [0.003, 0.1]}


@pytest.fixture(scope="module")
def small():
    """3,000 sample images: 2,700 to train on, 300 to choose with; 500 test images."""
    return dn.load_dataset("sample", train_size=3000, val_size=300, test_size=500)


def test_grid_random_sample_and_members():
    assert grid(SPACE) == [{"model": "784-8-10", "lr": 0.003}, {"model": "784-8-10", "lr": 0.1},
                           {"model": "784-32-10", "lr": 0.003},
                           {"model": "784-32-10", "lr": 0.1}]
    drawn = sample({"lr": [1, 2, 3, 4, 5], "epochs": [1, 2]}, 4, seed=1)
    assert len(drawn) == 4 and len({tuple(d.items()) for d in drawn}) == 4
    assert drawn == sample({"lr": [1, 2, 3, 4, 5], "epochs": [1, 2]}, 4, seed=1)
    assert len(sample(SPACE, 99)) == 4
    configs = trial_configs(SPACE, epochs=2)
    assert all(c["epochs"] == 2 and c["seed"] == 0 for c in configs)
    members = trial_configs({"model": ["784-8-10"]}, members=3, seed=5)
    assert [c["seed"] for c in members] == [5, 6, 7]
    with pytest.raises(dn.DigitnetError, match="members trains the seeds of one"):
        trial_configs(SPACE, members=3)
    with pytest.raises(dn.DigitnetError, match="unknown option.*colour"):
        trial_configs({"colour": ["red"]})
    with pytest.raises(dn.DigitnetError, match="a list of values"):
        trial_configs({"model": "784-8-10"})


def test_random_search_draws_from_ranges():
    space = {"lr": dn.Range(1e-4, 1.0, log=True), "dropout": dn.Range(0, 0.5),
             "epochs": dn.Range(1, 3, integer=True), "model": ["784-8-10", "784-32-10"]}
    drawn = sample(space, 200, seed=3)
    assert drawn == sample(space, 200, seed=3) and drawn != sample(space, 200, seed=4)
    lrs = np.array([d["lr"] for d in drawn])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1.0
    # a log scale: each decade about as likely (uniform would put ~90% in the last one)
    per_decade = np.histogram(np.log10(lrs), bins=4, range=(-4, 0))[0]
    assert per_decade.min() >= 30, per_decade
    assert all(float(f"{v:.3g}") == v for v in lrs)                # 3 significant digits
    assert all(0 <= d["dropout"] <= 0.5 for d in drawn)
    assert {d["epochs"] for d in drawn} == {1, 2, 3}
    assert all(type(d["epochs"]) is int for d in drawn)
    assert {d["model"] for d in drawn} == {"784-8-10", "784-32-10"}
    with pytest.raises(dn.DigitnetError, match="'lr' is a range .*random search"):
        trial_configs(space)                                         # a grid: lists only
    with pytest.raises(dn.DigitnetError, match="log-scale range needs low > 0"):
        dn.Range(0, 1, log=True)
    with pytest.raises(dn.DigitnetError, match="low <= high"):
        dn.Range(0.5, 0.1)


def test_the_command_draws_ranges_with_random(capsys):
    assert main(["sweep", "--train-size", "300", "--model", "784-8-10", "--epochs", "1",
                 "--lr", "0.01:0.3:log", "--dropout", "0:0.4", "--random", "3", "--jobs", "1",
                 "--threads", "1", "-q", "--json"]) == 0
    trials = last_json(capsys.readouterr().out)["trials"]
    assert len(trials) == 3 and len({t["config"]["lr"] for t in trials}) == 3
    assert all(0.01 <= t["config"]["lr"] <= 0.3 and 0 <= t["config"]["dropout"] <= 0.4
               for t in trials)


def by_trial(result):
    return [(t["config"]["model"], t["config"]["lr"], t["val_accuracy"], t["val_loss"],
             t["test_accuracy"]) for t in result.trials]


@pytest.fixture(scope="module")
def local(small):
    """The sweep of SPACE run in 2 processes on this machine, one thread per trial."""
    return dn.sweep(SPACE, small, epochs=2, optimizer="momentum", jobs=2, threads=1)


def test_a_local_sweep_reports_every_trial_and_keeps_the_best(local, small):
    assert len(local.trials) == 4 and local.varied == ["model", "lr"]
    accs = [t["val_accuracy"] for t in local.trials]
    assert local.best == int(np.argmax(accs)) and local.trials[local.best]["config"]["lr"] == 0.1
    assert min(accs) < 0.7 < max(accs)  # the rates make a difference the sweep sees
    workers = {t["worker"].rpartition(":")[2] for t in local.trials}
    assert str(os.getpid()) not in workers and len(workers) <= 2  # joblib's processes
    assert all(t["threads"] == 1 and t["epochs"] == 2 and t["status"] == "completed"
               for t in local.trials)
    net = local.model
    assert isinstance(net, dn.Network) and net.meta["spec"] == local.trials[local.best][
        "config"]["model"]
    assert net.evaluate(small.x_val, small.y_val)[1] == max(accs)
    lines = local.table().splitlines()
    assert len(lines) == 5 and lines[local.best + 1].startswith("*")
    assert "val_acc" in lines[0] and "lr" in lines[0]
    # one process gives the same numbers: each trial depends only on its configuration
    serial = dn.sweep(SPACE, small, epochs=2, optimizer="momentum", jobs=1, threads=1)
    assert by_trial(serial) == by_trial(local) and serial.best == local.best


def test_members_make_an_ensemble(small):
    result = dn.sweep({"model": ["784-16-10"]}, small, members=3, epochs=1, jobs=1, threads=1)
    assert [t["config"]["seed"] for t in result.trials] == [0, 1, 2]
    ens = result.model
    assert isinstance(ens, dn.Ensemble) and len(ens.members) == 3
    assert result.ensemble["val_accuracy"] == ens.evaluate(small.x_val, small.y_val)[1]
    assert "ensemble of 3" in result.table()


def test_a_sweep_needs_a_validation_split():
    ds = dn.load_dataset("sample", train_size=500, val_size=0, test_size=10)
    with pytest.raises(dn.DigitnetError, match="validation split"):
        dn.sweep(SPACE, ds)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def test_a_sweep_on_a_dask_cluster_gives_the_same_results(cluster, local, small):
    """The issue's target: the same trials through a 2-worker LocalCluster (joblib's dask
    backend, the data scattered to the workers) give the same numbers and the same best."""
    remote = dn.sweep(SPACE, small, epochs=2, optimizer="momentum",
                      scheduler=cluster.scheduler_address)
    assert by_trial(remote) == by_trial(local) and remote.best == local.best
    assert all(t["threads"] == 1 for t in remote.trials)  # one per trial on a cluster
    workers = {w["id"] for w in cluster.scheduler_info["workers"].values()}
    assert len(workers) == 2
    assert {t["worker"] for t in remote.trials}.isdisjoint({t["worker"] for t in local.trials})
    for a, b in zip(remote.model.get_weights(), local.model.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_the_command_saves_the_best_and_prints_a_table(tmp_path, capsys, cluster):
    out = tmp_path / "best.npz"
    argv = ["sweep", "--train-size", "3000", "--val-size", "300", "--test-size", "500",
            "--model", "784-8-10,784-32-10", "--lr", "0.003,0.1", "--optimizer", "momentum",
            "--epochs", "2", "--threads", "1", "--json", "-q", "--out", str(out)]
    assert main(argv + ["--jobs", "2"]) == 0
    text = capsys.readouterr().out
    report = last_json(text)
    assert len(report["trials"]) == 4 and report["out"] == str(out)
    table = text.strip().splitlines()[:-1]
    assert len(table) == 5 and table[report["best"] + 1].startswith("*")
    model = dn.load_model(out)
    best = report["trials"][report["best"]]
    assert model.meta["spec"] == best["config"]["model"]
    assert model.meta["sweep"]["best"] == report["best"]
    # the same command on the cluster
    assert main(argv + ["--scheduler", cluster.scheduler_address, "--force"]) == 0
    remote = last_json(capsys.readouterr().out)
    assert [t["val_accuracy"] for t in remote["trials"]] == \
        [t["val_accuracy"] for t in report["trials"]] and remote["best"] == report["best"]


def test_the_command_trains_ensemble_members(tmp_path, capsys):
    out = tmp_path / "ens.npz"
    assert main(["sweep", "--train-size", "1000", "--test-size", "200", "--model", "784-16-10",
                 "--epochs", "1", "--ensemble-members", "2", "--jobs", "1", "--threads", "1",
                 "-q", "--json", "--out", str(out)]) == 0
    report = last_json(capsys.readouterr().out)
    assert report["ensemble"]["members"] == 2
    ens = dn.load_model(out)
    assert isinstance(ens, dn.Ensemble) and len(ens.members) == 2


@pytest.mark.parametrize("argv, message", [
    (["--model", "784-8-10,784-16-10", "--ensemble-members", "2"],
     "--ensemble-members trains seeds of one configuration: give --model one value"),
    (["--lr", "0.1,fast"], "argument --lr: must be a number > 0, got 'fast'"),
    (["--optimizer", "adam,rmsprop"], "'rmsprop' is not one of"),
    (["--val-size", "0"], "the trials are compared on a validation split"),
    (["--model", "784-8-3"], "the data has 784 pixels per image and 10 classes"),
    (["--lr", "0.001:0.1:log"], "--lr 0.001:0.1:log is a range: ranges are drawn from by "
                                "random search: add --random N"),
    (["--lr", "0.1:0.01", "--random", "2"], "argument --lr: a range needs two finite numbers"),
    (["--lr", "0:0.1:log", "--random", "2"], "must be a number > 0"),
    (["--lr", "0.01:0.1:lin", "--random", "2"], "a range is LOW:HIGH or LOW:HIGH:log"),
    (["--seed", "0:5", "--random", "2"], "argument --seed"),
    (["--lr", "0.01:0.1", "--ensemble-members", "2"], "is a range"),
])
def test_the_command_says_what_is_wrong(capsys, argv, message):
    code = main(["sweep", "--train-size", "300", "--epochs", "1", "--jobs", "1", "-q", *argv])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("digitnet: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_sweep_is_in_the_api_and_the_json_is_json(local):
    assert dn.sweep is not None and "sweep" in dn.__all__
    json.dumps(local.as_dict())
