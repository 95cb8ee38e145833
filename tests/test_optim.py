"""Each optimizer step and schedule against values worked out by hand from its formula.

The network is one Dense(2, 1) layer with W = [[1], [2]], b = [0.5]; its gradients are set by
hand, so each test follows one or two updates number by number."""

import importlib
import math

import numpy as np
import pytest

import digitnet as dn
from digitnet.errors import SpecError
from digitnet.optim import (
    DEFAULT_LR,
    constant,
    cosine,
    default_lr,
    flush_tiny,
    get_schedule,
    make_optimizer,
    step,
)

G1 = ([0.5, -1.0], 0.2)   # dW, db of the first step
G2 = ([0.1, 0.3], -0.4)   # ... of the second


def tiny():
    net = dn.Network([dn.Dense(2, 1)], seed=None, dtype=np.float64)
    layer = net.layers[0]
    layer.params["W"][...] = [[1.0], [2.0]]
    layer.params["b"][...] = [0.5]
    return net, layer


def set_grads(layer, g):
    layer.grads["W"][...] = np.array(g[0])[:, None]
    layer.grads["b"][...] = [g[1]]


def W(layer):
    return layer.params["W"][:, 0].tolist()


def test_sgd_step():
    net, layer = tiny()
    opt = make_optimizer("sgd", net, lr=0.1)
    set_grads(layer, G1)
    opt.step()
    assert W(layer) == pytest.approx([1 - 0.1 * 0.5, 2 + 0.1 * 1.0])  # [0.95, 2.1]
    assert layer.params["b"][0] == pytest.approx(0.5 - 0.1 * 0.2)   # 0.48


def test_sgd_weight_decay_is_on_weights_only():
    net, layer = tiny()
    opt = make_optimizer("sgd", net, lr=0.1, weight_decay=0.01)
    set_grads(layer, G1)
    opt.step()
    # g += wd * W: [0.5 + 0.01, -1 + 0.02] = [0.51, -0.98]; b has no decay
    assert W(layer) == pytest.approx([1 - 0.1 * 0.51, 2 + 0.1 * 0.98])  # [0.949, 2.098]
    assert layer.params["b"][0] == pytest.approx(0.48)


def test_momentum_two_steps():
    net, layer = tiny()
    opt = make_optimizer("momentum", net, lr=0.1)
    set_grads(layer, G1)
    opt.step()                       # v = g1 = [0.5, -1]: W = [0.95, 2.1]
    assert W(layer) == pytest.approx([0.95, 2.1])
    set_grads(layer, G2)
    opt.step()                       # v = 0.9 v + g2 = [0.55, -0.6]: W = [0.895, 2.16]
    assert W(layer) == pytest.approx([0.895, 2.16])
    # b: v = 0.2, then 0.9 * 0.2 - 0.4 = -0.22: b = 0.48, then 0.48 + 0.022 = 0.502
    assert layer.params["b"][0] == pytest.approx(0.502)


def test_adam_two_steps():
    net, layer = tiny()
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    opt = make_optimizer("adam", net, lr=lr)
    set_grads(layer, G1)
    opt.step()
    # first step: m_hat = g, v_hat = g**2, so each weight moves by lr * g / (|g| + eps)
    assert W(layer) == pytest.approx([1 - lr * 0.5 / (0.5 + eps), 2 + lr * 1.0 / (1.0 + eps)])
    set_grads(layer, G2)
    opt.step()
    w_after_1 = [1 - lr * 0.5 / (0.5 + eps), 2 + lr * 1.0 / (1.0 + eps)]
    expected = []
    for w, g1, g2 in zip(w_after_1, G1[0], G2[0], strict=True):
        m = b1 * (1 - b1) * g1 + (1 - b1) * g2          # m after two steps
        v = b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2    # v after two steps
        m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
        expected.append(w - lr * m_hat / (math.sqrt(v_hat) + eps))
    assert W(layer) == pytest.approx(expected, rel=1e-6)
    # the numbers, so the formula above cannot hide a mistake: 0.9 - 0.0803, 2.1 + 0.0428
    assert W(layer) == pytest.approx([0.81970, 2.14279], abs=1e-4)


def test_adam_weight_decay_is_decoupled():
    net, layer = tiny()
    lr, wd = 0.1, 0.5
    opt = make_optimizer("adam", net, lr=lr, weight_decay=wd)
    set_grads(layer, G1)
    opt.step()
    # AdamW: W *= 1 - lr * wd, then the Adam step (about lr * sign(g)); b is not decayed
    assert W(layer) == pytest.approx([1 * (1 - lr * wd) - 0.1, 2 * (1 - lr * wd) + 0.1],
                                     rel=1e-6)
    assert layer.params["b"][0] == pytest.approx(0.5 - 0.1, rel=1e-6)


def test_optimizer_arguments_are_checked():
    net, _ = tiny()
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(SpecError, match="learning rate"):
            make_optimizer("sgd", net, lr=bad)
    with pytest.raises(SpecError, match="weight decay"):
        make_optimizer("sgd", net, lr=0.1, weight_decay=-1)
    with pytest.raises(SpecError, match="use one of sgd, momentum, adam"):
        make_optimizer("rmsprop", net, lr=0.1)
    assert default_lr("adam") == DEFAULT_LR["adam"] == 1e-3
    assert default_lr("sgd", 0.5) == 0.5


def test_flush_tiny_zeroes_subnormal_sized_values_only():
    a = np.array([1e-31, 1e-29, -1e-40, 0.5, -2e-30], np.float32)
    flush_tiny(a)
    assert a.tolist() == pytest.approx([0, 1e-29, 0, 0.5, 0])


