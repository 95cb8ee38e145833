"""Shared fixtures. The tests check numbers, not speed (bench/ measures speed): they run NumPy's
BLAS on one thread, which keeps them quick when other processes share the machine (several BLAS
threads spinning against another busy process made the suite ~10x slower)."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DIGITNET_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy is imported; notebook kernels inherit it

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import digitnet as dn  # noqa: E402


@pytest.fixture(scope="session")
def sample() -> dn.Dataset:
    """The MNIST sample shipped in the package (9,000 train / 1,000 validation / 2,000 test)."""
    return dn.load_dataset("sample", val_size=1000, seed=0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits_net(sample) -> dn.Network:
    """A 784-256-10 MLP trained on the sample (about 92% test accuracy), shared by the image,
    read and web tests. Do not change its weights."""
    net = dn.build_network("784-256-10")
    dn.train(net, sample, epochs=6, progress=False)
    return net


@pytest.fixture(scope="session")
def net(digits_net) -> dn.Network:
    """The trained network of the image, read and web tests (``digits_net``)."""
    return digits_net


@pytest.fixture(scope="session")
def model_file(digits_net, tmp_path_factory):
    """``digits_net`` saved as a model file."""
    return dn.save_model(digits_net, tmp_path_factory.mktemp("model") / "model.npz")
