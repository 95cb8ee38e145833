"""Convolutional layers: finite-difference gradient checks (float64) and forward math."""

import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import TrainingError
from digitnet.nn.conv import (
    AvgPool2D,
    Conv2D,
    ConvPool,
    Flatten,
    MaxPool2D,
    Reshape,
    fuse_pooling,
)
from digitnet.nn.layers import BatchNorm


def images(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("layer, X", [
    # dX per kernel offset (channels widen, or stride > 1)
    (Conv2D(3, 4, kernel=3, padding="same"), images(2, 6, 5, 3)),
    (Conv2D(2, 3, kernel=3, padding="valid"), images(2, 6, 6, 2)),
    (Conv2D(2, 3, kernel=5, padding=2, band=False), images(2, 7, 6, 2)),
    (Conv2D(2, 3, kernel=3, stride=2, padding=1), images(2, 7, 7, 2)),
    (Conv2D(1, 2, kernel=2, stride=2, padding="valid"), images(3, 4, 4, 1)),
    # dX as a convolution of dZ with the flipped kernel (stride 1, channels do not widen)
    (Conv2D(4, 3, kernel=3, padding="same"), images(2, 6, 5, 4)),
    (Conv2D(3, 3, kernel=3, padding="valid"), images(2, 6, 6, 3)),
    (Conv2D(3, 2, kernel=5, padding=2, band=False), images(2, 7, 6, 3)),
    # banded (a matmul over image rows), by default for 5x5, stride 1 and few filters
    (Conv2D(1, 3, kernel=5, padding="same"), images(2, 7, 6, 1)),
    (Conv2D(3, 4, kernel=5, padding="valid"), images(2, 7, 8, 3)),
    (Conv2D(2, 3, kernel=5, padding=2), images(2, 7, 6, 2)),
    (Conv2D(1, 2, kernel=3, stride=2, padding=1, band=True), images(2, 7, 7, 1)),
    (Conv2D(2, 3, kernel=3, stride=2, padding=1, band=True), images(2, 7, 7, 2)),
    (MaxPool2D(2), images(2, 6, 6, 3)),
    (MaxPool2D(2), images(2, 7, 5, 2)),            # odd sizes: last row/column dropped
    (AvgPool2D(2), images(2, 6, 6, 3)),
    (AvgPool2D(0), images(2, 5, 5, 3)),            # global average pooling
    (Flatten(), images(2, 3, 3, 2)),
    (Reshape(4, 4, 1), images(3, 16)),
    (BatchNorm(5), images(8, 5)),
    (BatchNorm(3), images(4, 5, 5, 3)),
], ids=lambda v: type(v).__name__ if not isinstance(v, np.ndarray) else str(v.shape))
def test_gradients_match_finite_differences(layer, X):
    result = dn.gradcheck(layer, X)
    assert result.ok, str(result)


def test_the_banded_way_is_chosen_where_it_was_measured_faster():
    assert Conv2D(1, 6, kernel=5)._banded(32)                  # LeNet-5's first layer
    assert Conv2D(6, 16, kernel=5, padding="valid")._banded(12)  # and its second
    assert not Conv2D(1, 24, kernel=5, stride=2)._banded(28)   # the fast preset's: stride 2
    assert not Conv2D(1, 32, kernel=3)._banded(30)             # 3x3 windows
    assert not Conv2D(1, 32, kernel=5)._banded(32)             # many filters: im2col's matmul
    assert not Conv2D(16, 32, kernel=5)._banded(18)            # is well shaped
    assert not Conv2D(1, 6, kernel=5)._banded(200)             # wide rows: T too large
    assert not Conv2D(6, 16, kernel=5)._banded(28)             # (Wp*C values)
    assert Conv2D(1, 6, kernel=3, band=True)._banded(30)
    assert not Conv2D(6, 16, kernel=5, band=False)._banded(12)


def test_banded_rows_are_cut_into_blocks_that_keep_the_matmul_wide():
    assert Conv2D(1, 6, kernel=5)._band_blocks(28) == 2   # LeNet-5: 2 blocks of 14 x 6 columns
    assert Conv2D(6, 16, kernel=5)._band_blocks(8) == 2   # 2 blocks of 4 x 16
    assert Conv2D(1, 3, kernel=5)._band_blocks(7) == 1    # too narrow to cut
    assert Conv2D(1, 64, kernel=5)._band_blocks(28) == 28
    conv = Conv2D(1, 6, kernel=5)
    conv.band_blocks = 3
    assert conv._band_blocks(28) == 1                     # forced, but 3 does not divide 28
    assert conv._band_blocks(27) == 3


@pytest.mark.parametrize("block_bytes", [0, 1], ids=["whole batch", "image by image"])
@pytest.mark.parametrize("bias_column_max", [0, 32], ids=["bias added", "bias column"])
def test_conv_matches_a_direct_loop(bias_column_max, block_bytes, monkeypatch):
    monkeypatch.setattr("digitnet.nn.conv.BIAS_COLUMN_MAX", bias_column_max)
    monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 5, 6, 3))
    conv = Conv2D(3, 4, kernel=3, stride=2, padding=1)  # k*k*C = 27
    assert conv._bias_column() == (bias_column_max == 32)
    conv.astype(np.float64)
    conv.params["b"][:] = rng.standard_normal(4)
    W, b = conv.params["W"], conv.params["b"]
    Xp = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))
    Z = conv.forward(X)
    assert Z.shape == (2, 3, 3, 4)
    for n, y, x, o in np.ndindex(*Z.shape):  # the definition, one output at a time
        window = Xp[n, 2 * y:2 * y + 3, 2 * x:2 * x + 3, :]
        assert np.isclose(Z[n, y, x, o], np.sum(window * W[:, :, :, o]) + b[o])


