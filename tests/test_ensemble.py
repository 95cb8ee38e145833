"""Ensembles and test-time augmentation: the averaging, the shifted views, the model file, and
the commands that take an ensemble like any model."""

import json
import zipfile

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import ModelFileError, SpecError
from digitnet.limits import MAX_ENSEMBLE
from digitnet.nn.ensemble import TTA_SHIFTS, shift_images, with_views


@pytest.fixture(scope="module")
def members(sample):
    """Three small MLPs trained from different seeds (about 88-90% on the sample's test split)."""
    nets = []
    for seed in range(3):
        net = dn.build_network("784-48-10", seed=seed)
        dn.train(net, sample, epochs=2, seed=seed, progress=False)
        nets.append(net)
    return nets


def test_shift_moves_every_pixel_and_fills_with_background():
    X = np.arange(1, 785, dtype=np.float32).reshape(1, 784)
    img = X.reshape(28, 28)
    down = shift_images(X, 1, 0).reshape(28, 28)
    assert np.array_equal(down[1:], img[:-1]) and not down[0].any()
    left = shift_images(X, 0, -1).reshape(28, 28)
    assert np.array_equal(left[:, :-1], img[:, 1:]) and not left[:, -1].any()
    diag = shift_images(X, -1, 1).reshape(28, 28)
    assert np.array_equal(diag[:-1, 1:], img[1:, :-1])
    assert np.array_equal(shift_images(X, 0, 0), X)


