"""The doctor: each diagnosis is triggered by a deliberately broken setup, and a healthy network
gives no findings."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.doctor import FINDINGS, Thresholds, diagnose

DEEP = "784-64-64-64-64-64-10"  # 5 hidden layers


def doctor(net, sample, x=None, y=None, **kw):
    x = sample.x_train if x is None else x
    y = sample.y_train if y is None else y
    kw.setdefault("steps", 200)
    return diagnose(net, x, y, x_val=sample.x_val, y_val=sample.y_val, **kw)


def check_format(d):
    for f in d.as_dict()["findings"]:
        assert set(f) == {"id", "message", "evidence"}
        assert f["id"] in FINDINGS
        assert len(f["message"]) > 40 and f["evidence"]
        json.dumps(f, allow_nan=False)  # plain JSON, NaN written as a string


@pytest.mark.slow
def test_the_default_network_is_healthy(sample):
    net = dn.build_network("mlp")
    before = net.get_weights()
    d = doctor(net, sample, steps=300)
    assert d.findings == [], str(d)
    assert d.ok and d.as_dict() == {"findings": []}
    assert "no findings" in str(d)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights(), strict=True))
    assert [a["layer"] for a in d.activations] == ["1 ReLU", "4 ReLU"]
    assert [g["param"] for g in d.gradients] == ["0.W", "3.W", "6.W"]


@pytest.mark.parametrize("spec, options", [
    ("784-32-10", {"optimizer": "adam", "lr": 1e-3}),
    ("784-64-64-10", {"activation": "tanh"}),
    (DEEP, {"optimizer": "sgd", "lr": 0.1}),  # deep, but with He initialization
])
def test_other_healthy_networks_are_silent(sample, spec, options):
    net = dn.build_network(spec, activation=options.pop("activation", "relu"))
    d = doctor(net, sample, **options)
    assert d.findings == [], str(d)


def test_small_init_in_a_deep_network_collapses_onto_one_class(sample):
    d = doctor(dn.build_network(DEEP, init="small"), sample, optimizer="sgd", lr=0.1)
    check_format(d)
    assert d.ids == ["not_learning", "collapsed_predictions", "vanishing_activations",
                     "vanishing_gradients"], str(d)
    collapse = d.findings[1]
    assert collapse.evidence["predicted_share"] > 0.9
    assert "--init he" in collapse.message
    vanishing = d.findings[2].evidence["rms_ratio_by_layer"]
    ratios = list(vanishing.values())
    assert min(ratios) < 1e-2 < ratios[0] / 10  # shrinks layer after layer
    assert "other findings" in d.findings[0].message


def test_a_huge_learning_rate_diverges(sample):
    d = doctor(dn.build_network("784-64-10"), sample, lr=10)
    check_format(d)
    assert d.ids == ["diverging"], str(d)
    assert "--lr 1" in d.findings[0].message
    assert d.findings[0].evidence["lr"] == 10


def test_nan_loss_is_diverging_and_too_large_weights_explode(sample):
    net = dn.build_network(DEEP)
    for name, p, _ in net.parameters():
        if name.endswith(".W"):
            p *= 4  # He x 4: each layer multiplies the signal by ~4
    d = doctor(net, sample)
    check_format(d)
    assert d.ids == ["diverging", "exploding_activations", "exploding_gradients"], str(d)
    assert "before training" in d.measured
    assert d.findings[1].evidence["rms_ratio_by_layer"]["9 ReLU"] > 100


def test_a_tiny_learning_rate_is_not_learning(sample):
    d = doctor(dn.build_network("784-64-10"), sample, optimizer="sgd", lr=1e-5)
    assert d.ids == ["not_learning"], str(d)
    assert "--lr 0.0001" in d.findings[0].message


def test_dead_relu_units(sample):
    net = dn.build_network("784-64-10")
    net.layers[0].params["b"][:48] = -20.0  # 48 of 64 units never fire
    d = doctor(net, sample, steps=0)
    assert d.ids == ["dead_relu"], str(d)
    assert d.findings[0].evidence["dead_share_by_layer"] == {"1 ReLU": 0.75}


def test_unscaled_input(sample):
    d = doctor(dn.build_network("784-64-10"), sample, x=sample.x_train * 255)
    check_format(d)
    assert d.ids[0] == "unscaled_input" and "diverging" in d.ids, str(d)
    assert "divide the images by 255" in d.findings[0].message
    assert d.findings[0].evidence["max"] == 255


@pytest.mark.parametrize("labels, hint", [
    (lambda y: y + 1, "subtract 1"),
    (lambda y: np.eye(10)[y], "argmax"),
    (lambda y: y * 2, "0..9"),
])
def test_labels_that_are_not_0_to_9(sample, labels, hint):
    d = doctor(dn.build_network("784-16-10"), sample, y=labels(sample.y_train[:500]),
               x=sample.x_train[:500])
    check_format(d)
    assert d.ids == ["bad_labels"], str(d)
    assert hint in d.findings[0].message


class AxisZeroSoftmax(dn.SoftmaxCrossEntropy):
    """A learner's softmax that normalizes over the batch (axis=0) instead of the classes."""

    @staticmethod
    def probabilities(Z):
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)


