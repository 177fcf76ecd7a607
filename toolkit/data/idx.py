"""IDX files (the MNIST family's format), gzipped or not, and the four-file dataset layout.

An IDX file is: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions d, then d big-endian uint32 sizes, then the data in C order. Whether a file is
gzipped is decided by its first two bytes (1f 8b), not by its name.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.data.base import Dataset
from toolkit.errors import DataError, DatasetNotFoundError

__all__ = ["IDX_FILES", "find_idx_files", "load_idx_dataset", "read_idx"]

#: split -> (images, labels) base names, as distributed by MNIST, Fashion-MNIST and Kuzushiji-MNIST
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or not)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{p}: corrupt gzip data ({exc}); download the file again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{p}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{p}: IDX header truncated")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{p}: IDX data has {len(raw) - header} bytes, expected {expected} for shape {dims} "
                        "(truncated download?)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def find_idx_files(directory: Path) -> tuple[dict[str, tuple[Path, Path]], list[str]]:
    """(split -> (images, labels) paths found in ``directory``, base names that are missing).

    Each file may be plain or end in ``.gz``.
    """
    found: dict[str, tuple[Path, Path]] = {}
    missing: list[str] = []
    for split, names in IDX_FILES.items():
        paths = []
        for name in names:
            hit = next((directory / n for n in (name, name + ".gz") if (directory / n).is_file()), None)
            if hit is None:
                missing.append(name + "[.gz]")
            else:
                paths.append(hit)
        if len(paths) == 2:
            found[split] = (paths[0], paths[1])
    return found, missing


def load_idx_dataset(name: str, directory: Path, *, n_classes: int = 10,
                     how_to_get: str = "") -> tuple[Dataset, Dataset]:
    """(train, test) from the four IDX files in ``directory``; images as float32 (N, 1, H, W) in [0, 1]."""
    if not directory.is_dir():
        raise DatasetNotFoundError(f"{name}: folder {directory} does not exist; {how_to_get}".rstrip("; "))
    found, missing = find_idx_files(directory)
    if missing:
        raise DatasetNotFoundError(f"{name}: missing in {directory}: {', '.join(missing)}; {how_to_get}".rstrip("; "))
    train = _split(name, *found["train"], n_classes)
    test = _split(name, *found["test"], n_classes)
    if train.shape != test.shape:
        raise DataError(f"{name}: train images are {train.shape} but test images are {test.shape}")
    return train, test


def _split(name: str, images: Path, labels: Path, n_classes: int) -> Dataset:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(f"{images}: expected unsigned-byte images of shape (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{labels}: expected a vector of labels, got shape {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{images.parent}: {images.name} has {x.shape[0]} images but {labels.name} has "
                        f"{y.shape[0]} labels")
    xf = (x.astype(np.float32) / 255.0)[:, None, :, :]
    return Dataset(name=name, x=xf, y=y.astype(np.int64), n_classes=n_classes)
