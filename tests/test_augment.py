import numpy as np
import pytest

import digitnet as dn
from digitnet.augment import Augment


def test_zero_ranges_give_the_images_back(sample):
    x = sample.x_train[:16]
    np.testing.assert_allclose(Augment(0, 0, 0)(x, np.random.default_rng(0)), x, atol=1e-6)


def test_augmentation_is_seeded_and_different_per_image(sample):
    x = np.repeat(sample.x_train[:1], 8, axis=0)
    a = Augment()(x, np.random.default_rng(3))
    b = Augment()(x, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert len({row.tobytes() for row in a}) == 8  # each copy got its own transform


def test_a_pure_shift_moves_the_digit():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10:14, 12:15] = 1
    aug = Augment(rotate=0, scale=0, shift=3)
    out = aug(img.reshape(1, -1), np.random.default_rng(0)).reshape(28, 28)
    rows, cols = np.nonzero(out > 0.5)
    # the ink moved but kept its size (bilinear: whole-pixel shifts are exact up to blur)
    assert abs(out.sum() - img.sum()) < 0.5
    assert (rows.mean(), cols.mean()) != (11.5, 13.0)


def test_training_with_augmentation_still_learns(sample):
    net = dn.build_network("784-64-10")
    dn.train(net, sample.x_train[:3000], sample.y_train[:3000], epochs=3, augment=Augment(),
             progress=False)
    assert net.evaluate(sample.x_test, sample.y_test)[1] > 0.7  # chance: 0.1


def test_augment_true_is_the_default_augmentation(sample):
    x, y = sample.x_train[:512], sample.y_train[:512]
    runs = []
    for augment in (True, Augment(), None, False):
        net = dn.build_network("784-16-10")
        dn.train(net, x, y, epochs=1, augment=augment, progress=False)
        runs.append(net.get_weights()[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[2], runs[3])
    assert not np.array_equal(runs[0], runs[2])


def test_an_elastic_warp_is_smooth_bounded_and_off_by_default(sample):
    from digitnet.augment import _warp
    draws = Augment(elastic=2.0).draw(64, np.random.default_rng(0))
    field = _warp(draws["D"], 28, 28).reshape(-1, 28, 28)
    assert np.abs(field).max() <= 2.0 and np.abs(field).max() > 1.0
    # smooth: control points 9 pixels apart, so neighbours move by at most 2 * 2 / 9 pixels
    assert np.abs(np.diff(field, axis=1)).max() <= 4 / 9 + 1e-5
    assert np.abs(np.diff(field, axis=2)).max() <= 4 / 9 + 1e-5
    assert np.abs(field[:, 1:] - field[:, :-1]).mean() > 0.01  # and does move
    x = sample.x_train[:16]
    np.testing.assert_array_equal(Augment(elastic=0)(x, np.random.default_rng(1)),
                                  Augment()(x, np.random.default_rng(1)))
    warped = Augment(0, 0, 0, elastic=2.0)(x, np.random.default_rng(1))
    assert not np.allclose(warped, x, atol=0.05)
    # the digit is bent, not moved away: its ink stays about where it was
    ink = (x > 0.5).reshape(16, 28, 28)
    ink2 = (warped > 0.5).reshape(16, 28, 28)
    for a, b in zip(ink, ink2, strict=True):
        assert np.abs(np.argwhere(a).mean(0) - np.argwhere(b).mean(0)).max() < 2.0


def test_cli_elastic_trains_with_the_warp_and_saves_it(tmp_path, capsys):
    from digitnet.cli import main

    out = tmp_path / "m.npz"
    assert main(["train", "--model", "784-8-10", "--epochs", "1", "--train-size", "300",
                 "--elastic", "1.5", "--resumable", "--out", str(out)]) == 0
    assert "augmented (elastic 1.5 px)" in capsys.readouterr().err  # mlp's recipe: no augment
    state = dn.load_model(out).train_state
    assert state.options["augment"]["elastic"] == 1.5
    for argv, message in [(["--model", "784-8-10", "--no-augment", "--elastic", "2"],
                           "leave out --no-augment"),
                          (["--resume", str(out), "--elastic", "1"], "leave out --elastic"),
                          (["--model", "784-8-10", "--elastic", "-1"], "in [0, 8]")]:
        try:
            code = main(["train", "--epochs", "2", *argv])
        except SystemExit as e:  # argparse's own errors
            code = e.code
        err = capsys.readouterr().err
        assert code in (1, 2) and message in err, err


def test_augmenting_in_parts_on_threads_gives_the_same_images(sample):
    from concurrent.futures import ThreadPoolExecutor

    X = sample.x_train[:300]
    with ThreadPoolExecutor(2) as pool:
        for elastic in (0.0, 2.0):
            a = Augment(elastic=elastic)
            whole = a(X, np.random.default_rng(5))
            for parts in (2, 7, 300):
                np.testing.assert_array_equal(
                    a(X, np.random.default_rng(5), pool=pool, parts=parts), whole)
            # and the generator is left where the whole batch leaves it
            r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
            a(X, r1)
            a(X, r2, pool=pool, parts=3)
            assert r1.random() == r2.random()


def test_freed_memory_is_kept_on_glibc_unless_turned_off():
    import platform
    import subprocess
    import sys

    code = "import digitnet.heap as h; print(h.keep_freed_memory())"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "DIGITNET_KEEP_MEMORY": "0"})
    assert off.stdout.strip() == "False"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert on.stdout.strip() == str(glibc)


