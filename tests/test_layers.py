"""Every layer's backward agrees with finite differences (float64), and the forward math holds."""

import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import SpecError


@pytest.mark.parametrize("layer", [
    dn.Dense(7, 5, init="he"),
    dn.Dense(6, 3, init="glorot"),
    dn.ReLU(),
    dn.LeakyReLU(0.1),
    dn.Sigmoid(),
    dn.Tanh(),
    dn.Dropout(0.4),
], ids=lambda layer: type(layer).__name__)
def test_layer_gradients_match_finite_differences(layer):
    X = np.random.default_rng(1).standard_normal((5, getattr(layer, "n_in", 6)))
    X[np.abs(X) < 1e-3] = 0.5  # keep away from the ReLU kink
    result = dn.gradcheck(layer, X)
    assert result.ok, str(result)
    assert len(result.rows) == len(layer.params) + 1  # every parameter and dX


def test_gradcheck_catches_a_broken_layer():
    class BrokenDense(dn.Dense):
        def backward(self, dZ):
            dX = super().backward(dZ)
            self.grads["W"] *= 2  # a wrong factor of 2, as a learner might write
            return dX

    result = dn.gradcheck(BrokenDense(4, 3), np.ones((2, 4)))
    assert not result.ok
    assert "WRONG" in str(result)
    assert [r[0] for r in result.rows if r[2] > 1e-6] == ["W"]


def test_dense_forward_is_XW_plus_b():
    layer = dn.Dense(3, 2)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [10, 20]
    Z = layer.forward(np.array([[1, 1, 1]], dtype=np.float32))
    np.testing.assert_allclose(Z, [[19, 32]])


def test_dense_rejects_wrong_input_width():
    with pytest.raises(SpecError, match=r"\(N, 3\)"):
        dn.Dense(3, 2).forward(np.zeros((4, 5), np.float32))


def test_dropout_is_identity_at_evaluation_and_keeps_the_mean_in_training():
    d = dn.Dropout(0.5)
    X = np.ones((1000, 100), np.float32)
    assert d.forward(X, training=False) is X
    A = d.forward(X, training=True)
    assert set(np.unique(A)) == {0.0, 2.0}
    assert abs(A.mean() - 1.0) < 0.02


def test_float32_by_default():
    net = dn.build_network("784-32-10")
    assert all(p.dtype == np.float32 for _, p, _ in net.parameters())
    assert net.forward(np.zeros((2, 784), np.float32)).dtype == np.float32


@pytest.mark.parametrize("m, n", [(25088, 64), (128, 256), (7, 5), (1, 3), (0, 4), (96, 600)])
@pytest.mark.parametrize("op", [np.add, np.subtract, np.multiply])
def test_per_feature_is_the_plain_broadcast(m, n, op):
    from digitnet.nn.layers import per_feature

    rng = np.random.default_rng(0)
    X2 = rng.standard_normal((m, n)).astype(np.float32)
    v = rng.standard_normal(n)                       # float64: cast to X2's dtype
    expected = op(X2, v.astype(np.float32))
    got = per_feature(op, X2, v)
    assert got.shape == (m, n) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    out = np.empty_like(X2)
    assert per_feature(op, X2, v, out=out) is not None
    np.testing.assert_array_equal(out, expected)
    if m > 1:                                         # not contiguous: the plain way
        np.testing.assert_array_equal(per_feature(op, X2[::2], v),
                                      op(X2[::2], v.astype(np.float32)))
