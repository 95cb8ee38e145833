import numpy as np
import pytest

import digitnet as dn


@pytest.fixture(scope="session")
def sample() -> dn.Dataset:
    """The MNIST sample shipped in the package (10,000 train / 2,000 test)."""
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
