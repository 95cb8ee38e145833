"""How many threads digitnet computes with: forced by an argument or DIGITNET_THREADS, else the CPUs
the other processes leave free; BLAS's pool follows it while training."""

import importlib

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import digitnet as dn
from digitnet.errors import SpecError
from digitnet.threads import ENV, LoadMeter, blas_threads, choose, cpu_count, forced


class FakeMeter(LoadMeter):
    def __init__(self, others):
        super().__init__()
        self.value = others

    def others(self):
        return self.value


def blas_counts():
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_forced_by_argument_or_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert forced() is None and forced(3) == 3
    monkeypatch.setenv(ENV, "2")
    assert forced() == 2 and forced(1) == 1  # the argument wins
    assert choose(meter=FakeMeter(5.0)) == 2  # forced: the load does not matter
    for bad in ("two", "0", "-1", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(SpecError, match="whole number"):
            forced()
    with pytest.raises(SpecError, match="whole number >= 1"):
        forced(0)


def test_chosen_from_what_other_processes_leave_free(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr("digitnet.threads.cpu_count", lambda: 4)
    assert choose(meter=FakeMeter(0.0)) == 4
    assert choose(meter=FakeMeter(1.0)) == 3   # one busy neighbour takes one CPU
    assert choose(meter=FakeMeter(2.6)) == 1
    assert choose(meter=FakeMeter(9.0)) == 1   # never fewer than one
    assert choose(meter=FakeMeter(None)) == 4  # not measurable: all of them


def test_the_meter_measures_this_machine():
    others = LoadMeter().others()
    assert others is None or 0 <= others <= cpu_count() + 0.5
    assert 1 <= choose(None, LoadMeter()) <= cpu_count() or forced() is not None


def test_blas_pool_is_limited_inside_the_block():
    before = blas_counts()
    with blas_threads(1):
        assert blas_counts() <= {1}
    assert blas_counts() == before


def test_train_records_the_threads_of_each_epoch(sample, monkeypatch):
    net = dn.build_network("784-8-10")
    h = dn.train(net, sample.x_train[:256], sample.y_train[:256], epochs=3, threads=1,
                 progress=False)
    assert h.threads == [1, 1, 1]
    seen = []
    train_module = importlib.import_module("digitnet.train")  # (dn.train is the function)
    monkeypatch.setattr(train_module, "choose", lambda threads, meter: seen.append(1) or 1)
    dn.train(net, sample.x_train[:256], sample.y_train[:256], epochs=2, progress=False)
    assert len(seen) == 2  # chosen again at every epoch
    with pytest.raises(SpecError, match="whole number"):
        dn.train(net, sample.x_train[:10], sample.y_train[:10], threads=0, progress=False)
    assert np.all(np.isfinite(net.layers[0].params["W"]))
