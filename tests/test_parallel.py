"""Training split over threads: each part of a minibatch on a copy of the network that shares
its parameters; the gradients combined are the full batch's."""

import threading

import numpy as np
import pytest

import digitnet as dn
from digitnet.parallel import MIN_PART, Replicas


@pytest.mark.parametrize("spec", ["784-64-10", "conv8-pool2-conv16-pool2-32-10"])
def test_the_parts_gradients_are_the_full_batchs(spec, sample):
    one, two = (dn.build_network(spec, dtype=np.float64) for _ in range(2))
    X, y = sample.x_train[:200].astype(np.float64), sample.y_train[:200]
    loss1, Z1 = one.train_step(X, y)
    replicas = Replicas(two, 2)
    try:
        loss2, Z2 = replicas.train_step(X, y)
    finally:
        replicas.close()
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    np.testing.assert_allclose(Z2, Z1, rtol=1e-12)
    for (name, _, g1), (_, _, g2) in zip(one.parameters(), two.parameters(), strict=True):
        np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-15, err_msg=name)


def test_copies_share_the_parameters_and_batchnorm_averages_its_statistics(sample):
    net = dn.build_network("conv4-bn-pool2-10", dtype=np.float64)
    replicas = Replicas(net, 2)
    try:
        twin = replicas.copies[1]
        assert all(a.params is b.params for a, b in zip(net.layers, twin.layers, strict=True))
        X, y = sample.x_train[:128].astype(np.float64), sample.y_train[:128]
        bn = net.layers[2]
        replicas.train_step(X, y)
        # each half updated the running mean from the same start: the result is their mean
        halves = []
        for part in (X[:64], X[64:]):
            ref = dn.build_network("conv4-bn-pool2-10", dtype=np.float64)
            ref.set_weights([p.copy() for p in net.get_weights()])
            ref.layers[2].state["running_mean"][...] = 0
            ref.train_step(part, y[:len(part)])
            halves.append(ref.layers[2].state["running_mean"].copy())
        np.testing.assert_allclose(bn.state["running_mean"], np.mean(halves, axis=0),
                                   rtol=1e-10)
    finally:
        replicas.close()


def test_small_batches_stay_in_one_thread():
    net = dn.build_network("784-8-10")
    replicas = Replicas(net, 2)
    try:
        assert replicas.parts(2 * MIN_PART - 1) == 1 and replicas.parts(2 * MIN_PART) == 2
    finally:
        replicas.close()


@pytest.mark.slow
def test_training_on_two_threads_learns_repeats_and_leaves_no_thread(sample):
    spec = "conv8-pool2-conv16-bn-pool2-32-drop0.1-10"
    runs, accuracy = [], {}
    for threads in (2, 2, 1):
        net = dn.build_network(spec)
        h = dn.train(net, sample.x_train[:4000], sample.y_train[:4000], epochs=3,
                     threads=threads, optimizer="momentum", lr=0.05, progress=False)
        runs.append(net.get_weights())
        accuracy[threads] = net.evaluate(sample.x_test, sample.y_test)[1]
        assert h.threads == [threads] * 3
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))  # repeats
    assert accuracy[2] > 0.8 and abs(accuracy[2] - accuracy[1]) < 0.03  # 0.876 and 0.8775 here
    assert not [t for t in threading.enumerate() if t.name.startswith("digitnet")]  # all ended


def test_predictions_on_two_threads_equal_one_thread(sample, monkeypatch):
    net = dn.build_network("conv8-pool2-conv16-bn-pool2-32-10")
    dn.train(net, sample.x_train[:512], sample.y_train[:512], epochs=1, progress=False)
    x, y = sample.x_test[:1000], sample.y_test[:1000]
    monkeypatch.setenv("DIGITNET_THREADS", "1")
    p1, e1 = net.predict_proba(x, batch_size=100), net.evaluate(x, y, batch_size=100)
    monkeypatch.setenv("DIGITNET_THREADS", "2")
    seen = set()
    first = net.layers[0]                          # Reshape: predicting runs it as it is
    forward = first.forward
    monkeypatch.setattr(first, "forward", lambda X, training=False:
                        seen.add(threading.current_thread().name) or forward(X, training))
    p2, e2 = net.predict_proba(x, batch_size=100), net.evaluate(x, y, batch_size=100)
    np.testing.assert_allclose(p2, p1, rtol=1e-6, atol=1e-7)
    assert e2 == pytest.approx(e1, rel=1e-6)
    assert {name.split("_")[0] for name in seen} == {"digitnet-predict"}  # the pool's threads


def test_batches_are_split_over_threads_only_for_networks_with_convolutions():
    from digitnet.parallel import worth_replicas

    assert worth_replicas(dn.build_network("lenet5")) and worth_replicas(dn.build_network("fast"))
    assert not worth_replicas(dn.build_network("mlp"))      # BLAS splits its matmuls better