@pytest.mark.parametrize("value, kept", [("0", False), ("off", False), (" False ", False),
                                         ("", True), ("1", True), ("yes", True)])
def test_keep_memory_reads_the_usual_words(monkeypatch, value, kept):
    import digitnet.heap as heap
    monkeypatch.setenv(heap.ENV, value)
    assert heap.wanted() is kept


def test_keep_memory_refuses_what_it_cannot_read(monkeypatch):
    import digitnet.heap as heap
    from digitnet.errors import SpecError
    monkeypatch.setenv(heap.ENV, "maybe")
    with pytest.raises(SpecError, match="DIGITNET_KEEP_MEMORY='maybe'.*set it to 0"):
        heap.wanted()


def test_augmentation_adds_the_elastic_warp_to_what_augment_says():
    from digitnet.augment import augmentation
    from digitnet.errors import SpecError
    assert augmentation(None) is None and augmentation(False, 0) is None
    assert augmentation(True) == Augment()
    assert augmentation(None, 2) == Augment(elastic=2.0)          # a warp implies augmentation
    assert augmentation(Augment(rotate=5), 1.5) == Augment(rotate=5, elastic=1.5)
    assert augmentation(Augment(elastic=3)) == Augment(elastic=3)
    warped = augmentation(None, np.float32(2))                     # NumPy numbers too
    assert warped == Augment(elastic=2.0) and type(warped.elastic) is float
    for augment, elastic, message in [(False, 2, "bends the augmented images"),
                                      (Augment(elastic=3), 2, "two elastic sizes"),
                                      (True, -1, "from 0 to 8"), (True, 9, "from 0 to 8"),
                                      (True, "2", "from 0 to 8"), (True, True, "from 0 to 8"),
                                      (True, float("nan"), "from 0 to 8")]:
        with pytest.raises(SpecError, match=message):
            augmentation(augment, elastic)


def test_train_elastic_is_augment_with_the_warp(sample):
    x, y = sample.x_train[:256], sample.y_train[:256]
    a, b = dn.build_network("784-16-10", seed=1), dn.build_network("784-16-10", seed=1)
    dn.train(a, x, y, epochs=1, elastic=2, progress=False, threads=1)
    dn.train(b, x, y, epochs=1, augment=Augment(elastic=2), progress=False, threads=1)
    assert a.train_state.options["augment"]["elastic"] == 2.0
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    c = dn.build_network("784-16-10", seed=1)
    dn.train(c, x, y, epochs=1, augment=True, progress=False, threads=1)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])  # the warp did something


def test_cli_best_follows_its_recipe_unless_told(tmp_path, capsys):
    from digitnet.cli import main

    out = tmp_path / "best.npz"
    small = ["--epochs", "1", "--train-size", "128", "--val-size", "0", "--test-size", "64",
             "--resumable", "--force", "--out", str(out)]
    assert main(["train", "--model", "best", *small]) == 0
    assert "augmented (elastic 2 px)" in capsys.readouterr().err
    options = dn.load_model(out).train_state.options
    assert options["augment"]["elastic"] == 2.0 and options["weight_decay"] == 5e-4
    assert options["label_smoothing"] == 0.1
    assert main(["train", "--model", "best", "--no-augment", "--weight-decay", "0", *small]) == 0
    assert "augmented" not in capsys.readouterr().err
    options = dn.load_model(out).train_state.options
    assert options["augment"] is False and options["weight_decay"] == 0