@pytest.mark.parametrize("shape, args", [
    ((7, 14, 14, 32), {"c_in": 32, "c_out": 64}),                         # cnn's second layer
    ((5, 9, 8, 4), {"c_in": 4, "c_out": 3, "kernel": 3, "stride": 2, "padding": "valid"}),
    ((5, 12, 12, 6), {"c_in": 6, "c_out": 16, "kernel": 5, "padding": 1, "band": False}),
])
def test_predicting_in_blocks_of_images_gives_the_whole_batchs_numbers(shape, args,
                                                                        monkeypatch):
    """im2col goes a few images at a time (BLOCK_BYTES): the same Z as all at once, predicting
    or training, for blocks that do not divide the batch too, and the same gradients."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal(shape).astype(np.float32)
    conv = Conv2D(**args, seed=5)
    conv.params["b"][:] = rng.standard_normal(conv.c_out)
    per_image = conv.forward(X[:1]).shape[1] * conv.forward(X[:1]).shape[2] * \
        conv.kernel ** 2 * conv.c_in * 4
    monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", 0)
    whole = conv.forward(X)
    for per in (1, 2, 3):
        monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", per * per_image)
        assert conv._blocks(len(X), per_image, False) == per
        np.testing.assert_allclose(conv.forward(X), whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv.forward(X, training=True), whole, rtol=1e-5, atol=1e-5)
    dZ = rng.standard_normal(whole.shape).astype(np.float32)
    conv.needs_input_grad = True
    grads = {}
    for block_bytes in (0, 2 * per_image):  # training: the same dW, db and dX from blocks
        monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", block_bytes)
        conv.forward(X, training=True)
        dX = conv.backward(dZ)
        grads[block_bytes] = [conv.grads["W"].copy(), conv.grads["b"].copy(), dX]
    for a, b in zip(grads[0], grads[2 * per_image], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c, k, stride, padding", [
    (1, 3, 1, "same"), (3, 3, 1, "same"), (1, 5, 2, "valid"), (2, 3, 2, 1)])
def test_the_bias_column_gives_the_same_numbers_forward_and_backward(monkeypatch, c, k, stride,
                                                                     padding):
    """A first layer's bias rides in the matmul ([cols 1] @ [W; b], cols stored transposed);
    the same layer with the bias added after the matmul gives the same Z, dW, db and dX,
    training or not, for several channels, window sizes, strides and paddings; and a second
    batch through the kept work arrays gives the same as a fresh layer."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 9, 8, c)).astype(np.float32)
    X2 = rng.standard_normal((3, 9, 8, c)).astype(np.float32)
    out = {}
    for limit in (32, 0):
        monkeypatch.setattr("digitnet.nn.conv.BIAS_COLUMN_MAX", limit)
        conv = Conv2D(c, 5, kernel=k, stride=stride, padding=padding, seed=3)
        conv.params["b"][:] = rng.standard_normal(5) if limit else out[32][-1]
        conv.needs_input_grad = True
        conv.forward(X2, training=True)  # fills the kept arrays with another batch first
        Z_eval = conv.forward(X)
        Z = conv.forward(X, training=True)
        assert conv.cols.shape[1] == k * k * c + (limit > 0)
        dZ = np.random.default_rng(4).standard_normal(Z.shape).astype(np.float32)
        dX = conv.backward(dZ)
        out[limit] = (Z_eval, Z, conv.grads["W"].copy(), conv.grads["b"].copy(), dX,
                      conv.params["b"].copy())
    for a, b in zip(out[32][:5], out[0][:5], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[32][0], out[32][1])  # evaluation == training forward


