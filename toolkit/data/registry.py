"""Datasets by name, so the CLI and YAML configs can say ``digits`` or ``fashion-mnist``.

``load_dataset(name_or_path, data_dir=..., seed=...)`` returns (train, test):

* ``digits``: scikit-learn's 8x8 digits, embedded (samples are flat vectors of 64).
* ``mnist``, ``fashion-mnist``, ``kmnist`` (also ``kuzushiji-mnist``): the four IDX files
  (gzipped or not) in ``data_dir``; images (N, 1, 28, 28). Fashion-MNIST defaults to the
  folder of Debian's ``dataset-fashion-mnist`` package.
* ``digits-rows``, ``mnist-rows``, ``fashion-mnist-rows``: the same images as sequences (steps, features), one
  row per step, for recurrent networks; ``store-recall``: a generated memory task (``toolkit.data.temporal``).
* a path ending in ``.npz``: see ``toolkit.data.npz``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from toolkit.data.base import Dataset
from toolkit.data.digits import load_digits
from toolkit.data.idx import load_idx_dataset
from toolkit.data.npz import load_npz
from toolkit.data.onoff import onoff_split
from toolkit.data.temporal import as_rows, make_store_recall
from toolkit.errors import DataError, DatasetNotFoundError

__all__ = ["DATASETS", "FASHION_MNIST_DIR", "DataSource", "dataset_names", "load_dataset"]

Loader = Callable[..., tuple[Dataset, Dataset]]

#: where Debian's dataset-fashion-mnist package installs the four IDX files
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_IDX_FILES_HINT = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
_HOW = {
    "mnist": "download the four MNIST IDX files (gzipped or not) from http://yann.lecun.com/exdb/mnist/ "
             "or a mirror into a folder and pass --data-dir FOLDER",
    "fashion-mnist": "install them with `make data` (Debian package dataset-fashion-mnist, into "
                     f"{FASHION_MNIST_DIR}) or download them from https://github.com/zalandoresearch/fashion-mnist "
                     "and pass --data-dir FOLDER",
    "kmnist": "download the four Kuzushiji-MNIST IDX files (*-idx?-ubyte.gz) from https://github.com/rois-codh/kmnist "
              "into a folder and pass --data-dir FOLDER",
}


def _digits(data_dir: Path | None = None, seed: int = 0) -> tuple[Dataset, Dataset]:
    return load_digits(seed=seed)


def _idx(name: str, default_dir: Path | None) -> Loader:
    def load(data_dir: Path | None = None, seed: int = 0) -> tuple[Dataset, Dataset]:
        folder = data_dir if data_dir is not None else default_dir
        if folder is None:
            raise DatasetNotFoundError(f"{name}: no folder given (it needs {_IDX_FILES_HINT}); {_HOW[name]}")
        return load_idx_dataset(name, folder, how_to_get=_HOW[name])
    return load


def _rows(name: str, images: Loader) -> Loader:
    def load(data_dir: Path | None = None, seed: int = 0) -> tuple[Dataset, Dataset]:
        train, test = images(data_dir=data_dir, seed=seed)
        return as_rows(train, name), as_rows(test, name)
    return load


def _store_recall(data_dir: Path | None = None, seed: int = 0) -> tuple[Dataset, Dataset]:
    return make_store_recall(seed=seed)


#: name -> loader(data_dir=None, seed=0) returning (train, test)
DATASETS: dict[str, Loader] = {
    "digits": _digits,
    "mnist": _idx("mnist", None),
    "fashion-mnist": _idx("fashion-mnist", FASHION_MNIST_DIR),
    "kmnist": _idx("kmnist", None),
    "digits-rows": _rows("digits-rows", _digits),
    "mnist-rows": _rows("mnist-rows", _idx("mnist", None)),
    "fashion-mnist-rows": _rows("fashion-mnist-rows", _idx("fashion-mnist", FASHION_MNIST_DIR)),
    "store-recall": _store_recall,
}
_ALIASES = {"kuzushiji-mnist": "kmnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist"}


def dataset_names() -> list[str]:
    """The names ``load_dataset`` accepts (besides ``.npz`` paths)."""
    return sorted([*DATASETS, *_ALIASES])


def load_dataset(name: str, *, data_dir: str | Path | None = None, seed: int = 0,
                 onoff: bool = False) -> tuple[Dataset, Dataset]:
    """Load a dataset by name (see ``DATASETS``) or from a ``.npz`` path; returns (train, test). ``onoff``: signed
    samples (a ``.npz`` of any finite floats) as ON and OFF channels in [0, 1] (``toolkit.data.onoff``)."""
    if name.endswith(".npz"):
        train, test = load_npz(Path(name), seed=seed, signed=onoff)
    else:
        loader = DATASETS.get(_ALIASES.get(name, name))
        if loader is None:
            raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(dataset_names())} "
                            "or give the path of a .npz file")
        train, test = loader(data_dir=Path(data_dir) if data_dir is not None else None, seed=seed)
    if onoff:
        train, test, _ = onoff_split(train, test)
    return train, test


class DataSource(NamedTuple):
    """A dataset as a run names it (and records it: checkpoints, compile reports), loadable again later."""

    dataset: str
    data_dir: str | None = None
    onoff: bool = False

    def load(self, seed: int = 0) -> tuple[Dataset, Dataset]:
        return load_dataset(self.dataset, data_dir=self.data_dir, seed=seed, onoff=self.onoff)

    @classmethod
    def chosen(cls, data: str | None, data_dir: str | Path | None, onoff: bool, saved: str | None,
               saved_dir: str | None) -> DataSource:
        """The dataset a command works on: the one given (``--data``, ``--data-dir``), else the one its input
        recorded (``saved``, with its folder unless ``data_dir`` is given), else the embedded digits."""
        given_dir = None if data_dir is None else str(data_dir)
        if data is not None:
            return cls(data, given_dir, onoff)
        return cls(saved or "digits", given_dir if given_dir is not None else saved_dir, onoff)
