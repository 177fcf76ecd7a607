"""Input encoding: how samples in [0, 1] become the spikes (or graded payloads) of step τ.

Shared by every backend, so the reference simulator and the Lava source process feed a
network exactly the same input. Inputs are first quantised to integer levels
q = round(x · Q), Q = 2^bits − 1; then, for steps τ = 1..T:

* ``RATE``:    s_τ = ⌊τq/Q⌋ − ⌊(τ−1)q/Q⌋   (deterministic; ⌊Tq/Q⌋ spikes in T steps)
* ``POISSON``: s_τ = [r_τ < q/Q], r drawn from ``default_rng([seed, sample index])``
* ``CURRENT``: s_τ = q                       (a graded spike every step; Loihi 2)
* ``DELTA``:   s_1 = q, s_τ = 0 for τ > 1     (the delta encoding of a constant image: a sigma-delta
  network's first layer integrates it back into q; Loihi 2)
* ``SEQUENCE``: s_τ = q_τ for τ ≤ S, s_τ = 0 for S < τ ≤ T   (a sample that is itself a sequence
  x_1..x_S of S rows of the input's shape, q_τ = round(x_τ · Q): one graded spike per row, the row of
  step τ at step τ; an image read row by row, say; Loihi 2). Needs T ≥ S.

A sequence input (``InputFormat.sequence`` = S ≥ 1) takes samples of S rows, (N, S, *shape); its levels
are (N, S, *shape) and only ``SEQUENCE`` (or ``ANALOG``, float graphs) encodes them. Every other
encoding takes static samples (N, *shape) (``sequence`` = 0).
"""

from __future__ import annotations

import enum
from typing import Protocol

import numpy as np

from toolkit.errors import DataError

__all__ = ["Encoding", "InputFormat", "encode", "encode_sample", "input_levels", "quantize_input", "sample_shape"]


class Encoding(enum.Enum):
    """How a sample x ∈ [0, 1]^n becomes the input of the first synapse at step τ = 1..T.

    Input levels are quantised first: q = round(x · (2^bits − 1)), Q = 2^bits − 1.
    """

    ANALOG = "analog"      #: float graphs only: x itself
    RATE = "rate"          #: deterministic binary spikes, s_τ = ⌊τq/Q⌋ − ⌊(τ−1)q/Q⌋
    POISSON = "poisson"    #: Bernoulli spikes with P(s_τ = 1) = q/Q, seeded per sample
    CURRENT = "current"    #: graded spike with payload q at every step (Loihi 2 only)
    DELTA = "delta"        #: graded spike with payload q at step 1, nothing after (Loihi 2 only; the
    #: delta encoding of a constant image that a sigma-delta network integrates back into q)
    #: graded spike with payload q_τ (row τ of a sequence sample) at step τ ≤ S, nothing after (Loihi 2 only)
    SEQUENCE = "sequence"

    @property
    def graded(self) -> bool:
        """True if the payload is a multi-bit integer rather than a binary spike."""
        return self in (Encoding.CURRENT, Encoding.DELTA, Encoding.SEQUENCE)

    @property
    def sequential(self) -> bool:
        """True if it encodes sequence samples (S rows of the input's shape), not static ones."""
        return self is Encoding.SEQUENCE


