"""Arrays in the course notebooks' layout (one image per column, one-hot label columns) get a
message that says what to change, from predict, evaluate and train alike."""

import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import SpecError


@pytest.fixture(scope="module")
def net():
    return dn.build_network("784-16-10")


@pytest.fixture(scope="module")
def data(sample):
    return sample.x_train[:300], sample.y_train[:300]


def test_images_as_columns_say_transpose(net, data):
    x, y = data
    for call in (lambda: net.predict(x.T), lambda: net.evaluate(x.T, y),
                 lambda: dn.train(net, x.T, y, epochs=1, progress=False)):
        with pytest.raises(SpecError, match=r"shape \(784, 300\): one image per column, as in the "
                                            r"notebooks.*\(m, 784\): pass X.T"):
            call()


def test_one_image_says_reshape(net, data):
    with pytest.raises(SpecError, match=r"784 values per image.*\(one image\? pass "
                                        r"X.reshape\(1, -1\)\)"):
        net.predict(data[0][0])


@pytest.mark.parametrize("make, fix", [
    (lambda y: np.eye(10)[y].T, r"one-hot columns, as in the notebooks.*Y.argmax\(axis=0\)"),
    (lambda y: np.eye(10)[y], r"rows of 10 values \(one-hot.*y.argmax\(axis=1\)"),
    (lambda y: y.reshape(-1, 1), r"shape \(300, 1\).*y.reshape\(-1\)"),
    (lambda y: y.reshape(1, -1), r"shape \(1, 300\).*y.reshape\(-1\)"),
    (lambda y: y + 1, r"1..10 \(one-based.*y - 1"),
    (lambda y: y[:-1], r"300 images but 299 labels"),
])
def test_labels_that_are_not_class_numbers_say_how_to_fix_them(net, data, make, fix):
    x, y = data
    with pytest.raises(SpecError, match=fix):
        dn.train(net, x, make(y), epochs=1, progress=False)
    with pytest.raises(SpecError, match="validation set: .*" + fix):
        dn.train(net, x, y, x_val=x, y_val=make(y), epochs=1, progress=False)
    with pytest.raises(SpecError, match=fix):
        net.evaluate(x, make(y))


def test_float_labels_that_are_whole_numbers_still_train(data):
    x, y = data
    net = dn.build_network("784-16-10")
    dn.train(net, x, y.astype(np.float64), epochs=1, progress=False)