@pytest.mark.parametrize("shape, conv, size, block_images", [
    ((5, 28, 28, 1), {"c_in": 1, "c_out": 8}, 2, 0),                     # bias column, phases
    ((4, 11, 13, 3), {"c_in": 3, "c_out": 5, "stride": 2, "padding": "valid"}, 2, 0),
    ((3, 15, 14, 1), {"c_in": 1, "c_out": 4, "kernel": 5, "band": False}, 3, 0),  # 9 phases
    ((4, 15, 13, 2), {"c_in": 2, "c_out": 7, "padding": "valid"}, 2, 0),  # odd: rows dropped
    ((4, 12, 12, 3), {"c_in": 3, "c_out": 5, "stride": 2}, 3, 0),
    # windows in blocks (no bias column): cnn's second; odd sizes; stride 2 and a 3x3 pool
    ((7, 14, 14, 32), {"c_in": 32, "c_out": 64}, 2, 3),
    ((5, 15, 13, 6), {"c_in": 6, "c_out": 7, "padding": "valid"}, 2, 2),
    ((4, 13, 12, 4), {"c_in": 4, "c_out": 5, "stride": 2}, 3, 1),
    # as the two layers: banded; a 1x1 "pool"
    ((3, 12, 12, 1), {"c_in": 1, "c_out": 6, "kernel": 5}, 2, 0),
    ((3, 6, 6, 4), {"c_in": 4, "c_out": 5}, 1, 0),
])
@pytest.mark.parametrize("relu", [False, True])
def test_conv_and_pool_as_one_layer_give_the_two_layers_numbers(shape, conv, size,
                                                               block_images, relu, monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape).astype(np.float32)
    layer = Conv2D(**conv, seed=4)
    layer.params["b"][:] = rng.standard_normal(layer.c_out)
    pool = MaxPool2D(size)
    Z = layer.forward(X)
    if block_images:  # blocks of this many images (one that does not divide the batch, too)
        per_image = Z.shape[1] * Z.shape[2] * layer.kernel ** 2 * layer.c_in * 4
        monkeypatch.setattr("digitnet.nn.conv.BLOCK_BYTES", block_images * per_image)
        assert layer._blocks(len(X), per_image, False) == block_images
    expected = pool.forward(Z)
    if relu:
        expected = np.maximum(expected, 0)
    A = ConvPool(layer, pool, relu).forward(X)
    assert A.shape == expected.shape
    np.testing.assert_allclose(A, expected, rtol=1e-5, atol=1e-5)


