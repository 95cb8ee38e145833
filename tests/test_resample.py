"""Deskew (nn/resample.py): the batch version gives the textbook one's numbers (nn/reference.py)
and SciPy's affine_transform's; deskewed digits stand upright and centred; odd images (blank,
one line, a dot, negative values) come through unharmed; the `deskew` spec token; model files."""

import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import SpecError, TrainingError
from digitnet.nn.reference import deskew_image
from digitnet.nn.resample import MAX_SKEW, Deskew, skew_positions


def moments(X):
    """(slant a, centre row, centre column) of each image of X (N, 784), in float64."""
    rows, cols = np.indices((28, 28)).reshape(2, 784).astype(np.float64)
    ink = np.maximum(X, 0).astype(np.float64)
    m = ink.sum(axis=1)
    cy, cx = ink @ rows / m, ink @ cols / m
    vy = ink @ rows**2 / m - cy**2
    return (ink @ (rows * cols) / m - cy * cx) / vy, cy, cx


def deskew(X):
    return Deskew().forward(X.reshape(-1, 28, 28, 1)).reshape(len(X), -1)


def odd_images():
    blank = np.zeros((28, 28), np.float32)
    line, dot, steep = blank.copy(), blank.copy(), blank.copy()
    line[9, 3:20] = 1                      # all ink in one row: no slant to measure
    dot[0, 27] = 1                         # a lone dot in a corner
    steep[np.arange(28), np.arange(28) * 3 // 4] = 1  # slant 0.75
    column = blank.copy()
    column[2:26, 5] = 1
    return np.stack([blank, line, dot, steep, column]).reshape(5, 784)


def test_the_batch_gives_the_textbook_numbers(sample):
    X = np.concatenate([sample.x_test[:12], odd_images(), sample.x_test[12:15] - 0.2])
    fast = deskew(X.astype(np.float64))
    for image, out in zip(X, fast, strict=True):
        np.testing.assert_allclose(out, deskew_image(image.reshape(28, 28)).ravel(), atol=1e-9)


def test_scipys_affine_transform_agrees(sample):
    """The same shear and shift written as SciPy's matrix and offset (input = A out + offset),
    'grid-constant' reading 0 outside the image as digitnet does."""
    ndimage = pytest.importorskip("scipy.ndimage")
    X = sample.x_test[:30].astype(np.float64)
    a, cy, cx = moments(X)
    for image, out, ai, c in zip(X, deskew(X), a, zip(cy, cx, strict=True), strict=True):
        A = np.array([[1, 0], [np.clip(ai, -MAX_SKEW, MAX_SKEW), 1]])
        ref = ndimage.affine_transform(image.reshape(28, 28), A, offset=c - A @ [13.5, 13.5],
                                       order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(out, ref.ravel(), atol=1e-9)


def test_digits_come_out_upright_and_centred_with_their_ink(sample):
    X = sample.x_train[:1000]
    a0, _, _ = moments(X)
    D = deskew(X)
    assert D.dtype == np.float32 and D.shape == X.shape
    a1, cy, cx = moments(D)
    assert np.abs(a0).mean() > 0.15            # MNIST digits slant (0.24 on average)
    assert np.abs(a1).mean() < 0.01 and np.abs(a1).max() < 0.1
    off = np.maximum(np.abs(cy - 13.5), np.abs(cx - 13.5))
    assert np.quantile(off, 0.99) < 0.02       # centred (a tall digit moved down may lose a
    assert off.max() < 0.2                     # sliver off the edge: 1 of 1000 here)
    kept = D.sum(axis=1) / X.sum(axis=1)
    assert np.quantile(kept, 0.99) > 0.99 and kept.min() > 0.9  # bilinear keeps the ink


def test_a_moved_or_sheared_digit_comes_out_the_same(sample):
    """Deskew undoes a shift and a shear of the ink (as long as nothing leaves the image)."""
    x = sample.x_test[3].reshape(28, 28)
    moved = np.roll(x, (2, -1), axis=(0, 1))
    assert x[-2:].sum() == 0 and x[:, :1].sum() == 0  # nothing wrapped around
    D = deskew(np.stack([x, moved]).reshape(2, 784))
    np.testing.assert_allclose(D[0], D[1], atol=1e-5)


def test_odd_images_come_through_unharmed():
    X = odd_images()
    D = deskew(X)
    assert np.isfinite(D).all()
    assert not D[0].any()                                    # blank stays blank
    qy, qx = skew_positions(X, 28, 28)
    assert np.allclose(qx[1] - np.arange(784) % 28, qx[1, 0])  # one row of ink: no shear
    assert D[2].sum() == pytest.approx(1)                      # the dot moves to the centre
    assert D[2].reshape(28, 28)[13:15, 13:15].sum() == pytest.approx(1)
    slant = moments(D[3:4])[0][0]
    assert abs(slant) < 0.05                                  # 0.75 sheared away
    shear = qx[4].reshape(28, 28)[:, 0]
    assert np.allclose(np.diff(shear), 0)                     # an upright stroke stays upright
    flat = np.zeros((28, 28), np.float32)
    flat[np.arange(10, 18), 2 + 3 * np.arange(8)] = 1           # 3 columns per row
    qy, qx = skew_positions(flat.reshape(1, 784), 28, 28)
    assert np.allclose(np.diff(qx[0].reshape(28, 28)[:, 0]), MAX_SKEW)  # the cap holds


def test_the_deskew_token_builds_a_network_that_trains_and_saves(sample, tmp_path):
    net = dn.build_network("deskew-conv4-pool2-16-10", seed=1)
    assert isinstance(net.layers[1], Deskew)
    tiny = dn.load_dataset("sample", train_size=256, val_size=0, test_size=0, seed=0)
    dn.train(net, tiny, epochs=1, batch_size=64, progress=False)
    dn.save_model(net, tmp_path / "m.npz")
    again = dn.load_model(tmp_path / "m.npz")
    assert isinstance(again.layers[1], Deskew)
    X = sample.x_test[:40]
    np.testing.assert_array_equal(again.predict_proba(X), net.predict_proba(X))


@pytest.mark.parametrize("spec, message", [
    ("conv4-deskew-10", "must come first"),
    ("28x28x3-deskew-conv4-10", "one-channel"),
])
def test_the_deskew_token_in_the_wrong_place_is_a_clear_error(spec, message):
    with pytest.raises(SpecError, match=message):
        dn.build_network(spec)


def test_no_gradient_is_passed_back_through_deskew():
    """First in a network, Deskew is never asked for one; a layer set to pass one is told why."""
    layer = Deskew()
    layer.needs_input_grad = True
    with pytest.raises(TrainingError, match="before every layer with parameters"):
        layer.backward(np.ones((1, 28, 28, 1), np.float32))
    with pytest.raises(SpecError, match="one-channel"):
        layer.forward(np.ones((1, 28, 28, 2), np.float32))
