import numpy as np

import digitnet as dn


def test_softmax_rows_sum_to_one_even_for_huge_scores():
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    P = dn.softmax(Z)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.all(np.isfinite(P))


def test_softmax_cross_entropy_is_finite_for_logits_of_1e4():
    loss = dn.SoftmaxCrossEntropy()
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    L = loss.forward(Z, np.array([1, 1]))
    dZ = loss.backward()
    assert np.isfinite(L) and abs(L - 1e4) < 1  # sample 0 is wrong by 2e4, sample 1 right: mean 1e4
    assert np.all(np.isfinite(dZ))
    np.testing.assert_allclose(dZ, [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-6)


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    Z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    loss = dn.SoftmaxCrossEntropy()
    L = loss.forward(Z, y)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert np.isclose(L, -np.mean(np.log(P[np.arange(6), y])))
    eps, num = 1e-6, np.zeros_like(Z)
    for i in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[i] += eps
        Zm[i] -= eps
        num[i] = (dn.SoftmaxCrossEntropy().forward(Zp, y)
                  - dn.SoftmaxCrossEntropy().forward(Zm, y)) / (2 * eps)
    np.testing.assert_allclose(loss.backward(), num, atol=1e-8)


def test_binary_cross_entropy_is_stable_and_correct():
    loss = dn.SigmoidBinaryCrossEntropy()
    Z = np.array([[1e4], [-1e4], [0.0]])
    L = loss.forward(Z, np.array([1, 1, 0]))
    assert np.isclose(L, (0 + 1e4 + np.log(2)) / 3)
    np.testing.assert_allclose(loss.backward()[:, 0], [0, -1 / 3, 0.5 / 3], atol=1e-12)
