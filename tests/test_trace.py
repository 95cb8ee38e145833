"""net.trace / `digitnet trace`: one training step, layer by layer, in both layouts."""

import copy
import json

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import SpecError


@pytest.fixture(scope="module")
def batch(sample):
    return sample.x_train[:20], sample.y_train[:20]


def arriving_names(t):
    """Names of the gradients at the layers' outputs (dZ1, dA1, dConv2D_1 ...)."""
    return {layer.backward[0].name for layer in t.layers if layer.backward}


def test_columns_layout_has_the_notebooks_shapes(batch):
    X, y = batch
    t = dn.build_network("784-32-10").trace(X, y, layout="columns")
    shapes = {name: a.shape for name, a in t.arrays.items()}
    assert shapes == {"X": (784, 20), "W1": (32, 784), "b1": (32, 1), "Z1": (32, 20),
                      "A1": (32, 20), "W2": (10, 32), "b2": (10, 1), "Z2": (10, 20),
                      "A2": (10, 20), "dZ2": (10, 20), "dW2": (10, 32), "db2": (10, 1),
                      "dA1": (32, 20), "dZ1": (32, 20), "dW1": (32, 784), "db1": (32, 1)}
    assert {k: u.shape for k, u in t.updates.items()} == {
        "W1": (32, 784), "b1": (32, 1), "W2": (10, 32), "b2": (10, 1)}
    np.testing.assert_allclose(t["A2"].sum(axis=0), 1, rtol=1e-5)  # each column sums to 1


def test_rows_layout_has_digitnets_shapes(batch):
    X, y = batch
    t = dn.build_network("784-32-10").trace(X, y)
    assert t["X"].shape == (20, 784) and t["W1"].shape == (784, 32) and t["b1"].shape == (32,)
    assert t["Z1"].shape == t["dZ1"].shape == (20, 32)
    assert t["dW1"].shape == (784, 32) and t["db2"].shape == (10,)
    np.testing.assert_allclose(t["A2"].sum(axis=1), 1, rtol=1e-5)


def notebook_step(X, Y, W1, b1, W2, b2, alpha):
    """The learners' 2-layer network in column layout (X:(784, m)), float64."""
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    A2 = np.exp(Z2) / np.sum(np.exp(Z2), axis=0, keepdims=True)
    one_hot = np.zeros_like(A2)
    one_hot[Y, np.arange(m)] = 1
    dZ2 = A2 - one_hot
    dW2 = 1 / m * dZ2 @ A1.T
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T @ dZ2 * (Z1 > 0)
    dW1 = 1 / m * dZ1 @ X.T
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    J = -np.mean(np.log(A2[Y, np.arange(m)]))
    return dict(Z1=Z1, A1=A1, Z2=Z2, A2=A2, dZ2=dZ2, dW2=dW2, db2=db2, dZ1=dZ1, dW1=dW1,
                db1=db1, W1_new=W1 - alpha * dW1, W2_new=W2 - alpha * dW2), J


