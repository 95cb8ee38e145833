import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import SpecError


def test_gradcheck_whole_network_with_three_hidden_layers():
    net = dn.build_network("12-10-8-6-5", seed=3)
    result = dn.gradcheck(net, np.random.default_rng(0).random((6, 12)))
    assert result.ok, str(result)
    assert len(result.rows) == 8  # W and b of 4 Dense layers
    assert net.dtype == np.float32  # the check ran on a float64 copy


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "leaky_relu"])
def test_gradcheck_network_with_other_activations(activation):
    assert dn.gradcheck(dn.build_network("9-7-6-4", activation=activation)).ok


def test_gradcheck_binary_network():
    net = dn.build_network("10-6-1")
    assert isinstance(net.loss, dn.SigmoidBinaryCrossEntropy)
    assert dn.gradcheck(net, y=np.array([0, 1, 1, 0])).ok


def test_network_from_a_list_of_layers():
    net = dn.Network([dn.Dense(784, 64), dn.ReLU(), dn.Dense(64, 10)])
    assert net.n_params == 784 * 64 + 64 + 64 * 10 + 10
    P = net.predict_proba(np.zeros((3, 28, 28)))
    assert P.shape == (3, 10)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("spec", ["784-x-10", "784", "784-0-10", ""])
def test_bad_specs_say_what_a_spec_looks_like(spec):
    with pytest.raises(SpecError, match="784"):
        dn.build_network(spec)


def test_predict_rejects_wrong_shape():
    with pytest.raises(SpecError, match="784 values per image"):
        dn.build_network("784-10").predict(np.zeros((2, 30)))


@pytest.mark.parametrize("spec", ["784-16-10", "lenet5", "cnn", "conv4-bn-pool2-gap-10"])
def test_no_images_in_gives_no_answers_out(spec):
    net = dn.build_network(spec)
    empty = np.zeros((0, 784), np.float32)
    assert net.forward(empty).shape == (0, 10)        # Reshape and Flatten with N = 0
    assert net.predict(np.zeros((0, 28, 28))).shape == (0,)
    assert net.predict_proba(empty).shape == (0, 10)


def test_same_seed_same_network_different_seed_different():
    a, b, c = (dn.build_network("784-16-10", seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights(), strict=True))
    assert not np.array_equal(a.layers[0].params["W"], c.layers[0].params["W"])


@pytest.mark.parametrize("spec, kinds", [
    # the ReLU of a conv followed by a max pool comes after the pool (they commute; cheaper)
    ("lenet5", ["Reshape", "Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU",
                "Flatten", "Dense", "ReLU", "Dense", "ReLU", "Dense"]),
    ("cnn", ["Reshape", "Conv2D", "MaxPool2D", "ReLU", "Conv2D", "BatchNorm", "MaxPool2D",
             "ReLU", "Flatten", "Dense", "ReLU", "Dropout", "Dense"]),
    ("fast", ["Reshape", "Conv2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense",
              "ReLU", "Dense"]),
    ("conv8k5v-bn-gap-10", ["Reshape", "Conv2D", "BatchNorm", "ReLU", "AvgPool2D", "Flatten",
                            "Dense"]),
    ("28x28x1-conv4s2-drop0.25-avgpool2-16-bn-10",
     ["Reshape", "Conv2D", "ReLU", "Dropout", "AvgPool2D", "Flatten", "Dense", "BatchNorm",
      "ReLU", "Dense"]),
])
def test_conv_specs_build_the_layers_they_say(spec, kinds):
    net = dn.build_network(spec)
    assert [type(layer).__name__ for layer in net.layers] == kinds
    assert net.predict_proba(np.zeros((2, 784))).shape == (2, 10)


@pytest.mark.parametrize("spec, message", [
    ("conv32-pool2", "end with the number of classes"),
    ("conv32-10-conv8-10", "put the convolutions first"),
    ("bn-conv8-10", "'bn' must follow"),
    ("conv8k29v-10", "too small"),
    ("conv8-pool64-10", "smaller"),
    ("conv8-blah-10", "cannot read 'blah'"),
])
def test_bad_conv_specs(spec, message):
    with pytest.raises(SpecError, match=message):
        dn.build_network(spec)