def test_probabilities_are_the_mean_of_the_members(members, sample):
    x = sample.x_test[:300]
    ens = dn.Ensemble(members)
    expected = np.mean([m.predict_proba(x) for m in members], axis=0)
    np.testing.assert_allclose(ens.predict_proba(x), expected, atol=1e-6)
    np.testing.assert_allclose(ens.predict_proba(x).sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(ens.predict(x), expected.argmax(axis=1))


def test_views_are_the_image_and_its_one_pixel_shifts(members, sample):
    x = sample.x_test[:200]
    ens = dn.Ensemble(members[:2], tta=5)
    views = [shift_images(x, dy, dx) for dy, dx in TTA_SHIFTS[5]]
    expected = np.mean([m.predict_proba(v) for m in members[:2] for v in views], axis=0)
    np.testing.assert_allclose(ens.predict_proba(x), expected, atol=1e-6)


def test_the_ensembles_loss_is_at_most_its_members_mean_loss(members, sample):
    # -log of a mean of probabilities <= the mean of the -logs (Jensen): averaging must help
    ens = dn.Ensemble(members)
    loss, acc = ens.evaluate(sample.x_test, sample.y_test)
    member_losses = [m.evaluate(sample.x_test, sample.y_test)[0] for m in members]
    assert loss <= np.mean(member_losses) + 1e-6
    assert acc >= min(m.evaluate(sample.x_test, sample.y_test)[1] for m in members)


@pytest.mark.parametrize("make, message", [
    (lambda m: dn.Ensemble([]), "at least one network"),
    (lambda m: dn.Ensemble([m[0], "model.npz"]), "member 1 of the ensemble is a str"),
    (lambda m: dn.Ensemble([m[0], dn.build_network("784-8-2")]), "must answer the same"),
    (lambda m: dn.Ensemble(m, tta=4), "tta=4"),
    (lambda m: dn.Ensemble([dn.build_network("64-8-10")], tta=5), "28x28"),
])
def test_ensembles_that_cannot_work_are_refused(members, make, message):
    with pytest.raises(SpecError, match=message):
        make(members)


def test_saved_and_loaded_the_same(members, sample, tmp_path):
    ens = dn.Ensemble(members, tta=9)
    path = dn.save_model(ens, tmp_path / "ens.npz", class_names=list("0123456789"))
    back = dn.load_model(path)
    assert isinstance(back, dn.Ensemble) and back.tta == 9 and len(back.members) == 3
    np.testing.assert_array_equal(back.predict_proba(sample.x_test[:100]),
                                  ens.predict_proba(sample.x_test[:100]))
    with zipfile.ZipFile(path) as z:
        header = json.loads(np.load(z.open("header.npy")).tobytes())
        assert header["version"] == 2 and "network" not in header
        assert "param/m2.0.W.npy" in z.namelist()
    single = dn.load_model(dn.save_model(members[0], tmp_path / "one.npz"))
    assert isinstance(single, dn.Network)  # a network's file stays a network's (version 1)


def test_with_views_wraps_a_network_and_leaves_it_alone_for_one_view(members):
    assert with_views(members[0], 1) is members[0]
    wrapped = with_views(members[0], 5)
    assert isinstance(wrapped, dn.Ensemble) and wrapped.members == [members[0]]


def _rewrite(path, out, edit):
    """A copy of model file ``path`` with its header edited by ``edit`` (and arrays kept)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    edit(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda h, a: h["ensemble"].update(tta=4), "ensemble.tta"),
    (lambda h, a: h["ensemble"].update(tta=True), "ensemble.tta"),
    (lambda h, a: h["ensemble"].update(members=[]), "ensemble.members"),
    (lambda h, a: h["ensemble"].update(members=h["ensemble"]["members"] * (MAX_ENSEMBLE + 1)),
     "ensemble.members"),
    (lambda h, a: h.update(ensemble=[1, 2]), "'ensemble'"),
    (lambda h, a: h["ensemble"]["members"][1].update(loss="mse"), r"ensemble.members\[1\].loss"),
    (lambda h, a: a.update({"param/m7.0.W": a["param/m0.0.W"]}), "belongs to no member"),
    (lambda h, a: a.pop("param/m1.2.b"), "do not match"),
    (lambda h, a: a.update({"param/m1.0.W": a["param/m1.0.W"][:10]}), "shape"),
])
def test_a_damaged_ensemble_file_is_one_clear_error(members, tmp_path, edit, message):
    good = dn.save_model(dn.Ensemble(members[:2], tta=5), tmp_path / "good.npz")
    bad = _rewrite(good, tmp_path / "bad.npz", edit)
    with pytest.raises(ModelFileError, match=message):
        dn.load_model(bad)


def test_train_an_ensemble_and_use_it_everywhere(tmp_path, capsys, sample):
    out = tmp_path / "ens.npz"
    assert main(["train", "--model", "784-32-10", "--epochs", "1", "--ensemble", "2",
                 "--tta", "5", "--out", str(out), "--json", "-q"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["ensemble"] == 2 and result["tta"] == 5
    assert [m["seed"] for m in result["members"]] == [0, 1]
    assert all(0.5 < m["test_accuracy"] < 1 for m in result["members"])
    model = dn.load_model(out)
    assert isinstance(model, dn.Ensemble) and model.tta == 5
    assert result["test_accuracy"] == pytest.approx(model.evaluate(sample.x_test,
                                                                   sample.y_test)[1])
    assert main(["evaluate", str(out), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["accuracy"] == pytest.approx(
        result["test_accuracy"])
    assert main(["evaluate", str(out), "--tta", "1", "--json"]) == 0
    one_view = last_json(capsys.readouterr().out)["accuracy"]
    assert one_view == pytest.approx(dn.Ensemble(model.members).evaluate(
        sample.x_test, sample.y_test)[1])
    assert main(["predict", str(out), "--json"]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert "2 networks averaged" in (tmp_path / "report" / "report.html").read_text()
    capsys.readouterr()
    assert main(["doctor", "--model", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ensemble of 2 networks" in err


def test_join_saved_models_into_an_ensemble(members, tmp_path, capsys, sample):
    a = dn.save_model(members[0], tmp_path / "a.npz")
    b = dn.save_model(dn.Ensemble(members[1:]), tmp_path / "b.npz")
    out = tmp_path / "joined.npz"
    assert main(["ensemble", str(a), str(b), "--out", str(out), "--tta", "5", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["networks"] == 3
    joined = dn.load_model(out)
    np.testing.assert_allclose(joined.predict_proba(sample.x_test[:50]),
                               dn.Ensemble(members, tta=5).predict_proba(sample.x_test[:50]),
                               atol=1e-6)
    binary = dn.save_model(dn.build_network("784-8-1"), tmp_path / "bin.npz")
    assert main(["ensemble", str(a), str(binary), "--out", str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitnet: error:") and err.count("\n") == 0
    assert not (tmp_path / "x.npz").exists()


def test_the_page_answers_with_an_ensemble(members, sample):
    from digitnet.web.app import create_app

    client = create_app(dn.Ensemble(members, tta=5), name="ens.npz").test_client()
    x = sample.x_test[0]
    r = client.post("/api/predict", json={"pixels": x.reshape(28, 28).tolist()})
    assert r.status_code == 200
    assert r.get_json()["digit"] == int(dn.Ensemble(members, tta=5).predict(x[None])[0])


def test_each_networks_temperature_is_kept_in_the_ensembles_file(members, sample, tmp_path,
                                                                 capsys):
    nets = [dn.load_model(dn.save_model(m, tmp_path / f"m{i}.npz"))
            for i, m in enumerate(members[:2])]
    dn.calibrate(nets[0], sample.x_val, sample.y_val)
    nets[1].meta.pop("calibration", None)  # (dn.train calibrated it: now it is not)
    ens = dn.Ensemble(nets)
    assert "calibration" not in ens.meta  # the networks' own, not the ensemble's
    back = dn.load_model(dn.save_model(ens, tmp_path / "e.npz"))
    assert back.members[0].temperature == nets[0].temperature != 1
    assert back.members[1].temperature == 1
    np.testing.assert_allclose(back.predict_proba(sample.x_test[:100]),
                               ens.predict_proba(sample.x_test[:100]), atol=1e-7)
    raw = back.predict_proba(sample.x_test[:100], calibrated=False)
    expected = np.mean([m.probabilities(m.logits(sample.x_test[:100]), temperature=1.0)
                        for m in nets], axis=0)
    np.testing.assert_allclose(raw, expected, atol=1e-6)
    assert main(["evaluate", str(tmp_path / "e.npz"), "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["temperature"] == [nets[0].temperature, 1.0]
    assert result["accuracy"] == pytest.approx(back.evaluate(sample.x_test, sample.y_test)[1])
    assert main(["calibrate", str(tmp_path / "e.npz")]) == 1
    assert "calibrate the networks before joining" in capsys.readouterr().err
