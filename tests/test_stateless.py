"""Predicting keeps nothing on the layers, so one network answers many threads at once."""

import threading

import numpy as np
import pytest

import digitnet as dn
from digitnet.modelfile import BUILTIN_LAYER_TYPES


def snapshot(layer):
    """Every attribute of the layer by identity (and the contents of its dicts)."""
    return {k: (id(v), {kk: id(vv) for kk, vv in v.items()} if isinstance(v, dict) else None)
            for k, v in vars(layer).items()}


NETS = {
    "mlp": lambda: dn.build_network("784-64-32-10", dropout=0.2),
    "cnn": lambda: dn.build_network("conv8-pool2-conv16-bn-pool2-avgpool2-32-drop0.2-10"),
    "all": lambda: dn.Network([dn.Reshape(28, 28, 1), dn.Conv2D(1, 4, kernel=5, stride=2),
                               dn.LeakyReLU(), dn.MaxPool2D(2), dn.Flatten(),
                               dn.Dense(4 * 7 * 7, 16), dn.BatchNorm(16), dn.Tanh(),
                               dn.Dropout(0.3), dn.Dense(16, 8), dn.Sigmoid(),
                               dn.Dense(8, 10)]),
}


@pytest.mark.parametrize("name", NETS)
def test_an_evaluation_forward_changes_no_layer(name, sample):
    net = NETS[name]()
    net.train_step(sample.x_train[:32], sample.y_train[:32])  # caches from training exist
    assert {type(layer).__name__ for layer in net.layers} <= set(BUILTIN_LAYER_TYPES)
    before = [snapshot(layer) for layer in net.layers]
    net.predict_proba(sample.x_test[:50])
    net.evaluate(sample.x_test[:50], sample.y_test[:50])
    assert [snapshot(layer) for layer in net.layers] == before
    assert net.thread_safe


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_eight_threads_get_the_single_threaded_answers(name, sample):
    net = NETS[name]()
    dn.train(net, sample.x_train[:512], sample.y_train[:512], epochs=1, progress=False)
    x = sample.x_test[:400]
    chunks = [x[i::8] for i in range(8)]  # different batches, sizes 50
    expected = [net.predict_proba(c) for c in chunks]
    results: dict[int, list] = {i: [] for i in range(8)}
    errors = []
    start = threading.Barrier(8)

    def hammer(i: int) -> None:
        try:
            start.wait()
            for round_ in range(20):
                results[i].append(net.predict_proba(chunks[(i + round_) % 8]))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(8):
        for round_, got in enumerate(results[i]):
            np.testing.assert_allclose(got, expected[(i + round_) % 8], rtol=1e-5, atol=1e-6)


def test_a_learners_layer_is_not_assumed_thread_safe():
    class Caching(dn.Layer):
        def forward(self, X, training=False):
            self.X = X
            return X

        def backward(self, dA):
            return dA

    net = dn.Network([Caching(), dn.Dense(784, 10)])
    assert not net.thread_safe
    assert dn.build_network("784-10").thread_safe