def test_columns_layout_matches_the_notebooks_code(batch):
    X, y = batch
    net = dn.build_network("784-16-10", dtype=np.float64)
    net.layers[2].params["b"][:] = np.linspace(-0.5, 0.5, 10)  # nonzero biases
    W1, W2 = net.layers[0].params["W"].T, net.layers[2].params["W"].T
    b1, b2 = net.layers[0].params["b"][:, None], net.layers[2].params["b"][:, None]
    ref, J = notebook_step(X.T.astype(np.float64), y, W1, b1, W2, b2, alpha=0.3)
    t = net.trace(X, y, lr=0.3, layout="columns")
    for name in ("Z1", "A1", "Z2", "A2", "dZ2", "dW2", "db2", "dZ1", "dW1", "db1"):
        np.testing.assert_allclose(t[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert t.loss == pytest.approx(J, rel=1e-12)
    np.testing.assert_allclose(W1 + t.updates["W1"], ref["W1_new"], atol=1e-12)
    np.testing.assert_allclose(W2 + t.updates["W2"], ref["W2_new"], atol=1e-12)


@pytest.mark.parametrize("spec", ["784-32-bn-16-drop0.2-10", "conv4-pool2-conv8-bn-pool2-16-10"])
def test_traced_gradients_are_those_of_train_step(batch, spec):
    X, y = batch
    net = dn.build_network(spec, seed=1)
    t = net.trace(X, y)
    ref = copy.deepcopy(net)  # same weights, same dropout draws
    loss, Z = ref.train_step(X, y)
    assert t.loss == loss
    np.testing.assert_array_equal(t[t.layers[-1].name], Z)
    traced = [a for layer in t.layers for a in layer.backward[1:]]  # dW1, db1, BatchNorm_2.dgamma
    expected = [g for _, _, g in ref.parameters()]
    assert len(traced) == len(expected) == len(list(net.parameters()))
    for a, g in zip(traced, expected, strict=True):  # train_step runs a first conv and its
        # pool as one step (Conv2D.pooled_forward): that layer's dW, db the same to rounding
        np.testing.assert_allclose(a.value, g, rtol=1e-5, atol=1e-7, err_msg=a.name)


def test_sgd_update_is_minus_lr_times_the_gradient(batch):
    X, y = batch
    net = dn.build_network("784-16-10", dtype=np.float64)
    for optimizer in ("sgd", "momentum"):  # momentum's first step from v = 0 is the same
        t = net.trace(X, y, lr=0.05, optimizer=optimizer)
        for name, update in t.updates.items():
            np.testing.assert_allclose(update, -0.05 * t["d" + name], rtol=1e-10, atol=1e-15)
    t = net.trace(X, y, optimizer="adam")  # about lr * sign(dW) on its first step
    g, u = t["dW2"], t.updates["W2"]
    big = np.abs(g) > 1e-5
    np.testing.assert_allclose(u[big], -1e-3 * np.sign(g[big]), rtol=1e-2)
    assert t.lr == 1e-3 and "adam" in str(t)


def test_the_network_passed_in_does_not_change(batch):
    X, y = batch
    net = dn.build_network("784-16-bn-8-drop0.3-10")
    weights = net.get_weights()  # parameters and BatchNorm's running statistics
    grads = [g.copy() for _, _, g in net.parameters()]
    rng_state = copy.deepcopy(net.layers[-2].rng.bit_generator.state)
    net.trace(X, y, optimizer="adam")
    assert all(np.array_equal(a, b) for a, b in zip(weights, net.get_weights(), strict=True))
    assert all(np.array_equal(a, g) for a, (_, _, g) in zip(grads, net.parameters(),
                                                            strict=True))
    assert net.layers[-2].rng.bit_generator.state == rng_state


@pytest.mark.parametrize("spec", ["784-16-10", "conv4-pool2-16-bn-10"])
def test_columns_are_the_transposes_of_rows(batch, spec):
    X, y = batch
    net = dn.build_network(spec)
    rows, cols = net.trace(X, y, layout="rows"), net.trace(X, y, layout="columns")
    assert rows.arrays.keys() == cols.arrays.keys() and rows.loss == cols.loss
    m = len(X)
    dims = set()
    for name, r in {**rows.arrays, **{"update " + k: v for k, v in rows.updates.items()}}.items():
        c = cols.updates[name[7:]] if name.startswith("update ") else cols[name]
        if name in arriving_names(rows):
            r = m * r  # the notebooks' dZ, dA: of the summed loss
        expected = r[:, None] if r.ndim == 1 else r.T if r.ndim == 2 else r
        np.testing.assert_array_equal(c, expected, err_msg=name)
        dims.add(r.ndim)
    assert dims == ({1, 2} if spec.startswith("784") else {1, 2, 4})


def test_table_shows_shapes_numbers_formulas_and_the_update(batch):
    X, y = batch
    net = dn.build_network("784-32-10")
    text = str(net.trace(X, y, lr=0.5, layout="columns"))
    for s in ("Z1 = W1 @ X + b1", "A1 = relu(Z1)", "dW1 = 1/m dZ1 @ X.T",
              "db1 = 1/m sum(dZ1, axis=1, keepdims=True)", "dZ1 = W2.T @ dZ2 * g'(Z1)",
              "dZ2 = A2 - Y", "J = -1/m sum_i log A2[y_i, i] =", "W1 -= lr * dW1",
              "update (sgd, lr 0.5)", "(32, 784)", "(32, 1)", "m times digitnet's"):
        assert s in text, s
    rows = net.trace(X, y)
    text = str(rows)
    for s in ("Z1 = X @ W1 + b1", "dW1 = X.T @ dZ1", "db1 = sum(dZ1, axis=0)",
              "dZ2 = (A2 - Y) / m", "J = -1/m sum_i log A2[i, y_i] =", "(784, 32)"):
        assert s in text, s
    line = next(li for li in text.splitlines() if li.startswith("Z1 = "))
    s = rows.as_dict()["forward"][3]
    assert s["name"] == "Z1" and f"{s['std']:.4g}" in line and f"{s['first'][0]:.4g}" in line


def test_as_dict_is_json_with_summaries_not_arrays(batch):
    X, y = batch
    d = dn.build_network("784-32-10").trace(X, y, layout="columns").as_dict()
    text = json.dumps(d, allow_nan=False)
    assert len(text) < 10_000  # summaries, not 25,000 weights
    fwd = {a["name"]: a for a in d["forward"]}
    assert fwd["W1"]["shape"] == [32, 784] and len(fwd["W1"]["first"]) == 3
    assert [a["name"] for a in d["backward"]][:3] == ["dZ2", "dW2", "db2"]
    ups = {u["name"]: u for u in d["updates"]}
    assert ups["W1"]["relative"] > 0 and ups["b1"]["relative"] is None  # b1 was 0
    assert d["m"] == 20 and d["layout"] == "columns" and d["loss"] > 0


def test_conv_net_names_layers_by_type(batch):
    X, y = batch
    t = dn.build_network("conv4-pool2-16-10").trace(X, y, layout="columns")
    assert [layer.name for layer in t.layers] == [
        "Reshape_0", "Conv2D_1", "MaxPool2D_2", "ReLU_3", "Flatten_4", "Z1", "A1", "Z2"]
    assert t["Conv2D_1.dW"].shape == t["Conv2D_1.W"].shape == (3, 3, 1, 4)
    assert t["Conv2D_1"].shape == (20, 28, 28, 4)  # images keep (m, H, W, C)
    assert t["Flatten_4"].shape == (784, 20)
    assert "dReshape_0" not in t.arrays  # nobody needs the gradient of the input images
    assert "Conv2D_1.W -= lr * Conv2D_1.dW" in str(t)


def test_binary_network_traces_sigmoid_output(batch):
    X, y = batch
    y7 = (y == 7).astype(np.int64)
    t = dn.build_network("784-8-1").trace(X, y7, layout="columns")
    assert t["A2"].shape == t["dZ2"].shape == (1, 20)
    np.testing.assert_allclose(t["dZ2"], t["A2"] - y7[None], rtol=1e-5, atol=1e-7)
    assert "sigmoid(Z2)" in str(t)


@pytest.mark.parametrize("kwargs, match", [
    (dict(layout="notebook"), "layout"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(y=np.ones((20, 10), int)), "one integer class label"), (dict(y=np.full(20, 10)), "0..9"),
])
def test_bad_arguments_say_what_to_do(batch, kwargs, match):
    X, y = batch
    y = kwargs.pop("y", y)
    with pytest.raises(SpecError, match=match):
        dn.build_network("784-8-10").trace(X, y, **kwargs)


def test_cli_trace_text_and_json(capsys):
    code = main(["trace", "--model", "784-16-10", "--batch", "8", "--layout", "columns",
                 "--lr", "0.2", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert "one minibatch of 8 sample training images" in out
    assert "Z1 = W1 @ X + b1" in out and "W1 -= lr * dW1" in out
    d = last_json(out)
    assert d["m"] == 8 and d["lr"] == 0.2 and d["layout"] == "columns"
    assert {a["name"]: a["shape"] for a in d["forward"]}["W1"] == [16, 784]
    ds = dn.load_dataset("sample", val_size=0, seed=0)  # the same images and weights
    t = dn.build_network("784-16-10", seed=0).trace(ds.x_train[:8], ds.y_train[:8], lr=0.2)
    assert d["loss"] == t.loss


def test_cli_trace_a_model_file(capsys, tmp_path):
    net = dn.build_network("784-8-10", seed=5)
    dn.save_model(net, tmp_path / "m.npz")
    assert main(["trace", "--model", str(tmp_path / "m.npz"), "--batch", "4", "--json"]) == 0
    d = last_json(capsys.readouterr().out)
    W1 = {a["name"]: a for a in d["forward"]}["W1"]
    assert W1["first"] == pytest.approx(net.layers[0].params["W"].ravel()[:3].tolist())
    assert main(["trace", "--batch", "0"]) == 1
    assert "--batch" in capsys.readouterr().err
