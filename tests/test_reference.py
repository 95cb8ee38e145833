"""digitnet's fast layers, loss and optimizers agree with the textbook readings in nn/reference.py
(the notebooks' column layout: transposed where needed), and the textbook network's gradients
agree with central differences."""

import numpy as np
import pytest

import digitnet as dn
from digitnet.nn import reference as ref
from digitnet.optim import make_optimizer

TOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def as_float64(layer):
    layer.astype(np.float64)
    return layer


def test_dense_is_the_transpose_of_the_notebooks(rng):
    m, n_in, n_out = 6, 5, 4
    layer = as_float64(dn.Dense(n_in, n_out))
    layer.params["b"][...] = rng.standard_normal(n_out)
    X = rng.standard_normal((m, n_in))
    W_nb, b_nb = layer.params["W"].T, layer.params["b"].reshape(-1, 1)

    Z_nb, cache = ref.dense_forward(X.T, W_nb, b_nb)
    np.testing.assert_allclose(layer.forward(X, training=True), Z_nb.T, **TOL)

    dZ_nb = rng.standard_normal((n_out, m))            # the notebooks' dZ: m times dJ/dZ
    layer.needs_input_grad = True
    dX = layer.backward(dZ_nb.T / m)                   # digitnet's: the loss put the 1/m in
    dA_prev, dW, db = ref.dense_backward(dZ_nb, cache)
    np.testing.assert_allclose(layer.grads["W"], dW.T, **TOL)
    np.testing.assert_allclose(layer.grads["b"], db.ravel(), **TOL)
    np.testing.assert_allclose(dX, dA_prev.T / m, **TOL)


def test_relu(rng):
    Z = rng.standard_normal((7, 5))
    dA = rng.standard_normal((7, 5))
    layer = dn.ReLU()
    np.testing.assert_array_equal(layer.forward(Z, training=True), ref.relu_forward(Z.T).T)
    np.testing.assert_array_equal(layer.backward(dA), ref.relu_backward(dA.T, Z.T).T)


def test_softmax_cross_entropy(rng):
    m, C = 8, 10
    Z = rng.standard_normal((m, C)) * 3
    y = rng.integers(0, C, m)
    loss = dn.SoftmaxCrossEntropy()
    A_nb, Y = ref.softmax(Z.T), ref.one_hot(y, C)
    np.testing.assert_allclose(A_nb.sum(axis=0), 1, **TOL)       # each column (example)
    np.testing.assert_allclose(dn.softmax(Z), A_nb.T, **TOL)
    assert loss.forward(Z, y) == pytest.approx(ref.cross_entropy_cost(A_nb, Y), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), ref.softmax_cross_entropy_backward(A_nb, Y).T / m,
                               **TOL)


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, band", [
    (1, 3, 3, 1, "same", None),
    (3, 2, 3, 1, "valid", None),      # C >= O: digitnet's dX is itself a convolution
    (2, 4, 3, 2, 1, None),            # stride 2 with padding: the per-offset dX
    (2, 3, 5, 1, "same", None),
    (3, 3, 5, 2, "valid", None),
    (2, 2, 2, 2, 0, None),
    (1, 3, 5, 1, "same", None),       # one channel, 5x5: banded (a matmul over image rows)
    (1, 2, 3, 2, 1, True),            # banded where it is not the default
    (1, 3, 5, 1, "same", False),      # and im2col where it is
    (3, 4, 5, 1, "valid", None),      # several channels, 5x5: banded (LeNet-5's second layer)
    (2, 3, 5, 1, "same", False),
    (2, 3, 3, 2, 1, True),            # several channels, banded with stride 2
])
def test_conv2d(rng, c_in, c_out, kernel, stride, padding, band):
    layer = as_float64(dn.Conv2D(c_in, c_out, kernel, stride, padding, band=band))
    layer.params["b"][...] = rng.standard_normal(c_out)
    layer.needs_input_grad = True
    X = rng.standard_normal((2, 7, 8, c_in))
    Z = layer.forward(X, training=True)
    Z_ref, cache = ref.conv_forward(X, layer.params["W"], layer.params["b"].reshape(1, 1, 1, -1),
                                    stride=stride, pad=layer.pad)
    np.testing.assert_allclose(Z, Z_ref, **TOL)
    dZ = rng.standard_normal(Z.shape)
    dX = layer.backward(dZ)
    dX_ref, dW_ref, db_ref = ref.conv_backward(dZ, cache)
    np.testing.assert_allclose(dX, dX_ref, **TOL)
    np.testing.assert_allclose(layer.grads["W"], dW_ref, **TOL)
    np.testing.assert_allclose(layer.grads["b"], db_ref.ravel(), **TOL)


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, blocks", [
    (3, 4, 5, 1, "same", 2),          # each output row cut into blocks of 4 columns
    (3, 4, 5, 1, "same", 4),
    (2, 3, 3, 2, 1, 2),               # with stride 2: the blocks' input columns overlap less
    (1, 2, 5, 1, "valid", 4),         # Wo = 4: blocks of one column
])
def test_banded_conv2d_in_blocks(rng, c_in, c_out, kernel, stride, padding, blocks):
    layer = as_float64(dn.Conv2D(c_in, c_out, kernel, stride, padding, band=True))
    layer.band_blocks = blocks
    layer.params["b"][...] = rng.standard_normal(c_out)
    layer.needs_input_grad = True
    X = rng.standard_normal((2, 7, 8, c_in))
    Z = layer.forward(X, training=True)
    assert len(layer.rows) == 2 * Z.shape[1] * blocks  # it did cut the rows
    Z_ref, cache = ref.conv_forward(X, layer.params["W"], layer.params["b"].reshape(1, 1, 1, -1),
                                    stride=stride, pad=layer.pad)
    np.testing.assert_allclose(Z, Z_ref, **TOL)
    dZ = rng.standard_normal(Z.shape)
    dX_ref, dW_ref, db_ref = ref.conv_backward(dZ, cache)
    np.testing.assert_allclose(layer.backward(dZ), dX_ref, **TOL)
    np.testing.assert_allclose(layer.grads["W"], dW_ref, **TOL)
    np.testing.assert_allclose(layer.grads["b"], db_ref.ravel(), **TOL)
    np.testing.assert_allclose(layer.forward(X), Z_ref, **TOL)  # predicting: no kept buffers


