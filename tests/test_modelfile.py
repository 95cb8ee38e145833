import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import ModelFileError


@pytest.fixture
def trained(sample):
    net = dn.build_network("784-32-16-10", dropout=0.1)
    dn.train(net, sample.x_train[:500], sample.y_train[:500], epochs=1, progress=False)
    return net


def test_round_trip_gives_identical_predictions(tmp_path, trained, sample):
    path = dn.save_model(trained, tmp_path / "m.npz", metadata={"note": "hello"})
    back = dn.load_model(path)
    np.testing.assert_array_equal(back.predict_proba(sample.x_test),
                                  trained.predict_proba(sample.x_test))
    assert back.meta["note"] == "hello"
    assert back.meta["class_names"] == [str(i) for i in range(10)]
    assert back.config() == trained.config()


def test_float64_model_round_trip(tmp_path):
    net = dn.build_network("20-5-3", dtype=np.float64)
    back = dn.load_model(dn.save_model(net, tmp_path / "m.npz"))
    assert back.dtype == np.float64


def test_file_holds_no_pickle(tmp_path, trained):
    path = dn.save_model(trained, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "foreign_npz", "missing"])
def test_bad_files_give_a_clear_error(tmp_path, trained, damage):
    path = tmp_path / "m.npz"
    dn.save_model(trained, path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(range(256)) * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign_npz":
        np.savez(path.open("wb"), a=np.arange(3))
    else:
        path.unlink()
    with pytest.raises(ModelFileError, match="digitnet model|no model file"):
        dn.load_model(path)


def test_weights_not_matching_architecture(tmp_path, trained):
    path = tmp_path / "m.npz"
    dn.save_model(trained, path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param/0.W"] = arrays["param/0.W"][:10]
    np.savez(path.open("wb"), **arrays)
    with pytest.raises(ModelFileError, match="damaged.*0.W"):
        dn.load_model(path)


def test_failed_save_keeps_the_existing_model(tmp_path, trained, monkeypatch):
    path = tmp_path / "m.npz"
    dn.save_model(trained, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(ModelFileError, match="No space left"):
        dn.save_model(trained, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind
