"""Sizes that would take all the memory are refused before anything is allocated, with a message
that says the size asked for and the limit: layer sizes in specs (and so in `--model`), the
batches of gradcheck, trace, the doctor and training."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import SpecError
from digitnet.gradcheck import random_inputs
from digitnet.limits import MAX_BATCH_BYTES, MAX_LAYERS, MAX_PARAMS, MiB, size_text
from digitnet.nn.sizes import check_batch, plan_network


def peak_of(fn, *args, **kwargs):
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as info:
            fn(*args, **kwargs)
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("spec, words", [
    ("784-1000000000-10", ["785,000,000,000 parameters", f"{MAX_PARAMS:,}", "MAX_PARAMS"]),
    ("784-17000-17000-10", ["302,362,000 parameters", "1.13 GiB"]),
    ("conv1000000-10", ["784 M values per image", "2.1 M values", "MAX_VALUES_PER_IMAGE"]),
    ("conv64k3s1-conv4000-10", ["values per image"]),
    ("28x28x100000-conv8-10", ["values per image"]),
    ("784-" + "10-" * 600 + "10", [f"1,201 layers; the limit is {MAX_LAYERS:,}"]),
    ([784, 2**62, 10], ["parameters"]),
])
def test_a_spec_too_large_is_refused_before_building(spec, words):
    err, used = peak_of(dn.build_network, spec)
    assert used < MiB  # nothing of its size was allocated
    for w in words:
        assert w in str(err), str(err)
    assert str(err).startswith("network spec ")


def test_the_plan_of_the_cnn_preset():
    plan = plan_network(dn.build_network("cnn").config()["layers"])
    assert plan.n_params == 824_586 and plan.out_shape == (10,)
    assert plan.values_per_image == 14 * 14 * 9 * 32  # its second convolution's windows


def test_the_planned_arrays_are_the_built_ones():
    for spec in ("mlp", "lenet5", "cnn", "fast", "conv8k5v-avgpool2-conv4s2-bn-gap-10", "784-3-1"):
        net = dn.build_network(spec)
        plan = plan_network(net.config()["layers"])
        built = [{k: v.shape for d in (layer.params, layer.state) for k, v in d.items()}
                 for layer in net.layers]
        assert plan.arrays == built, spec
        assert plan.n_params == net.n_params


def test_the_cli_refuses_a_huge_model_in_one_line(capsys):
    for argv in (["train", "--model", "784-1000000000-10"], ["trace", "--model", "conv1000000-10"],
                 ["gradcheck", "--model", "784-1000000000-10"],
                 ["doctor", "--model", "conv1000000-10"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("digitnet: error: network spec") and "limit" in err
        assert len(err.strip().splitlines()) == 1


def test_gradcheck_batch_is_bounded(capsys):
    net = dn.build_network("784-16-10")
    err, used = peak_of(random_inputs, net, 10**9)
    assert used < MiB and "1,000,000,000 images" in str(err) and "use at most" in str(err)
    assert random_inputs(net, 3, seed=1).shape == (3, 784)
    np.testing.assert_array_equal(random_inputs(net, 3, seed=1),  # what the CLI drew before
                                  np.random.default_rng(1).random((3, 784)))
    assert main(["gradcheck", "--batch", "1000000000", "--model", "784-16-10"]) == 1
    err = capsys.readouterr().err
    assert "MAX_BATCH_BYTES" in err and len(err.strip().splitlines()) == 1


def test_trace_doctor_and_train_batches_are_bounded():
    net = dn.build_network("cnn")
    per_image = 557 * 1024  # about: what a cnn batch makes per image
    n = MAX_BATCH_BYTES // per_image + 1000
    x = np.zeros((n, 784), np.float32)  # rows of zeros: a view, cheap
    y = np.zeros(n, np.int64)
    with pytest.raises(SpecError, match="trace .* images at once .* use at most"):
        net.trace(x, y)
    with pytest.raises(SpecError, match="batch_size: 1,000,000,000 images"):
        dn.doctor.diagnose(net, x[:100], y[:100], steps=1, batch_size=10**9)
    with pytest.raises(SpecError, match=f"batch_size: {n:,} images"):
        dn.train(net, x, y, epochs=1, batch_size=10**9, progress=False)


def test_the_doctor_on_code_takes_a_batch_it_can_draw(capsys):
    learner = Path(__file__).parent / "learner_code" / "course_dict.py"
    code = main(["doctor", "--code", str(learner), "--batch-size", "100000", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "use at most" in err and len(err.strip().splitlines()) == 1


def test_check_batch_counts_what_a_batch_makes():
    net = dn.build_network("784-100-10")
    check_batch(net, 1000, "x")  # small
    per_image = (100 + 100 + 10) * 4  # Dense, ReLU, Dense outputs, float32
    check_batch(net, MAX_BATCH_BYTES // per_image, "x")
    with pytest.raises(SpecError, match=size_text(MAX_BATCH_BYTES)):
        check_batch(net, MAX_BATCH_BYTES // per_image + 1, "x")
