"""The data layer: files (IDX, Kaggle CSV) to arrays, and named datasets with their splits."""

from digitnet.data.datasets import DATASET_NAMES, Dataset, cache_dir, load_dataset
from digitnet.data.idx import read_idx, read_idx_pair, write_idx
from digitnet.data.kaggle import read_kaggle_csv, write_submission

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "cache_dir",
    "load_dataset",
    "read_idx",
    "read_idx_pair",
    "read_kaggle_csv",
    "write_idx",
    "write_submission",
]
