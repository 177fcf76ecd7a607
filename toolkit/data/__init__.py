"""Datasets: the embedded digits default and loaders for files on disk.

Every loader returns ``(train, test)`` as ``Dataset`` objects with pixels in [0, 1]:
digits as flat vectors (N, 64), the MNIST family (IDX files) as images (N, 1, 28, 28),
``.npz`` files as stored; signed data through the ON/OFF encoding (``onoff``). ``ood_views``
makes translated, scaled and rotated test sets.
"""

from toolkit.data.base import Dataset
from toolkit.data.digits import load_digits
from toolkit.data.idx import load_idx_dataset, read_idx
from toolkit.data.npz import load_npz
from toolkit.data.onoff import onoff, onoff_split
from toolkit.data.ood import OOD_VIEWS, ood_views
from toolkit.data.registry import DATASETS, FASHION_MNIST_DIR, DataSource, dataset_names, load_dataset

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "OOD_VIEWS",
    "DataSource",
    "Dataset",
    "dataset_names",
    "load_dataset",
    "load_digits",
    "load_idx_dataset",
    "load_npz",
    "onoff",
    "onoff_split",
    "ood_views",
    "read_idx",
]
