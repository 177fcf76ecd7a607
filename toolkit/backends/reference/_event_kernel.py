"""The numba kernel of the event-driven engine (``events.py`` documents it). Imported only when used."""

from __future__ import annotations

import numba
import numpy as np

from toolkit.backends.reference.fixed import if_update_int32, lif_update

__all__ = ["chain_kernel"]

@numba.njit(inline="always")
def _add_row(acc: np.ndarray, row: np.ndarray, s: int) -> None:  # pragma: no cover (compiled)
    """acc += s · row (s = 1: a binary spike)."""
    if s == 1:
        for j in range(acc.shape[0]):
            acc[j] = acc.dtype.type(acc[j] + row[j])
    else:
        for j in range(acc.shape[0]):
            acc[j] = acc.dtype.type(acc[j] + s * row[j])


@numba.njit(inline="always")
def _first_input(acc: np.ndarray, w: np.ndarray, mode: int, table_t: np.ndarray, levels: np.ndarray,
                 spikes_t: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Σ_i W_ji s_i over the input's non-zero s_i: rate-coded levels (mode 0) or given spikes (mode 1)."""
    no = acc.shape[0]
    acc[:] = 0
    for i in range(w.shape[0] // no):
        s = np.int64(table_t[levels[i]]) if mode == 0 else np.int64(spikes_t[i])
        if s != 0:
            _add_row(acc, w[i * no:(i + 1) * no], s)


@numba.njit(inline="always")
def _shift(acc: np.ndarray, e: int) -> None:  # pragma: no cover (compiled)
    """The weight exponent: left shift, or a right shift that floors."""
    if e > 0:
        for j in range(acc.shape[0]):
            acc[j] = acc[j] << e
    elif e < 0:
        for j in range(acc.shape[0]):
            acc[j] = acc[j] >> -e


@numba.njit(inline="always")
def _if_narrow(acc: np.ndarray, v: np.ndarray, bias: np.ndarray, vth: int, reset_zero: bool,
               flag: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Integrate-and-fire with |a| < 2^17 (the caller proved it): ``fixed.if_update_int32``, branch-free in int32."""
    th = np.int32(vth)
    for j in range(acc.shape[0]):
        cv, spk = if_update_int32(v[j], acc[j], bias[j], th, reset_zero)
        v[j] = cv
        flag[j] = spk


@numba.njit(inline="always")
def _lif(acc: np.ndarray, u: np.ndarray, v: np.ndarray, bias: np.ndarray, vth: int, keep_u: int, keep_v: int,
         reset_zero: bool, flag: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Every neuron of a layer through ``fixed.lif_update`` (the reference's one definition of the LIF step)."""
    if keep_u == 0 and keep_v == 4096:  # integrate-and-fire: with the decays as constants the compiler drops them
        for j in range(acc.shape[0]):
            _, cv, spk = lif_update(0, v[j], acc[j], bias[j], 0, 4096, vth, reset_zero)
            v[j] = cv
            flag[j] = spk
        return
    for j in range(acc.shape[0]):
        cu, cv, spk = lif_update(u[j], v[j], acc[j], bias[j], keep_u, keep_v, vth, reset_zero)
        u[j] = cu
        v[j] = cv
        flag[j] = spk


@numba.njit(inline="always")
def _collect(flag: np.ndarray, fired: np.ndarray) -> int:  # pragma: no cover (compiled)
    """The indices of the neurons that spiked, into ``fired``; returns how many."""
    n = 0
    for j in range(flag.shape[0]):
        fired[n] = j
        n += flag[j]
    return n


@numba.njit(parallel=True, cache=True, nogil=True)
def chain_kernel(mode: int, levels: np.ndarray, spikes: np.ndarray, drive: np.ndarray, timesteps: int,
                 table: np.ndarray, weights: np.ndarray, w_off: np.ndarray, n_in: np.ndarray, n_out: np.ndarray,
                 w_exp: np.ndarray, du: np.ndarray, dv: np.ndarray, vth: np.ndarray, reset_zero: np.ndarray,
                 narrow: np.ndarray, bias: np.ndarray, b_off: np.ndarray, acc_proto: np.ndarray,
                 scores: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Every sample (in parallel) through every step and layer; adds the last layer's spikes to ``scores``.
    Synaptic input is Σ_i W_ji s_i over the non-zero s_i only, then the weight exponent.

    ``mode`` 0: rate-coded input from ``levels`` (B, n_in) and the spike ``table`` (T, levels); 1:
    input spikes ``spikes`` (B, T, n_in); 2: the first layer's synaptic input ``drive`` (B, n_out[0]),
    the same every step. Sums accumulate in ``acc_proto``'s dtype (int32 where the caller proved
    they fit). ``narrow[layer]``: the caller proved |synaptic input| < 2^17 for an integrate-and-fire layer,
    which then runs ``fixed.if_update_int32`` (8 SIMD lanes, not 4).

    Indexing: inner loops index slice views with the loop variable. numba cannot prove ``off + j``
    non-negative and then checks for negative indices on every access, which stops LLVM from
    vectorising the loop (measured: 6-8x slower).
    """
    n_layers = n_out.shape[0]
    width = max(n_out.max(), n_in.max())
    for b in numba.prange(scores.shape[0]):
        u_all = np.zeros(bias.shape[0], np.int64)
        v_all = np.zeros(bias.shape[0], np.int32)  # v is clipped to its 24-bit register
        acc_all = np.zeros(width, acc_proto.dtype)
        fired = np.zeros(width + 1, np.int64)  # the previous layer's neurons that spiked in this step
        flag_all = np.zeros(width, np.int32)
        n_fired = 0
        for t in range(timesteps):
            for layer in range(n_layers):
                no = n_out[layer]
                acc = acc_all[:no]
                w = weights[w_off[layer]:w_off[layer] + n_in[layer] * no]
                if layer == 0 and mode == 2:
                    acc[:] = drive[b]
                elif layer == 0:
                    _first_input(acc, w, mode, table[t], levels[b], spikes[b, t] if mode == 1 else spikes[0, 0])
                    _shift(acc, w_exp[0])
                else:
                    acc[:] = 0
                    for k in range(n_fired):
                        _add_row(acc, w[fired[k] * no:(fired[k] + 1) * no], 1)
                    _shift(acc, w_exp[layer])
                # the neuron group, then its spikes as the next layer's events
                lo, hi = b_off[layer], b_off[layer] + no
                flag = flag_all[:no]
                if narrow[layer]:
                    _if_narrow(acc, v_all[lo:hi], bias[lo:hi], vth[layer], reset_zero[layer], flag)
                else:
                    _lif(acc, u_all[lo:hi], v_all[lo:hi], bias[lo:hi], vth[layer], 4096 - (du[layer] + 1),
                         4096 - dv[layer], reset_zero[layer], flag)
                n_fired = _collect(flag, fired)
                if layer == n_layers - 1:
                    for j in range(no):
                        scores[b, j] += flag[j]
