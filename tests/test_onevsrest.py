"""One-vs-rest ("is it a 7?"), per-class accuracy and class names: the API the CLI uses."""

import numpy as np
import pytest

import digitnet as dn


def test_one_vs_rest_relabels_every_split(sample):
    ds = dn.one_vs_rest(sample, 7)
    assert ds.class_names == ["not 7", "7"]
    for y, y7 in ((sample.y_train, ds.y_train), (sample.y_val, ds.y_val),
                  (sample.y_test, ds.y_test)):
        np.testing.assert_array_equal(y7, (y == 7) * 1)
    assert ds.x_train is sample.x_train and sample.class_names[7] == "7"  # the original stays


def test_one_vs_rest_needs_a_class_of_the_data(sample):
    with pytest.raises(dn.DigitnetError, match=r"class 0\.\.9 of sample, got 10"):
        dn.one_vs_rest(sample, 10)


@pytest.mark.parametrize("spec, binary", [
    ("784-64-10", "784-64-1"), ("mlp", "784-512-256-1"), ("CNN", "conv32-pool2-conv64-bn-pool2-"
                                                                 "256-drop0.15-1"),
    ("conv8-pool2-10", "conv8-pool2-1"),
])
def test_one_vs_rest_spec_has_one_sigmoid_output(spec, binary):
    assert dn.one_vs_rest_spec(spec) == binary
    net = dn.build_network(binary)
    assert net.n_outputs == 1 and net.n_classes == 2


def test_labels_for_a_model_follow_its_binary_target():
    net, y = dn.build_network("784-4-1"), np.array([7, 1, 7, 3])
    assert dn.labels_for(net, y) is y and dn.labels_for(net, None) is None
    net.meta["binary_target"] = 7
    np.testing.assert_array_equal(dn.labels_for(net, y), [1, 0, 1, 0])


def test_per_class_accuracy_is_nan_for_a_class_without_images():
    acc = dn.per_class_accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], n_classes=3)
    np.testing.assert_allclose(acc, [0.5, 2 / 3, np.nan])
    np.testing.assert_allclose(dn.per_class_accuracy([2, 0], [2, 1]), [0, np.nan, 1])


def test_class_names_from_the_model_file_or_numbers(tmp_path):
    net = dn.build_network("784-4-10")
    assert net.class_names == [str(i) for i in range(10)]
    assert dn.build_network("784-4-1").class_names == ["0", "1"]
    dn.save_model(net, tmp_path / "m.npz", class_names=list("abcdefghij"))
    assert dn.load_model(tmp_path / "m.npz").class_names == list("abcdefghij")
