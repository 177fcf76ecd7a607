"""Out-of-distribution views of a test set: translated, scaled, rotated copies.

Each view transforms every image once, with parameters drawn per image from a generator
seeded by ``seed`` (the same views every run). Nearest and bilinear interpolation of values in
[0, 1] stay in [0, 1]; only float rounding at the edges is clipped.
Flat samples (the 8x8 digits, (N, 64)) are viewed as square images and flattened back.

With side length S (8 for digits, 28 for the MNIST family):

* ``translated``: shifted by (dy, dx), each an integer uniform in [−t, t], t = round(S / 7)
  (1 px for digits, 4 px for 28x28); zeros shift in.
* ``scaled``: zoomed about the centre by a factor uniform in [0.7, 1.3] (bilinear).
* ``rotated``: rotated about the centre by an angle uniform in [−30°, 30°] (bilinear).

USPS (used by Cheon et al.) cannot be obtained offline here and is not faked.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from toolkit.data.base import Dataset
from toolkit.errors import DataError

__all__ = ["OOD_VIEWS", "ood_views"]

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _translate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    t = max(1, round(img.shape[-1] / 7))
    dy, dx = rng.integers(-t, t + 1, size=2)
    return np.asarray(ndimage.shift(img, (float(dy), float(dx)), order=0, mode="constant", cval=0.0))


def _scale(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    s = rng.uniform(0.7, 1.3)
    centre = (np.asarray(img.shape, dtype=np.float64) - 1.0) / 2.0
    # output pixel o samples input pixel centre + (o - centre) / s
    return np.asarray(ndimage.affine_transform(img, np.eye(2) / s, offset=centre - centre / s, order=1,
                                               mode="constant", cval=0.0))


def _rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    return np.asarray(ndimage.rotate(img, rng.uniform(-30.0, 30.0), reshape=False, order=1, mode="constant",
                                     cval=0.0))


#: view name -> per-image transform
OOD_VIEWS: dict[str, Transform] = {"translated": _translate, "scaled": _scale, "rotated": _rotate}


def _as_images(ds: Dataset) -> np.ndarray:
    shape = ds.shape
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side != shape[0]:
            raise DataError(f"{ds.name}: flat samples of {shape[0]} values are not square images")
        return ds.x.reshape(len(ds), side, side)
    if len(shape) == 3 and shape[0] == 1:
        return ds.x.reshape(len(ds), shape[1], shape[2])
    raise DataError(f"{ds.name}: out-of-distribution views need single-channel images, got samples of shape {shape}")


def ood_views(test: Dataset, *, seed: int = 0, limit: int | None = None) -> dict[str, Dataset]:
    """name -> transformed copy of ``test`` (its first ``limit`` samples), for every view in ``OOD_VIEWS``."""
    base = test.take(limit)
    images = _as_images(base)
    views = {}
    for i, (name, fn) in enumerate(OOD_VIEWS.items()):
        rng = np.random.default_rng([seed, i])
        out = np.stack([fn(img, rng) for img in images]).astype(np.float32)
        out = np.clip(out, 0.0, 1.0)  # bilinear interpolation overshoots by rounding only
        views[name] = Dataset(name=f"{base.name}/{name}", x=out.reshape(base.x.shape), y=base.y,
                              n_classes=base.n_classes)
    return views