class InputFormat(Protocol):
    """What encoding needs to know of a network input (``toolkit.ir.Input`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def bits(self) -> int: ...

    @property
    def sequence(self) -> int: ...   # S rows per sample (a sequence input), or 0 (a static one)


def sample_shape(inp: InputFormat) -> tuple[int, ...]:
    """The shape of one sample of ``inp``: (S, *shape) for a sequence input of S rows, else ``shape``."""
    return (int(inp.sequence), *inp.shape) if inp.sequence else tuple(inp.shape)


def quantize_input(x: np.ndarray, bits: int) -> np.ndarray:
    """Integer input levels 0..2^bits − 1 (int32) of samples ``x`` in [0, 1]."""
    x = np.asarray(x)
    if x.size:
        lo, hi = float(x.min()), float(x.max())  # NaN propagates into both
        if not (lo >= -1e-6 and hi <= 1 + 1e-6):
            raise DataError(f"inputs must lie in [0, 1] for spike encoding, got values in "
                            f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]{' and NaN' if np.isnan(x).any() else ''}; "
                            "rescale the data")
    y = x.astype(np.float64)  # x · Q is exact in float64 for float32 x and bits ≤ 16
    np.clip(y, 0.0, 1.0, out=y)
    y *= (1 << bits) - 1
    return np.rint(y, out=y).astype(np.int32)


def input_levels(x: np.ndarray, inp: InputFormat) -> np.ndarray:
    """Integer levels (N, *sample_shape(inp)) of samples ``x`` (N, ...) for the network input ``inp``: (N, *shape),
    or (N, S, *shape) for a sequence input of S rows.

    Raises ``DataError`` naming both shapes when the samples do not fit the input (a dataset other
    than the one the network was compiled for)."""
    x = np.asarray(x)
    shape = sample_shape(inp)
    need = int(np.prod(shape))
    if x.ndim == 0 or int(np.prod(x.shape[1:])) != need:
        what = f"sequences of {inp.sequence} rows of shape {tuple(inp.shape)}" if inp.sequence else \
            f"shape {tuple(inp.shape)}"
        raise DataError(f"samples of shape {tuple(x.shape[1:])} do not fit the network's input {inp.name!r} "
                        f"of {what} ({need} values); use the dataset the network was compiled for (--data)")
    return quantize_input(x.reshape(len(x), *shape), inp.bits)


def _sequence(q: np.ndarray, timesteps: int) -> np.ndarray:
    """(N, T, *row) int32: the rows q (N, S, *row) at steps 1..S, zeros after; ``DataError`` if S > T."""
    rows = q.shape[1]
    if rows > timesteps:
        raise DataError(f"sequence samples of {rows} rows need at least {rows} timesteps (one row per step), got "
                        f"{timesteps}; run with -T {rows} or more")
    out = np.zeros((q.shape[0], timesteps, *q.shape[2:]), np.int32)
    out[:, :rows] = q
    return out


def encode_sample(q: np.ndarray, timesteps: int, encoding: Encoding, *, bits: int, seed: int,
                  index: int) -> np.ndarray:
    """(T, *shape) int32 input of one sample with levels ``q`` (*shape), or for ``SEQUENCE`` (S, *shape), and
    dataset index ``index``."""
    Q = (1 << bits) - 1
    if encoding is Encoding.SEQUENCE:
        return _sequence(q[None], timesteps)[0]
    if encoding is Encoding.RATE:
        tau = np.arange(timesteps + 1, dtype=np.int64).reshape(-1, *([1] * q.ndim))
        counts = (tau * q.astype(np.int64)) // Q
        return np.diff(counts, axis=0).astype(np.int32)
    if encoding is Encoding.POISSON:
        r = np.random.default_rng([seed, index]).random((timesteps, *q.shape))
        return (r * Q < q).astype(np.int32)
    if encoding is Encoding.CURRENT:
        return np.broadcast_to(q.astype(np.int32), (timesteps, *q.shape)).copy()
    if encoding is Encoding.DELTA:
        out = np.zeros((timesteps, *q.shape), np.int32)
        out[:1] = q
        return out
    raise DataError(f"encoding {encoding.value!r} does not produce spikes (use rate, poisson, current, delta or "
                    "sequence)")


def encode(q: np.ndarray, timesteps: int, encoding: Encoding, *, bits: int, seed: int = 0,
           first_index: int = 0) -> np.ndarray:
    """(N, T, *shape) int32 inputs of samples ``q`` (N, *shape), or (N, S, *shape) for ``SEQUENCE``, whose dataset
    indices start at ``first_index``."""
    if encoding is Encoding.SEQUENCE:
        return _sequence(q, timesteps)
    if encoding is Encoding.RATE:  # vectorised over the batch: same formula as encode_sample
        Q = (1 << bits) - 1
        tau = np.arange(timesteps + 1, dtype=np.int64).reshape(1, -1, *([1] * (q.ndim - 1)))
        counts = (tau * q[:, None].astype(np.int64)) // Q
        return np.diff(counts, axis=1).astype(np.int32)
    if encoding is Encoding.DELTA:  # vectorised: same as encode_sample
        out = np.zeros((q.shape[0], timesteps, *q.shape[1:]), np.int32)
        out[:, :1] = q[:, None]
        return out
    return np.stack([encode_sample(q[i], timesteps, encoding, bits=bits, seed=seed, index=first_index + i)
                     for i in range(q.shape[0])]) if q.shape[0] else np.zeros((0, timesteps, *q.shape[1:]), np.int32)
