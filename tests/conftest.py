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