def test_schedules():
    assert [constant(t) for t in (0, 0.5, 1)] == [1, 1, 1]
    assert [cosine(t) for t in (0, 0.25, 0.5, 0.75, 1)] == pytest.approx(
        [1, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 0], abs=1e-12)
    assert cosine(-0.1) == 1 and cosine(1.5) == pytest.approx(0)  # clamped to the run
    assert [step(t) for t in (0, 0.49, 0.5, 0.74, 0.75, 1)] == [1, 1, 0.1, 0.1, 0.01, 0.01]
    assert get_schedule("cosine") is cosine
    with pytest.raises(SpecError, match="unknown schedule"):
        get_schedule("linear")


def test_train_applies_warmup_and_schedule_step_by_step(sample, monkeypatch):
    """The learning rate train() gives the optimizer at every step: a linear warmup over the
    first epoch, times the cosine schedule over the whole run."""
    train_module = importlib.import_module("digitnet.train")  # (dn.train is the function)
    seen = []
    real = train_module.make_optimizer

    def recording(*args, **kwargs):
        opt = real(*args, **kwargs)
        original = opt.step

        def step_and_record():
            seen.append(opt.lr)
            original()
        opt.step = step_and_record
        return opt

    monkeypatch.setattr(train_module, "make_optimizer", recording)
    net = dn.build_network("784-8-10")
    lr = 0.2
    # 256 images, batches of 64: 4 steps per epoch, 8 steps; warmup over the first 4
    dn.train(net, sample.x_train[:256], sample.y_train[:256], epochs=2, batch_size=64,
             optimizer="sgd", lr=lr, schedule="cosine", warmup=1, progress=False)
    expected = [lr * cosine(k / 8) * min(1.0, (k + 1) / 4) for k in range(8)]
    assert seen == pytest.approx(expected)
    assert seen[0] == pytest.approx(lr / 4) and seen[3] == pytest.approx(lr * cosine(3 / 8))


def test_onecycle_rises_then_settles():
    from digitnet.optim import onecycle

    assert onecycle(0) == pytest.approx(1 / 25)
    assert onecycle(0.15) == pytest.approx(1 / 25 + (1 - 1 / 25) / 2)   # halfway up the cosine
    assert onecycle(0.3) == pytest.approx(1)
    assert onecycle(0.65) == pytest.approx(0.5, abs=1e-4)              # halfway down
    assert onecycle(1) == pytest.approx(1 / 25 / 1e4)
    ts = np.linspace(0, 1, 101)
    ups, downs = np.diff([onecycle(t) for t in ts[:31]]), np.diff([onecycle(t) for t in ts[30:]])
    assert (ups > 0).all() and (downs < 0).all()


def test_momentum_coefficient_and_adam_betas():
    net, layer = tiny()
    opt = make_optimizer("momentum", net, lr=0.1, momentum=0.5)
    set_grads(layer, G1)
    opt.step()
    set_grads(layer, G2)
    opt.step()                       # v = 0.5 * [0.5, -1] + [0.1, 0.3] = [0.35, -0.2]
    assert W(layer) == pytest.approx([0.95 - 0.035, 2.1 + 0.02])
    net, layer = tiny()
    opt = make_optimizer("adam", net, lr=0.1, betas=(0.7, 0.9))
    set_grads(layer, G1)
    opt.step()
    set_grads(layer, G2)
    opt.step()
    b1, b2, eps = 0.7, 0.9, 1e-8
    g1, g2 = 0.5, 0.1  # the first weight
    m, v = b1 * (1 - b1) * g1 + (1 - b1) * g2, b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2
    w1 = 1 - 0.1 * 0.5 / (0.5 + eps)
    assert W(layer)[0] == pytest.approx(
        w1 - 0.1 * (m / (1 - b1**2)) / (math.sqrt(v / (1 - b2**2)) + eps), rel=1e-6)
    for kwargs, words in (({"momentum": 1.0}, "in \\[0, 1\\)"), ({"betas": (0.9,)}, "two numbers"),
                          ({"betas": (0.9, -0.1)}, "in \\[0, 1\\)")):
        name = "momentum" if "momentum" in kwargs else "adam"
        with pytest.raises(SpecError, match=words):
            make_optimizer(name, net, lr=0.1, **kwargs)
    with pytest.raises(SpecError, match="betas are for --optimizer adam"):
        make_optimizer("sgd", net, lr=0.1, betas=(0.9, 0.99))


def test_label_smoothing_loss_and_its_gradient():
    from digitnet.nn.losses import SoftmaxCrossEntropy

    rng = np.random.default_rng(0)
    Z, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    loss = SoftmaxCrossEntropy()
    loss.smoothing = eps = 0.2
    T = np.full((5, 4), eps / 4)
    T[np.arange(5), y] += 1 - eps
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    assert loss.forward(Z, y) == pytest.approx(-np.sum(T * logp) / 5)
    dZ = loss.backward()
    num = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        for sign in (1, -1):
            Zs = Z.copy()
            Zs[idx] += sign * 1e-6
            num[idx] += sign * loss.forward(Zs, y) / 2e-6
    np.testing.assert_allclose(dZ, num, atol=1e-8)
    assert SoftmaxCrossEntropy.value(Z, y) == pytest.approx(-np.mean(logp[np.arange(5), y]))


def test_train_sets_label_smoothing_for_the_run_only(sample):
    net = dn.build_network("784-16-10")
    dn.train(net, sample.x_train[:256], sample.y_train[:256], epochs=1, label_smoothing=0.1,
             progress=False)
    assert net.loss.smoothing == 0.0
    with pytest.raises(SpecError, match="label smoothing must be in"):
        dn.train(net, sample.x_train[:256], sample.y_train[:256], label_smoothing=1.0,
                 progress=False)
