"""A learner's own layers: they train under dn.train with every optimizer (whether they write their
gradients in place or assign new arrays), may be the last layer, get the network's dtype, and
save and load once registered."""

from pathlib import Path

import numpy as np
import pytest
from helpers import MyDense  # the README's layer, with its bug fixed

import digitnet as dn
from digitnet.errors import ModelFileError, SpecError, TrainingError
from digitnet.modelfile import LAYER_TYPES
from digitnet.optim import make_optimizer

OPTIMIZERS = ["sgd", "momentum", "adam"]


class InPlaceDense(MyDense):
    """The same layer writing its gradients into the arrays it made, as the built-in ones do."""

    def backward(self, dZ):
        np.matmul(self.X.T, dZ, out=self.grads["W"])
        self.grads["b"][...] = dZ.sum(axis=0)
        return dZ @ self.params["W"].T


def mlp(first, seed=0):
    return dn.Network([first, dn.ReLU(), dn.Dense(32, 10)], seed=seed)


@pytest.fixture
def registry():
    """Leaves LAYER_TYPES as it was (tests register classes of their own)."""
    before = dict(LAYER_TYPES)
    yield LAYER_TYPES
    LAYER_TYPES.clear()
    LAYER_TYPES.update(before)


def readme_mydense(fixed: bool) -> type:
    """The MyDense class as the README shows it (with its bug), or with the bug fixed."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = text[text.index("class MyDense(dn.Layer):"):text.index("print(dn.gradcheck(MyDense")]
    if fixed:
        assert "dZ.mean(axis=0)" in code
        code = code.replace("dZ.mean(axis=0)", "dZ.sum(axis=0)")
    namespace = {"dn": dn, "np": np}
    exec(code, namespace)  # noqa: S102 - the README's own example
    return namespace["MyDense"]


def test_the_readme_mydense_is_the_one_tested_here(sample):
    """Its gradient check fails on b only, as the README shows; fixed, it takes the same steps as
    the copy above."""
    rows = {r[0]: r[2] for r in dn.gradcheck(readme_mydense(fixed=False)(784, 10)).rows}
    assert rows["b"] > 0.1 and rows["W"] < 1e-6 and rows["input (dX)"] < 1e-6
    assert dn.gradcheck(readme_mydense(fixed=True)(784, 10)).ok
    nets = [mlp(readme_mydense(fixed=True)(784, 32)), mlp(MyDense(784, 32))]
    for net in nets:
        dn.train(net, sample.x_train[:500], sample.y_train[:500], epochs=1, progress=False)
    for a, b in zip(*(net.get_weights() for net in nets), strict=True):
        np.testing.assert_array_equal(a, b)


# --- training ---------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_readme_mydense_trains_as_well_as_dense(sample, optimizer):
    """784-32(own)-ReLU-10 against 784-32(Dense)-ReLU-10: same seed, 3 epochs. With stale
    gradients the first layer never moved (47-48% instead of ~85-92%)."""
    acc = {}
    for name, first in [("mine", MyDense(784, 32)), ("dense", dn.Dense(784, 32))]:
        net = mlp(first)
        dn.train(net, sample, epochs=3, batch_size=32, optimizer=optimizer, progress=False)
        acc[name] = net.evaluate(sample.x_test, sample.y_test)[1]
    assert acc["dense"] > 0.85, acc
    assert acc["mine"] >= acc["dense"] - 0.01, acc


@pytest.mark.parametrize("layer_cls", [MyDense, InPlaceDense])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_own_layer_follows_dense_step_for_step(sample, optimizer, layer_cls):
    """From the same weights, a layer that assigns new gradient arrays and one that writes them
    in place take the same steps as dn.Dense."""
    x, y = sample.x_train[:1200], sample.y_train[:1200]
    dense = mlp(dn.Dense(784, 32))
    mine = mlp(layer_cls(784, 32))
    start = dense.get_weights()
    mine.set_weights(start)
    for net in (dense, mine):
        dn.train(net, x, y, epochs=2, batch_size=100, optimizer=optimizer, progress=False,
                 weight_decay=1e-4)
    assert np.abs(mine.layers[0].params["W"] - start[0]).max() > 1e-3  # it moved
    for a, b in zip(mine.get_weights(), dense.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_optimizer_follows_parameters_rebuilt_after_it_was_made(sample):
    """Network.initialize puts new arrays into every layer's params: the optimizer made before
    must update those, not the old ones."""
    net = mlp(dn.Dense(784, 32))
    opt = make_optimizer("momentum", net, 0.1)
    net.initialize(1)
    W = net.layers[0].params["W"]
    before = W.copy()
    net.train_step(sample.x_train[:64], sample.y_train[:64])
    opt.step()
    assert net.layers[0].params["W"] is W
    assert not np.array_equal(W, before)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_optimizer_state_is_kept_per_parameter_name(sample, optimizer):
    """A layer that puts a new array (same shape) into params between steps keeps its momentum or
    Adam moments: the training is the same as without the swap."""
    x, y = sample.x_train[:256], sample.y_train[:256]
    nets = [mlp(InPlaceDense(784, 32)), mlp(InPlaceDense(784, 32))]
    opts = [make_optimizer(optimizer, net, 0.01) for net in nets]
    for i in range(0, 256, 32):
        for net, opt in zip(nets, opts, strict=True):
            net.train_step(x[i:i + 32], y[i:i + 32])
            opt.step()
        layer = nets[1].layers[0]
        layer.params = {k: v.copy() for k, v in layer.params.items()}
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


class BadBias(MyDense):
    def backward(self, dZ):
        dX = super().backward(dZ)
        self.grads["b"] = dZ.sum(axis=0, keepdims=True)  # (1, n) for a bias of shape (n,)
        return dX


class NoBiasGrad(MyDense):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.grads = {}

    def backward(self, dZ):
        self.grads["W"] = self.X.T @ dZ
        return dZ @ self.params["W"].T


class Float64Grads(MyDense):
    def backward(self, dZ):
        dX = super().backward(dZ)
        self.grads["W"] = self.grads["W"].astype(np.float64)
        return dX


@pytest.mark.parametrize("cls, message", [
    (BadBias, r"layer 0 \(BadBias\): grads\['b'\] has shape \(1, 32\) but params\['b'\] has "
              r"shape \(32,\)"),
    (NoBiasGrad, r"layer 0 \(NoBiasGrad\) has params\['b'\] but no grads\['b'\]"),
    (Float64Grads, r"layer 0 \(Float64Grads\): grads\['W'\] is float64 but params\['W'\] is "
                   r"float32"),
])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_gradients_that_do_not_fit_their_parameters_are_named(sample, cls, message, optimizer):
    net = mlp(cls(784, 32))
    with pytest.raises(TrainingError, match=message):
        dn.train(net, sample.x_train[:64], sample.y_train[:64], epochs=1,
                 optimizer=optimizer, progress=False)


def test_a_layer_whose_backward_returns_nothing_is_named(sample):
    class NoDX(dn.Layer):
        def forward(self, X, training=False):
            return X

        def backward(self, dA):
            pass

    net = dn.Network([dn.Dense(784, 32), NoDX(), dn.ReLU(), dn.Dense(32, 10)])
    with pytest.raises(TrainingError, match=r"layer 1 \(NoDX\).backward returned None"):
        dn.train(net, sample.x_train[:64], sample.y_train[:64], epochs=1, progress=False)


# --- where a learner's layer may stand ----------------------------------------------------------

def test_own_layer_as_the_last_layer_trains_and_predicts(sample):
    net = dn.Network([dn.Dense(784, 32), dn.ReLU(), MyDense(32, 10)])
    assert (net.n_inputs, net.n_outputs, net.n_classes) == (784, 10, 10)
    dn.train(net, sample, epochs=3, optimizer="momentum", progress=False)
    assert net.evaluate(sample.x_test, sample.y_test)[1] > 0.85
    assert net.predict(sample.x_test[:7]).shape == (7,)
    assert net.predict_proba(sample.x_test[:0]).shape == (0, 10)


def test_output_width_of_a_last_layer_that_does_not_say_it():
    class Halve(dn.Layer):  # no n_out: the width is found by running one image through
        def forward(self, X, training=False):
            return X[:, ::2]

        def backward(self, dA):
            dX = np.zeros((len(dA), 2 * dA.shape[1]), dA.dtype)
            dX[:, ::2] = dA
            return dX

    net = dn.Network([dn.Dense(784, 20), Halve()])
    assert net.n_outputs == 10
    net.layers[-1] = dn.Dense(20, 3)  # a changed list of layers is measured again
    assert net.n_outputs == 3


def test_a_last_layer_that_fails_says_which():
    class Broken(dn.Layer):
        def forward(self, X, training=False):
            return X @ np.ones((3, 3))

    with pytest.raises(SpecError, match=r"layer 1 \(Broken\) failed on one image"):
        _ = dn.Network([dn.Dense(784, 20), Broken()]).n_classes


def test_first_layer_without_n_in_is_told_to_set_it():
    class NoWidth(MyDense):
        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out)
            del self.n_in

    net = dn.Network([NoWidth(784, 32), dn.ReLU(), dn.Dense(32, 10)])
    with pytest.raises(SpecError, match=r"layer 0 \(NoWidth\).*self.n_in"):
        net.predict(np.zeros((2, 784)))


def test_a_layer_that_is_not_one_says_so():
    class NoSuper(dn.Layer):
        def __init__(self):
            self.params = {}  # forgot super().__init__()

    with pytest.raises(SpecError, match=r"layer 0 \(NoSuper\) has no grads or state: its "
                                        r"__init__ must call super\(\).__init__\(\)"):
        dn.Network([NoSuper(), dn.Dense(784, 10)])
    with pytest.raises(SpecError, match="layer 1 is a ufunc, not a layer"):
        dn.Network([dn.Dense(784, 10), np.tanh])


# --- dtype --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, None])
def test_float64_params_of_own_layer_become_the_networks_dtype(sample, seed):
    layer = MyDense(784, 32)
    assert layer.params["W"].dtype == np.float64  # np.random's default
    net = dn.Network([layer, dn.ReLU(), dn.Dense(32, 10)], seed=seed)
    dtypes = {a.dtype for d in (layer.params, layer.grads) for a in d.values()}
    assert dtypes == {np.dtype(np.float32)}
    dn.train(net, sample.x_train[:500], sample.y_train[:500], epochs=1, progress=False)
    assert layer.params["W"].dtype == layer.grads["W"].dtype == np.float32
    assert dn.Network([MyDense(784, 10)], dtype=np.float64).layers[0].params["W"].dtype == \
        np.float64


def test_own_layer_holding_its_params_twice_is_refused_not_converted():
    class Aliased(MyDense):
        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out)
            self.W = self.params["W"]  # forward would use this one, left as float64

    with pytest.raises(SpecError, match=r"layer 0 \(Aliased\).*self.W.*would not learn"):
        dn.Network([Aliased(784, 10)])
    dn.Network([Aliased(784, 10)], dtype=np.float64)  # nothing to convert: fine


def test_float64_params_made_after_the_network_was_built_are_refused(sample):
    class Lazy(MyDense):
        """Makes its parameters on the first forward, in float64."""

        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out)
            self.params, self.grads = {}, {}

        def forward(self, X, training=False):
            if not self.params:
                self.params = {"W": np.full((self.n_in, self.n_out), 0.01),
                               "b": np.zeros(self.n_out)}
            return super().forward(X, training)

    net = mlp(Lazy(784, 32))
    with pytest.raises(TrainingError, match=r"layer 0 \(Lazy\): params\['W'\] is float64 but the "
                                            r"network is float32"):
        dn.train(net, sample.x_train[:64], sample.y_train[:64], epochs=1, progress=False)


# --- model files --------------------------------------------------------------------------------

def test_registered_own_layer_saves_and_loads(tmp_path, sample, registry):
    assert dn.register_layer(MyDense) is MyDense  # usable as a decorator too
    net = dn.Network([MyDense(784, 32), dn.ReLU(), MyDense(32, 10)])
    dn.train(net, sample.x_train[:1000], sample.y_train[:1000], epochs=1, progress=False)
    back = dn.load_model(dn.save_model(net, tmp_path / "mine.npz"))
    assert [type(layer) for layer in back.layers] == [MyDense, dn.ReLU, MyDense]
    np.testing.assert_array_equal(back.predict_proba(sample.x_test),
                                  net.predict_proba(sample.x_test))


def test_unregistered_own_layer_is_refused_at_save_time(tmp_path, sample, registry):
    path = tmp_path / "m.npz"
    path.write_bytes(b"an older model")
    net = mlp(MyDense(784, 32))
    with pytest.raises(ModelFileError, match=r"layer 0 \(MyDense\) is not a registered layer "
                                             r"type.*dn.register_layer\(MyDense\)"):
        dn.save_model(net, path)
    assert path.read_bytes() == b"an older model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_a_file_naming_an_unknown_layer_says_to_register_it(tmp_path, registry):
    dn.register_layer(MyDense)
    path = dn.save_model(mlp(MyDense(784, 32)), tmp_path / "m.npz")
    del LAYER_TYPES["MyDense"]  # a later session that did not register it
    with pytest.raises(ModelFileError, match=r"'MyDense'.*not a digitnet layer.*"
                                             r"dn.register_layer\(MyDense\) before dn.load_model"):
        dn.load_model(path)


class NoConfig(MyDense):
    def config(self):
        return {}


class NumpyConfig(MyDense):
    def config(self):
        return {"n_in": np.int64(self.n_in), "n_out": np.int64(self.n_out)}


class HalfConfig(MyDense):
    def __init__(self, n_in, n_out=5):
        super().__init__(n_in, n_out)

    def config(self):
        return {"n_in": self.n_in}


@pytest.mark.parametrize("cls, message", [
    (NoConfig, r"NoConfig\(\*\*config\(\)\) with config\(\) = \{\} failed"),
    (NumpyConfig, r"config\(\) must return a dict of JSON values"),
    (HalfConfig, r"builds params \{'W': \(784, 5\).*every constructor argument"),
])
def test_config_that_cannot_rebuild_the_layer_is_refused_at_save_time(tmp_path, registry, cls,
                                                                     message):
    dn.register_layer(cls)
    with pytest.raises(ModelFileError, match=message):
        dn.save_model(mlp(cls(784, 32)), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_register_layer_refuses_what_model_files_could_not_tell_apart(tmp_path, registry):
    class Dense(MyDense):  # a learner's class named like digitnet's own
        pass

    with pytest.raises(SpecError, match="digitnet has its own layer called Dense"):
        dn.register_layer(Dense)
    with pytest.raises(SpecError, match="takes a layer class"):
        dn.register_layer(np.ndarray)
    with pytest.raises(ModelFileError, match="has the name of a digitnet layer"):
        dn.save_model(dn.Network([Dense(784, 10)]), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())