def test_predicting_runs_in_chunks_that_fit_the_caches_and_gives_the_same_answers(monkeypatch):
    from digitnet.nn.network import FORWARD_VALUES

    assert dn.build_network("784-512-10")._forward_rows() == 1000      # dense: the most
    # cnn: its first layer and pool run as one ConvPool, holding one pooling phase and the
    # pooled output, 2 x 14x14x32 (its second copies its windows in blocks) ...
    assert dn.build_network("cnn")._forward_rows() == FORWARD_VALUES // (2 * 14 * 14 * 32)
    # best: the padded input of its 64 -> 64 layer (BatchNorm folded away)
    assert dn.build_network("best")._forward_rows() == FORWARD_VALUES // (16 * 16 * 64)
    monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", 0)               # ... or all at once:
    assert dn.build_network("cnn")._forward_rows() == FORWARD_VALUES // (14 * 14 * 9 * 32)
    monkeypatch.undo()
    # LeNet-5: its banded first layer copies rows for the whole chunk, counted as its windows
    assert dn.build_network("lenet5")._forward_rows() == FORWARD_VALUES // (28 * 28 * 25)
    net = dn.build_network("conv4-pool2-10", seed=0)
    X = np.random.default_rng(0).random((700, 784), dtype=np.float32)
    y = np.arange(700) % 10
    Z = net.forward(X)                                                   # all at once
    np.testing.assert_allclose(net.predict_proba(X, batch_size=1000), dn.softmax(Z), rtol=1e-5,
                               atol=1e-6)
    loss, acc = net.evaluate(X, y, batch_size=1000)
    assert acc == np.mean(Z.argmax(axis=1) == y)
    assert loss == pytest.approx(net.loss.value(Z, y), rel=1e-5)


def _with_batchnorm_statistics(net: dn.Network, seed: int = 1) -> dn.Network:
    """``net`` with BatchNorm statistics and parameters far from their initial 0 and 1."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, dn.BatchNorm):
            layer.state["running_mean"][:] = rng.normal(size=layer.n)
            layer.state["running_var"][:] = rng.random(layer.n) + 0.5
            layer.params["gamma"][:] = rng.normal(size=layer.n)
            layer.params["beta"][:] = rng.normal(size=layer.n)
    return net


@pytest.mark.parametrize("spec, kept", [
    ("conv8-bn-pool2-conv16-bn-pool2-10", 9),       # two convolutions, each with its BatchNorm
    ("784-64-bn-32-bn-10", 7),                      # dense layers
    ("conv8k5v-bn-gap-10", 6),                      # LeNet-style 5x5 (the banded way)
])
def test_predicting_folds_each_batchnorm_into_the_layer_before_it(spec, kept):
    from digitnet.nn.network import fold_batchnorm

    net = _with_batchnorm_statistics(dn.build_network(spec, seed=0))
    before = [w.copy() for w in net.get_weights()]
    folded = fold_batchnorm(net.layers)
    assert len(folded) == kept
    assert not any(isinstance(layer, dn.BatchNorm) for layer in folded)
    X = np.random.default_rng(0).random((300, 784), dtype=np.float32)
    Z = net.forward(X)                       # the textbook way: BatchNorm as a layer of its own
    A = X
    for layer in folded:
        A = layer.forward(A, False)
    np.testing.assert_allclose(A, Z, rtol=1e-4, atol=1e-4 * np.abs(Z).max())
    np.testing.assert_allclose(net.logits(X), Z, rtol=1e-4, atol=1e-4 * np.abs(Z).max())
    for w, w0 in zip(net.get_weights(), before, strict=True):   # the network is unchanged
        np.testing.assert_array_equal(w, w0)


def test_batchnorm_not_after_a_convolution_or_a_learners_own_layer_is_not_folded():
    from digitnet.nn.network import fold_batchnorm

    class MyDense(dn.Dense):                 # a learner's subclass may compute otherwise
        pass

    net = dn.Network([MyDense(784, 16), dn.BatchNorm(16), dn.ReLU(), dn.BatchNorm(16),
                      dn.Dense(16, 10)])
    assert [type(layer) for layer in fold_batchnorm(net.layers)] == \
        [type(layer) for layer in net.layers]
