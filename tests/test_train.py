import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import TrainingError


def test_deep_relu_he_learns_while_small_init_collapses(sample):
    """The notebooks' story: 4 hidden layers, plain SGD. He init learns; randn*0.01 does not."""
    x, y = sample.x_train[:4000], sample.y_train[:4000]
    accs, collapsed = {}, {}
    for init in ("he", "small"):
        net = dn.build_network("784-128-128-128-128-10", init=init, seed=0)
        dn.train(net, x, y, epochs=3, optimizer="sgd", lr=0.1, schedule="constant",
                 progress=False)
        pred = net.predict(sample.x_test)
        accs[init] = np.mean(pred == sample.y_test)
        collapsed[init] = np.bincount(pred, minlength=10).max() / len(pred)
    assert accs["he"] > 0.85, accs
    assert accs["small"] < 0.2, accs          # chance is 0.1
    assert collapsed["small"] > 0.9, collapsed  # "always predicts 1"


def test_default_mlp_learns_the_sample(sample):
    net = dn.build_network("784-128-10")
    hist = dn.train(net, sample, epochs=5, progress=False)
    assert hist.loss[-1] < hist.loss[0]
    assert len(hist.val_accuracy) == 5 and hist.val_accuracy[-1] > 0.9
    assert len(hist.batch_loss) == 5 * int(np.ceil(len(sample.x_train) / 128))
    assert net.evaluate(sample.x_test, sample.y_test)[1] > 0.88


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimizer_lowers_the_loss(sample, optimizer):
    net = dn.build_network("784-32-10")
    hist = dn.train(net, sample.x_train[:2000], sample.y_train[:2000], epochs=2,
                    optimizer=optimizer, weight_decay=1e-4, progress=False)
    assert hist.loss[1] < hist.loss[0] < 2.3


def test_same_seed_gives_identical_weights(sample):
    def run(seed):
        net = dn.build_network("784-32-10", dropout=0.2, seed=seed)
        dn.train(net, sample.x_train[:1000], sample.y_train[:1000], epochs=2, seed=seed,
                 progress=False)
        return net.get_weights()
    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_diverging_training_stops_with_a_clear_message_and_keeps_good_weights(sample):
    net = dn.build_network("784-64-64-10")
    x, y = sample.x_train[:1000], sample.y_train[:1000]
    dn.train(net, x, y, epochs=1, progress=False)
    good = net.get_weights()
    with pytest.raises(TrainingError, match="lower learning rate") as err:
        dn.train(net, x * 1e3, y, epochs=3, optimizer="sgd", lr=1e3, schedule="constant",
                 progress=False)
    assert err.value.history.stop_reason == "diverged"
    assert all(np.all(np.isfinite(w)) for w in net.get_weights())
    # diverged in the first epoch: the weights from before training are kept
    assert all(np.array_equal(p, q) for p, q in zip(good, net.get_weights(), strict=True))


def test_early_stopping_keeps_the_best_epoch(sample):
    net = dn.build_network("784-256-10")
    hist = dn.train(net, sample.x_train[:300], sample.y_train[:300], x_val=sample.x_val,
                    y_val=sample.y_val, epochs=40, lr=3e-3, schedule="constant", patience=2,
                    progress=False)
    assert hist.stop_reason == "early_stopping"
    assert len(hist.epoch) < 40
    assert hist.best_epoch == int(np.argmin(hist.val_loss)) + 1
    raw = net.loss.value(net.logits(sample.x_val), sample.y_val)  # the scores as trained
    assert np.isclose(raw, min(hist.val_loss))
    # then calibrated on that validation split: its loss can only fall
    assert net.evaluate(sample.x_val, sample.y_val)[0] <= raw + 1e-6


def test_binary_one_vs_rest(sample):
    net = dn.build_network("784-32-1")
    y = (sample.y_train == 7) * 1
    dn.train(net, sample.x_train, y, epochs=5, progress=False)
    pred = net.predict(sample.x_test)
    assert np.mean(pred == (sample.y_test == 7)) > 0.95  # 89.75% by always saying "not 7"
    assert pred.sum() > 0.5 * (sample.y_test == 7).sum()


def test_warmup_ramps_the_learning_rate_up_linearly(sample):
    x, y = sample.x_train[:512], sample.y_train[:512]   # 4 steps per epoch
    net = dn.build_network("784-16-10")
    hist = dn.train(net, x, y, epochs=4, batch_size=128, optimizer="sgd", lr=0.1,
                    schedule="constant", warmup=2, progress=False)
    # lr at each epoch's last step: (step + 1) / 8 of 0.1 during the 8 warmup steps, then 0.1
    np.testing.assert_allclose(hist.lr, [0.05, 0.1, 0.1, 0.1])
    with pytest.raises(dn.DigitnetError, match="warmup"):
        dn.train(net, x, y, epochs=2, warmup=3, progress=False)


class FakeKernelShell:
    """What tqdm and digitnet see of IPython inside a Jupyter kernel."""
    config = {"IPKernelApp": {}}


def test_progress_bars_in_jupyter_without_ipywidgets_are_text_bars_without_warnings(
        sample, monkeypatch, capsys):
    import importlib.util
    import sys
    import types
    import warnings

    from tqdm.std import tqdm as text_bar

    from digitnet.train import progress_bar

    assert progress_bar() is text_bar  # not in Jupyter
    fake = types.ModuleType("IPython")
    fake.get_ipython = FakeKernelShell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else find_spec(name, *a))
    assert progress_bar() is text_bar
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm.auto would warn "IProgress not found" here
        dn.train(dn.build_network("784-8-10"), sample.x_train[:500], sample.y_train[:500],
                 epochs=1)
    err = capsys.readouterr().err
    assert "epoch   1  loss" in err and "IProgress" not in err
