"""A generic dataset in one ``.npz`` file.

Required arrays: ``x`` (N, ...) and ``y`` (N,) integer labels 0..K−1. Optional: ``x_test``
and ``y_test`` (otherwise a stratified ``test_fraction`` of x is held out, fixed by the
seed) and ``n_classes`` (otherwise max label + 1). Pixels are unsigned bytes (divided by
255) or floats already in [0, 1] (anything else is refused, never clipped); with ``signed``
(the ON/OFF encoding, ``toolkit.data.onoff``) any finite floats, e.g. standardised signals.
Images stored as (N, H, W) get a channel axis, (N, 1, H, W), like the IDX datasets.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from toolkit.data.base import Dataset
from toolkit.errors import DataError, DatasetNotFoundError

__all__ = ["load_npz"]


def load_npz(path: Path, *, seed: int = 0, test_fraction: float = 0.2,
             signed: bool = False) -> tuple[Dataset, Dataset]:
    """(train, test) from the ``.npz`` file ``path`` (format above); ``signed`` admits float samples of any finite
    value (the caller then maps them into [0, 1], as ``toolkit.data.onoff`` does)."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file (a .npz with arrays x and y, optionally x_test, y_test)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: not a readable .npz file ({why})") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} (found: {', '.join(sorted(arrays)) or 'none'})")
    x, y = _pair(path, "x", "y", arrays, signed)
    if ("x_test" in arrays) != ("y_test" in arrays):
        given, absent = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise DataError(f"{path}: has {given} but no {absent}; give both (a held-out test set) or neither "
                        f"(a stratified {test_fraction:.0%} of x is held out)")
    if "x_test" in arrays:
        xt, yt = _pair(path, "x_test", "y_test", arrays, signed)
        if xt.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test samples have shape {xt.shape[1:]} but x samples {x.shape[1:]}")
    else:
        x, y, xt, yt = _split(x, y, seed, test_fraction)
        if not len(xt):
            raise DataError(f"{path}: too few samples per class to hold out a test set ({len(x)} in all); "
                            "give more, or a test set as x_test and y_test")
    n_classes = _n_classes(path, arrays, int(max(y.max(initial=0), yt.max(initial=0))) + 1)
    name = path.stem
    return Dataset(name=name, x=x, y=y, n_classes=n_classes), Dataset(name=name, x=xt, y=yt, n_classes=n_classes)


#: the most classes a .npz may declare: an output layer that large is already far beyond one Loihi 2 chip's
#: neurons per core, and a typo (10**9) would otherwise exhaust memory building it
MAX_CLASSES = 1 << 16


def _pair(path: Path, xk: str, yk: str, arrays: dict[str, np.ndarray], signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Samples and labels, checked: as many of each, and at least one."""
    x, y = _pixels(path, xk, arrays[xk], signed), _labels(path, yk, arrays[yk])
    if len(x) != len(y):
        raise DataError(f"{path}: {xk} has {len(x)} samples but {yk} {len(y)} labels; give one label per sample")
    if not len(x):
        raise DataError(f"{path}: {xk} holds no samples")
    return x, y


def _n_classes(path: Path, arrays: dict[str, np.ndarray], needed: int) -> int:
    """The declared ``n_classes`` (one integer) or ``needed`` (max label + 1); at least 2, at least ``needed``, at
    most ``MAX_CLASSES``."""
    n = needed
    if "n_classes" in arrays:
        a = arrays["n_classes"]
        if a.shape != () or not np.issubdtype(a.dtype, np.integer):
            raise DataError(f"{path}: n_classes must be one integer, got {a.dtype} of shape {a.shape}")
        n = int(a)
        if n < needed:
            raise DataError(f"{path}: n_classes = {n}, but the labels go up to {needed - 1} (labels are 0..K-1)")
    if not 2 <= n <= MAX_CLASSES:
        raise DataError(f"{path}: {n} class(es) (labels 0..K-1): a classifier needs 2 to {MAX_CLASSES}")
    return n


def _pixels(path: Path, key: str, a: np.ndarray, signed: bool) -> np.ndarray:
    if a.dtype == np.uint8:
        out = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        if a.size and not np.isfinite(a).all():
            raise DataError(f"{path}: {key} holds NaN or infinite values; remove or impute them")
        if not signed and a.size and (float(a.min()) < 0.0 or float(a.max()) > 1.0):
            raise DataError(f"{path}: {key} has values in [{a.min():g}, {a.max():g}]; scale them to [0, 1] "
                            "(or store unsigned bytes 0..255), or for signed data (e.g. standardised signals) "
                            "set data.onoff: true (--onoff) to feed each value as an ON and an OFF channel")
        out = a.astype(np.float32)
    else:
        raise DataError(f"{path}: {key} must be uint8 or float in [0, 1], got {a.dtype}")
    if out.ndim < 2:
        raise DataError(f"{path}: {key} must have shape (N, ...) with one sample per row, got {a.shape}")
    if out.size == 0 and out.shape[0]:
        raise DataError(f"{path}: {key} samples have shape {a.shape[1:]}: no values")
    return out[:, None] if out.ndim == 3 else out


def _labels(path: Path, key: str, a: np.ndarray) -> np.ndarray:
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{path}: {key} must be a vector of integer labels, got {a.dtype} {a.shape}")
    if a.size and int(a.min()) < 0:
        raise DataError(f"{path}: {key} has negative labels (down to {int(a.min())}); labels are 0..K-1")
    return a.astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray, seed: int,
           fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of each class (at least one sample of a class with two or more)."""
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        test_idx.extend(idx[:k].tolist())
    mask = np.zeros(len(y), dtype=bool)
    mask[np.asarray(test_idx, dtype=np.int64)] = True
    return x[~mask], y[~mask], x[mask], y[mask]