def test_fusing_takes_each_conv_with_the_pool_and_relu_after_it_and_nothing_else():
    class MyConv(Conv2D):                    # a learner's subclass may compute otherwise
        pass

    net = dn.build_network("cnn", seed=0)
    fused = fuse_pooling(net.layers)          # BatchNorm not folded: conv2 is not next to a pool
    assert [type(layer).__name__ for layer in fused] == [
        "Reshape", "ConvPool", "Conv2D", "BatchNorm", "MaxPool2D", "ReLU", "Flatten", "Dense",
        "ReLU", "Dropout", "Dense"]
    assert fused[1].relu and fused[1].conv is net.layers[1] and fused[1].pool is net.layers[2]
    mine = [MyConv(1, 4), MaxPool2D(2), Conv2D(3, 4), MaxPool2D(2), dn.Sigmoid(),
            Conv2D(4, 4), dn.ReLU(), MaxPool2D(2)]
    assert [type(layer).__name__ for layer in fuse_pooling(mine)] == \
        ["MyConv", "MaxPool2D", "ConvPool", "Sigmoid", "Conv2D", "ReLU", "MaxPool2D"]
    assert not fuse_pooling(mine)[2].relu
    with pytest.raises(RuntimeError, match="only predicts"):
        fused[1].forward(np.zeros((1, 28, 28, 1), np.float32), training=True)


@pytest.mark.parametrize("spec", ["cnn", "best", "conv8v-pool3-conv16-pool2-10"])
def test_predictions_with_fused_layers_are_the_layer_by_layer_ones(spec, monkeypatch):
    net = dn.build_network(spec, seed=0)
    X = np.random.default_rng(0).random((90, 784), dtype=np.float32)
    fused = net.logits(X)
    monkeypatch.setattr("digitnet.nn.network.fuse_pooling", list)
    plain = net.logits(X)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())
    np.testing.assert_allclose(plain, net.forward(X), rtol=1e-4, atol=1e-4 * np.abs(plain).max())


@pytest.mark.parametrize("spec", ["cnn", "conv8k5s2v-pool2-10", "conv6-pool3-10"])
def test_training_a_first_conv_and_its_pool_as_one_step_gives_the_layers_gradients(
        spec, sample, monkeypatch):
    """Training runs a first convolution and the max pool after it by pooling phases
    (Conv2D.pooled_forward / pooled_backward); on real digits, whose blank background makes
    whole blocks tie, the loss and every gradient are those of the layers one after the
    other."""
    X, y = sample.x_train[:50], sample.y_train[:50]
    out = {}
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(Conv2D, "pools_by_phase", lambda self, pool, width: False)
        net = dn.build_network(spec, seed=3)
        for layer in net.layers:
            if isinstance(layer, Conv2D):
                layer.params["b"][:] = 0.1
        loss, Z = net.train_step(X, y)
        assert (2 in net._pooled) is fused                 # the pool's index
        out[fused] = (loss, Z, [g.copy() for _, _, g in net.parameters()])
    assert out[True][0] == pytest.approx(out[False][0], rel=1e-6)
    np.testing.assert_allclose(out[True][1], out[False][1], rtol=1e-5, atol=1e-5)
    for a, b in zip(out[True][2], out[False][2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b).max()))


def test_a_pooled_first_conv_passes_gradcheck_and_refuses_to_give_dx():
    net = dn.Network([Reshape(8, 8, 1), Conv2D(1, 3, 3), MaxPool2D(2), dn.ReLU(), Flatten(),
                      dn.Dense(48, 10)], seed=1)
    X = np.random.default_rng(0).random((5, 64))
    assert dn.gradcheck(net, X).ok
    net.forward(X, training=True)
    assert net._pooled == {2}                                # conv and pool as one step
    conv = Conv2D(1, 2, 3)  # a blank image: every output is b, all four phases tie ...
    conv.pooled_forward(np.zeros((2, 6, 6, 1)), MaxPool2D(2), training=True)
    assert conv.first.shape == (2 * 3 * 3, 2) and not conv.first.any()  # ... the first wins
    net.layers[1].needs_input_grad = True
    with pytest.raises(TrainingError, match="no dX"):
        net.layers[1].pooled_backward(np.ones((5, 4, 4, 3)))


