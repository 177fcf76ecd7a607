"""The ON/OFF encoding of signed inputs: each value x becomes two non-negative channels.

Spikes carry no sign, and the input encodings (``toolkit.encoding``) take samples in [0, 1]. A min–max
rescale of signed data (standardised signals, say) maps 0 to the middle of the range, so a neuron sees
"half rate" for "nothing", and a value and its negation differ only by a rate offset that the first layer
must learn to cancel. The retina's answer, and the event cameras', is two channels: ON = max(x, 0) / s and
OFF = max(−x, 0) / s, so a value's magnitude is a rate and its sign is which channel fires. ``s`` is the
largest |x| of the training set (so training samples lie in [0, 1] exactly; test values beyond it are
clipped to 1, and the number clipped is not hidden: ``onoff_split`` returns it).

Channels are stacked on axis 1: flat samples (N, F) become (N, 2F) = [ON | OFF]; images (N, C, H, W) become
(N, 2C, H, W), so a CNN sees ON and OFF as input channels.
"""

from __future__ import annotations

import numpy as np

from toolkit.data.base import Dataset
from toolkit.errors import DataError

__all__ = ["onoff", "onoff_split"]


def onoff(x: np.ndarray, scale: float) -> np.ndarray:
    """ON and OFF channels of samples ``x`` (N, ...) stacked on axis 1, in [0, 1] (values beyond ``scale`` clip)."""
    if not scale > 0:
        raise DataError(f"ON/OFF encoding needs a positive scale, got {scale}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise DataError(f"ON/OFF encoding needs samples of shape (N, ...), got {x.shape}")
    on = np.clip(x / scale, 0.0, 1.0)
    off = np.clip(-x / scale, 0.0, 1.0)
    return np.concatenate([on, off], axis=1).astype(np.float32)


def onoff_split(train: Dataset, test: Dataset) -> tuple[Dataset, Dataset, int]:
    """(train, test) in the ON/OFF encoding with the training set's largest |x| as scale, and how many test values
    exceeded it (clipped to 1)."""
    scale = float(np.abs(train.x).max()) if train.x.size else 0.0
    if scale == 0.0:
        raise DataError(f"{train.name}: every training value is 0; the ON/OFF encoding has nothing to scale")
    clipped = int(np.count_nonzero(np.abs(test.x) > scale))

    def split(ds: Dataset) -> Dataset:
        return Dataset(name=ds.name, x=onoff(ds.x, scale), y=ds.y, n_classes=ds.n_classes)

    return split(train), split(test), clipped
