"""Sizes that would take all the memory are refused before anything is allocated, with a message
that says the size asked for and the limit: layer sizes in specs (and so in `--model`)."""

import tracemalloc

import pytest

import digitnet as dn
from digitnet.cli import main
from digitnet.errors import SpecError
from digitnet.limits import MAX_LAYERS, MAX_PARAMS, MiB
from digitnet.nn.sizes import plan_network


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
    for spec in ("mlp", "lenet5", "cnn", "conv8k5v-avgpool2-conv4s2-bn-gap-10", "784-3-1"):
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