def test_maxpool_gives_a_tied_maximum_the_gradient_once():
    """Over a blank background a conv layer outputs its bias b everywhere, so every 2x2 block
    ties: the bias's true derivative counts each pooled value once, not four times."""
    X = np.zeros((2, 6, 6, 1))
    X[0, 1, 4, 0] = 1.0                                     # one inked pixel
    conv = Conv2D(1, 3, kernel=3, seed=0)
    conv.astype(np.float64)
    conv.params["b"][:] = [0.5, -0.2, 0.1]
    net = dn.Network([Reshape(6, 6, 1), conv, MaxPool2D(2), Flatten(), dn.Dense(27, 4)], seed=0)
    assert dn.gradcheck(net, X.reshape(2, 36), eps=1e-6).ok
    pool = MaxPool2D(2)
    pool.forward(np.zeros((1, 4, 4, 1)), training=True)
    dX = pool.backward(np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(dX[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                                   [1, 0, 1, 0], [0, 0, 0, 0]])


def test_maxpool_picks_the_block_maximum():
    X = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    A = MaxPool2D(2).forward(X)
    np.testing.assert_array_equal(A[0, :, :, 0], [[5, 7], [13, 15]])


def test_batchnorm_normalizes_in_training_and_uses_running_stats_at_evaluation():
    bn = BatchNorm(3)
    X = np.random.default_rng(0).normal(5, 3, (4096, 3)).astype(np.float32)
    A = bn.forward(X, training=True)
    np.testing.assert_allclose(A.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(A.std(axis=0), 1, atol=1e-3)
    for _ in range(100):
        bn.forward(X, training=True)
    np.testing.assert_allclose(bn.state["running_mean"], X.mean(axis=0), rtol=1e-3)
    np.testing.assert_allclose(bn.forward(X).std(axis=0), 1, atol=1e-2)
    bn.params["gamma"][:], bn.params["beta"][:] = [2, 0.5, -1], [1, 0, 3]
    rm, rv = bn.state["running_mean"], bn.state["running_var"]
    np.testing.assert_allclose(bn.forward(X), (X - rm) / np.sqrt(rv + bn.eps) * bn.params["gamma"]
                               + bn.params["beta"], rtol=1e-5, atol=1e-5)


def test_conv_network_gradcheck_and_model_file_round_trip(tmp_path):
    net = dn.Network([Reshape(8, 8, 1), Conv2D(1, 3, 3), BatchNorm(3), dn.ReLU(), MaxPool2D(2),
                      Flatten(), dn.Dense(48, 10)], seed=1)
    X = np.random.default_rng(0).random((5, 64))
    assert dn.gradcheck(net, X).ok
    dn.train(net, X.astype(np.float32), np.arange(5), epochs=2, batch_size=5, progress=False)
    back = dn.load_model(dn.save_model(net, tmp_path / "cnn.npz"))
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(back.layers[2].state["running_var"],
                                  net.layers[2].state["running_var"])


def test_spec_pools_before_the_activation_and_that_changes_nothing():
    """Max pooling commutes with a monotonic activation: the spec builder puts the ReLU after
    the pool (4x fewer values); outputs and gradients equal those of conv-relu-pool."""
    net = dn.build_network("conv4-pool2-6", seed=1, dtype=np.float64)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Reshape", "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense"]
    conv, dense = net.layers[1], net.layers[5]
    ref = dn.Network([Reshape(28, 28, 1), conv, dn.ReLU(), MaxPool2D(2), Flatten(), dense],
                     dtype=np.float64)
    X, y = images(5, 784), np.arange(5)
    loss_a, Z_a = net.train_step(X, y)
    grads_a = [g.copy() for _, _, g in net.parameters()]
    loss_b, Z_b = ref.train_step(X, y)
    np.testing.assert_allclose(Z_a, Z_b, rtol=1e-12)
    for ga, (_, _, gb) in zip(grads_a, ref.parameters(), strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-14)