def test_softmax_over_the_wrong_axis(sample):
    net = dn.build_network("784-32-10")
    net.loss = AxisZeroSoftmax()
    d = doctor(net, sample, steps=50)
    check_format(d)
    assert d.ids == ["bad_softmax"], str(d)
    assert "wrong axis" in d.findings[0].message
    assert abs(d.findings[0].evidence["column_sum_max"] - 1) < 1e-3


def test_a_saved_model_is_inspected_with_its_history(sample, tmp_path):
    net = dn.build_network("784-32-10")
    hist = dn.train(net, sample.x_train[:2000], sample.y_train[:2000], epochs=2, progress=False)
    assert doctor(net, sample, steps=0).findings == []
    hist.stop_reason = "diverged"
    dn.save_model(net, tmp_path / "m.npz", metadata={"history": hist.as_dict()})
    d = doctor(dn.load_model(tmp_path / "m.npz"), sample, steps=0)
    assert d.ids == ["diverging"] and d.measured == "on the network as it is"


def test_thresholds_can_be_changed(sample):
    net = dn.build_network("784-64-10")
    net.layers[0].params["b"][:20] = -20.0  # 31% dead: below the default threshold
    assert doctor(net, sample, steps=0).findings == []
    d = doctor(net, sample, steps=0, thresholds=Thresholds(dead_relu_share=0.25))
    assert d.ids == ["dead_relu"]


def test_cli_json_healthy_and_broken(capsys):
    code = main(["doctor", "--model", "784-32-10", "--train-size", "3000", "--steps", "150",
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0 and last_json(out) == {"findings": []}
    code = main(["doctor", "--model", DEEP, "--init", "small", "--optimizer", "sgd",
                 "--train-size", "3000", "--steps", "150", "--json"])
    result = last_json(capsys.readouterr().out)
    assert code == 1
    assert "collapsed_predictions" in [f["id"] for f in result["findings"]]


def test_cli_text_and_model_file(capsys, tmp_path):
    net = dn.build_network("784-32-10")
    dn.train(net, dn.load_dataset("sample", train_size=2000), epochs=1, progress=False)
    dn.save_model(net, tmp_path / "m.npz")
    code = main(["doctor", "--model", str(tmp_path / "m.npz"), "--test-size", "500"])
    out = capsys.readouterr().out
    assert code == 0
    assert "inspecting" in out and "no findings" in out and "RMS/input" in out


def test_cli_errors_are_one_line(capsys):
    assert main(["doctor", "--model", str(Path("missing.npz"))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and err.count("\n") == 1


def test_every_finding_id_is_documented_in_the_readme():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", readme))
    assert set(FINDINGS) <= documented, set(FINDINGS) - documented
