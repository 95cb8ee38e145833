"""Honest confidence: temperature scaling (fitted, saved, applied) and the expected calibration
error with its reliability bins, in the API, `digitnet evaluate`, `digitnet calibrate`."""

import json
import math

import numpy as np
import pytest

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import SpecError
from digitnet.nn.calibration import (
    MIN_CALIBRATION_IMAGES,
    TEMPERATURE_BOUNDS,
    apply_temperature,
    fit_temperature,
    temperature_nll,
)


def sampled(T_true, n=4000, c=10, seed=0):
    """Scores Z and labels drawn from softmax(Z / T_true): the right temperature is T_true."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=3.0, size=(n, c)).astype(np.float32)
    P = apply_temperature(Z, T_true).astype(np.float64)
    u = rng.random(n)[:, None]
    y = np.minimum((P.cumsum(axis=1) < u).sum(axis=1), c - 1)
    return Z, y


@pytest.mark.parametrize("T_true", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_labels_were_drawn_with(T_true):
    Z, y = sampled(T_true)
    T = fit_temperature(Z, y)
    assert abs(math.log(T / T_true)) < 0.08, T
    grid = np.exp(np.linspace(np.log(0.1), np.log(10), 400))  # and it is the minimum
    assert temperature_nll(Z, y, T) <= min(temperature_nll(Z, y, t) for t in grid) + 1e-6


def test_a_perfectly_separated_set_drives_the_temperature_to_its_lower_bound():
    Z = np.eye(10, dtype=np.float32)[np.arange(200) % 10] * 5
    T = fit_temperature(Z, np.arange(200) % 10)
    assert T == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)


def test_apply_temperature_keeps_the_answer_and_the_sigmoid_form():
    Z = np.random.default_rng(1).normal(size=(50, 10)).astype(np.float32)
    for T in (0.3, 1.0, 4.0):
        P = apply_temperature(Z, T)
        np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
        np.testing.assert_array_equal(P.argmax(axis=1), Z.argmax(axis=1))
    assert apply_temperature(Z, 4.0).max() < apply_temperature(Z, 1.0).max()  # softer
    z = np.array([[-3.0], [0.5], [8.0]])  # one sigmoid output: [1 - s(z/T), s(z/T)]
    s = 1 / (1 + np.exp(-z[:, 0] / 2))
    np.testing.assert_allclose(apply_temperature(z, 2.0), np.stack([1 - s, s], 1), rtol=1e-12)


def test_fit_temperature_refuses_labels_that_are_not_classes():
    with pytest.raises(SpecError, match="class numbers"):
        fit_temperature(np.zeros((3, 10)), np.array([0, 1, 10]))


# --- ECE and the reliability bins ----------------------------------------------------------------
def test_reliability_by_hand():
    # confidences 0.95, 0.95 (one right), 0.5 (right), 0.5 (wrong): 15 bins of width 1/15
    P = np.array([[0.95, 0.05], [0.95, 0.05], [0.5, 0.5], [0.5, 0.5]])
    y = np.array([0, 1, 0, 1])
    r = dn.reliability(P, y)
    assert r["n_bins"] == 15 and len(r["bins"]) == 15 and r["n"] == 4
    assert sum(b["count"] for b in r["bins"]) == 4
    high, mid = r["bins"][14], r["bins"][7]  # 0.95 in (14/15, 1]; 0.5 in (7/15, 8/15]
    assert (high["count"], high["accuracy"], high["confidence"]) == (2, 0.5, 0.95)
    assert (mid["count"], mid["accuracy"], mid["confidence"]) == (2, 0.5, 0.5)
    assert r["ece"] == pytest.approx(2 / 4 * 0.45 + 2 / 4 * 0.0)
    assert r["bins"][0]["count"] == 0 and r["bins"][0]["accuracy"] is None
    json.dumps(r)  # plain numbers


def test_bin_edges_are_upper_inclusive():
    P = np.array([[1 / 15 * 8, 1 - 1 / 15 * 8], [1.0, 0.0]])
    bins = dn.reliability(P, np.array([0, 0]))["bins"]
    assert bins[7]["count"] == 1 and bins[14]["count"] == 1


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large_one():
    Z, y = sampled(1.0, n=20000)
    assert dn.reliability(apply_temperature(Z, 1.0), y)["ece"] < 0.015
    assert dn.reliability(apply_temperature(Z, 0.3), y)["ece"] > 0.1


# --- networks ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(sample):
    """A small MLP trained (and so calibrated) on the sample, with its validation split."""
    net = dn.build_network("784-32-10")
    dn.train(net, sample.x_train[:3000], sample.y_train[:3000], x_val=sample.x_val,
             y_val=sample.y_val, epochs=3, progress=False)
    return net


def test_train_fits_the_temperature_on_the_validation_split(trained, sample):
    c = trained.meta["calibration"]
    assert c["fitted_on"] == "validation" and c["n"] == len(sample.y_val)
    assert trained.temperature == c["temperature"] != 1
    assert c["nll_after"] <= c["nll_before"]
    assert c["nll_after"] == pytest.approx(trained.evaluate(sample.x_val, sample.y_val)[0],
                                           rel=1e-4)


def test_predict_proba_applies_the_temperature_and_keeps_the_answers(trained, sample):
    x = sample.x_test[:300]
    Z = trained.logits(x)
    P = trained.predict_proba(x)
    np.testing.assert_allclose(P, apply_temperature(Z, trained.temperature), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_array_equal(trained.predict(x), Z.argmax(axis=1))
    assert not np.allclose(P, trained.probabilities(Z, temperature=1.0))


def test_the_temperature_is_saved_and_loaded(trained, tmp_path):
    back = dn.load_model(dn.save_model(trained, tmp_path / "m.npz"))
    assert back.meta["calibration"] == trained.meta["calibration"]
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    np.testing.assert_allclose(back.predict_proba(x), trained.predict_proba(x), rtol=1e-6)


def test_training_again_drops_the_old_temperature(sample):
    net = dn.build_network("784-16-10")
    net.meta["calibration"] = {"temperature": 3.0}
    few = MIN_CALIBRATION_IMAGES - 1  # too few validation images to fit a new one
    dn.train(net, sample.x_train[:500], sample.y_train[:500], x_val=sample.x_val[:few],
             y_val=sample.y_val[:few], epochs=1, progress=False)
    assert "calibration" not in net.meta and net.temperature == 1.0
    dn.train(net, sample.x_train[:500], sample.y_train[:500], x_val=sample.x_val,
             y_val=sample.y_val, epochs=1, progress=False, calibrate=False)
    assert "calibration" not in net.meta


def test_calibrate_needs_enough_images(trained, sample):
    with pytest.raises(SpecError, match=f"at least {MIN_CALIBRATION_IMAGES}"):
        dn.calibrate(trained, sample.x_val[:10], sample.y_val[:10])


def test_a_sigmoid_network_is_calibrated_too(sample):
    ds = dn.one_vs_rest(sample, 7)
    net = dn.build_network("784-16-1")
    dn.train(net, ds, epochs=1, progress=False)
    T = net.temperature
    assert T != 1 and net.meta["calibration"]["nll_after"] <= \
        net.meta["calibration"]["nll_before"]
    z = net.logits(ds.x_test[:50])[:, 0]
    p = 1 / (1 + np.exp(-z.astype(np.float64) / T))
    np.testing.assert_allclose(net.predict_proba(ds.x_test[:50])[:, 1], p, rtol=1e-4)


# --- the command line ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """`digitnet train` on part of the sample: 1,800 train, 200 validation images."""
    path = tmp_path_factory.mktemp("cal") / "m.npz"
    assert main(["train", "--model", "784-32-10", "--train-size", "2000", "--epochs", "3",
                 "-q", "--out", str(path)]) == 0
    return path


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_saves_the_temperature_and_reports_the_test_ece(model_file, capsys):
    net = dn.load_model(model_file)
    c = net.meta["calibration"]
    assert c["n"] == 200 and c["fitted_on"] == "validation"
    assert 0 <= net.meta["result"]["test_ece"] < 1


def test_evaluate_json_has_the_ece_and_the_bins(model_file, capsys):
    assert main(["evaluate", str(model_file), "--test-size", "500", "--json"]) == 0
    r = last_json(capsys)
    net = dn.load_model(model_file)
    assert r["temperature"] == net.temperature
    bins = r["reliability_bins"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == r["n_test"] == 500
    ds = dn.load_dataset("sample", test_size=500)
    P = net.predict_proba(ds.x_test)
    assert r["ece"] == pytest.approx(dn.reliability(P, ds.y_test)["ece"])
    right = sum(b["count"] * b["accuracy"] for b in bins if b["count"])
    assert right == pytest.approx(500 - r["errors"])
    assert r["loss"] == pytest.approx(net.evaluate(ds.x_test, ds.y_test)[0], rel=1e-5)


def test_calibrate_refits_on_the_models_own_validation_split(model_file, tmp_path, capsys):
    out = tmp_path / "again.npz"
    assert main(["calibrate", str(model_file), "--out", str(out), "--json"]) == 0
    r = last_json(capsys)
    before = dn.load_model(model_file).meta["calibration"]
    # the same 200 images training held out: the same scores, so the same fit
    assert r["n"] == 200 and r["fitted_on"] == "validation"
    assert r["nll_before"] == pytest.approx(before["nll_before"], rel=1e-6)
    assert r["temperature"] == pytest.approx(before["temperature"], rel=1e-3)
    assert dn.load_model(out).meta["calibration"]["temperature"] == r["temperature"]


def test_calibrate_on_the_test_split_says_so(model_file, tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert main(["calibrate", str(model_file), "--split", "test", "--test-size", "400",
                 "--out", str(out)]) == 0
    assert "measure it on other images" in capsys.readouterr().out
    c = dn.load_model(out).meta["calibration"]
    assert c["fitted_on"] == "test" and c["n"] == 400


def test_calibrate_with_too_few_images_is_a_one_line_error(model_file, tmp_path, capsys):
    out = tmp_path / "no.npz"
    assert main(["calibrate", str(model_file), "--val-size", "20", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and err.count("\n") == 1 and "at least" in err
    assert not out.exists()
