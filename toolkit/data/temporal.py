"""Temporal datasets for recurrent spiking networks: samples are sequences (steps, features) in [0, 1].

* ``digits-rows``: the embedded 8x8 digits read one row per step: (8, 8).
* ``mnist-rows``, ``fashion-mnist-rows``: the IDX images read one row per step: (28, 28).
* ``store-recall``: a procedurally generated memory task (seeded, offline). Features are ``classes`` value
  channels, a store flag and a recall flag. At step 1 the store flag is on and the value channel of the label is
  on; every later step carries only distractors (each value channel on with probability ``distractor``); at the
  last step the recall flag is on. The last row is independent of the label, so the answer needs a memory of the
  first row across the delay (a read-out of the last row alone is at chance).
"""

from __future__ import annotations

import numpy as np

from toolkit.data.base import Dataset
from toolkit.errors import DataError

__all__ = ["as_rows", "make_store_recall"]


def as_rows(ds: Dataset, name: str) -> Dataset:
    """``ds``'s images (N, H, W) or (N, 1, H, W), or flat square vectors (N, H·H), as sequences (N, H, W)."""
    shape = ds.shape
    if len(shape) == 3 and shape[0] == 1:
        rows = shape[1:]
    elif len(shape) == 2:
        rows = shape
    elif len(shape) == 1 and round(shape[0] ** 0.5) ** 2 == shape[0]:
        side = round(shape[0] ** 0.5)
        rows = (side, side)
    else:
        raise DataError(f"{ds.name}: samples of shape {shape} cannot be read row by row "
                        "(need single-channel images or flat square vectors)")
    return Dataset(name=name, x=ds.x.reshape(len(ds), *rows), y=ds.y, n_classes=ds.n_classes)


def make_store_recall(*, n_train: int = 2000, n_test: int = 500, classes: int = 4, delay: int = 10,
                      distractor: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(train, test) of the store-recall task: ``delay`` distractor steps between store and recall
    (``delay + 2`` steps of ``classes + 2`` features); labels uniform over ``classes``."""
    if classes < 2 or delay < 0 or not 0 <= distractor < 1:
        raise DataError(f"store-recall: need classes >= 2, delay >= 0 and 0 <= distractor < 1 "
                        f"(got classes {classes}, delay {delay}, distractor {distractor})")
    rng = np.random.default_rng([seed, 0x5EC])
    steps, features = delay + 2, classes + 2

    def split(n: int) -> Dataset:
        y = rng.integers(0, classes, n)
        x = np.zeros((n, steps, features), np.float32)
        x[:, 1:, :classes] = rng.random((n, steps - 1, classes)) < distractor
        x[np.arange(n), 0, y] = 1.0
        x[:, 0, classes] = 1.0        # store flag
        x[:, -1, classes + 1] = 1.0   # recall flag
        return Dataset(name="store-recall", x=x, y=y.astype(np.int64), n_classes=classes)

    return split(n_train), split(n_test)