@pytest.mark.parametrize("size, shape", [(2, (2, 6, 6, 3)), (2, (2, 7, 5, 2)), (3, (1, 9, 7, 2)),
                                         (4, (2, 9, 8, 2))])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool(rng, size, shape, ties):
    layer = dn.MaxPool2D(size)
    X = rng.standard_normal(shape)
    if ties:  # a digit's background: few distinct values, so blocks tie for their maximum
        X = np.round(X).clip(-1, 0)
    A = layer.forward(X, training=True)
    np.testing.assert_array_equal(A, ref.pool_forward(X, size))
    dA = rng.standard_normal(A.shape)
    np.testing.assert_allclose(layer.backward(dA), ref.pool_backward(dA, X, size), **TOL)


@pytest.mark.parametrize("shape", [(16, 5), (3, 4, 4, 6)])
def test_batchnorm_in_training(rng, shape):
    n = shape[-1]
    layer = as_float64(dn.BatchNorm(n))
    layer.params["gamma"][...] = rng.uniform(0.5, 2, n)
    layer.params["beta"][...] = rng.standard_normal(n)
    layer.needs_input_grad = True
    X = rng.standard_normal(shape) * 2 + 1
    A = layer.forward(X, training=True)
    Z_nb = X.reshape(-1, n).T                           # one feature (channel) per row
    gamma, beta = layer.params["gamma"].reshape(-1, 1), layer.params["beta"].reshape(-1, 1)
    A_nb, cache = ref.batchnorm_forward(Z_nb, gamma, beta, eps=layer.eps)
    np.testing.assert_allclose(A.reshape(-1, n).T, A_nb, **TOL)
    mu, var = cache[2].ravel(), cache[3].ravel()
    np.testing.assert_allclose(layer.state["running_mean"], ref.batchnorm_running(0, mu), **TOL)
    np.testing.assert_allclose(layer.state["running_var"], ref.batchnorm_running(1, var), **TOL)

    dA = rng.standard_normal(shape)
    dX = layer.backward(dA)
    dZ_nb, dgamma, dbeta = ref.batchnorm_backward(dA.reshape(-1, n).T, cache)
    np.testing.assert_allclose(dX.reshape(-1, n).T, dZ_nb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.grads["gamma"], dgamma.ravel(), **TOL)
    np.testing.assert_allclose(layer.grads["beta"], dbeta.ravel(), **TOL)


@pytest.mark.parametrize("name, weight_decay", [("sgd", 0.0), ("sgd", 0.01), ("momentum", 0.0),
                                                ("momentum", 0.01), ("adam", 0.0),
                                                ("adam", 0.01)])
def test_optimizers_over_several_steps(rng, name, weight_decay):
    net = dn.Network([dn.Dense(5, 3)], dtype=np.float64)
    lr = 0.05
    opt = make_optimizer(name, net, lr, weight_decay)
    layer = net.layers[0]
    W, b = layer.params["W"].T.copy(), layer.params["b"].reshape(-1, 1).copy()   # notebooks'
    state = {k: [np.zeros_like(W), np.zeros_like(b)] for k in ("v", "s")}
    for t in range(1, 6):
        dW, db = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
        layer.grads["W"][...] = dW.T
        layer.grads["b"][...] = db.ravel()
        opt.step()
        # weight decay applies to weights, not biases
        for i, (p, g, wd) in enumerate([(W, dW, weight_decay), (b, db, 0.0)]):
            if name == "sgd":
                new = ref.sgd_step(p, g, lr, wd)
            elif name == "momentum":
                new, state["v"][i] = ref.momentum_step(p, g, state["v"][i], lr, 0.9, wd)
            else:
                new, state["v"][i], state["s"][i] = ref.adam_step(
                    p, g, state["v"][i], state["s"][i], t, lr, weight_decay=wd)
            p[...] = new
        np.testing.assert_allclose(layer.params["W"], W.T, **TOL)
        np.testing.assert_allclose(layer.params["b"], b.ravel(), **TOL)


def test_the_courses_momentum_is_digitnets_with_lr_alpha_times_1_minus_beta(rng):
    W1 = W2 = rng.standard_normal((3, 4))
    v1 = v2 = np.zeros_like(W1)
    for _ in range(5):
        dW = rng.standard_normal(W1.shape)
        W1, v1 = ref.momentum_step_course(W1, dW, v1, alpha=1.0, beta=0.9)
        W2, v2 = ref.momentum_step(W2, dW, v2, lr=1.0 * (1 - 0.9), beta=0.9)
    np.testing.assert_allclose(W1, W2, **TOL)


def _reference_net(params, X, Y):
    """X -> dense -> ReLU -> dense -> softmax, cost J; returns J and the gradients."""
    W1, b1, W2, b2 = params
    Z1, c1 = ref.dense_forward(X, W1, b1)
    A1 = ref.relu_forward(Z1)
    Z2, c2 = ref.dense_forward(A1, W2, b2)
    A2 = ref.softmax(Z2)
    J = ref.cross_entropy_cost(A2, Y)
    dZ2 = ref.softmax_cross_entropy_backward(A2, Y)
    dA1, dW2, db2 = ref.dense_backward(dZ2, c2)
    _, dW1, db1 = ref.dense_backward(ref.relu_backward(dA1, Z1), c1)
    return J, [dW1, db1, dW2, db2]


def test_reference_network_gradients_match_central_differences(rng):
    m, n_x, n_h, C = 5, 6, 4, 3
    X = rng.standard_normal((n_x, m))
    Y = ref.one_hot(rng.integers(0, C, m), C)
    params = [rng.standard_normal((n_h, n_x)), rng.standard_normal((n_h, 1)) * 0.1,
              rng.standard_normal((C, n_h)), rng.standard_normal((C, 1)) * 0.1]
    _, grads = _reference_net(params, X, Y)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = _reference_net(params, X, Y)[0]
            p[i] = old - eps
            down = _reference_net(params, X, Y)[0]
            p[i] = old
            num[i] = (up - down) / (2 * eps)
        assert np.linalg.norm(num - g) / (np.linalg.norm(num) + np.linalg.norm(g)) < 1e-7

    # and digitnet's network, holding the transposed parameters, computes the same gradients
    net = dn.Network([dn.Dense(n_x, n_h), dn.ReLU(), dn.Dense(n_h, C)], dtype=np.float64)
    net.set_weights([params[0].T, params[1].ravel(), params[2].T, params[3].ravel()])
    loss, _ = net.train_step(X.T, Y.argmax(axis=0))
    assert loss == pytest.approx(_reference_net(params, X, Y)[0], rel=1e-12)
    for (_, _, g_dn), g in zip(net.parameters(), grads, strict=True):
        np.testing.assert_allclose(g_dn, g.T.reshape(g_dn.shape), **TOL)
