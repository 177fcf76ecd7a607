"""The numba kernel of the stream engine's compiled path (``stream.py`` documents the engine and the layout
of the arrays). Imported only when used. Every operation mirrors the NumPy definitions it replaces:
``fixed.lif_update`` (called as is), the learning neuron's y1 and third factor (``stream._Stream``), and the
learning engine (``toolkit.learning.fixed``), including NumPy's int32 wrap-around in a product."""

from __future__ import annotations

import numba
import numpy as np

from toolkit.backends.reference.fixed import TRACE_MAX, learning_trace, lif_update, third_part

__all__ = ["stream_kernel"]

_ACC_HI = (1 << 15) - 1
_ACC_LO = -(1 << 15) - 1
# factor codes (stream.py: _VARS)
_X0, _Y0, _X1, _X2, _Y1, _Y2, _Y3, _W, _T, _D = range(10)


@numba.njit
def _i32(x: int) -> int:  # pragma: no cover (compiled)
    """x wrapped into int32, as NumPy's int32 arithmetic does."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@numba.njit
def _impulse(z: int, r: int, whole: int, frac: int) -> int:  # pragma: no cover (compiled)
    out = z + whole + (1 if r < frac else 0)
    return min(max(out, 0), TRACE_MAX)


@numba.njit
def _decayed(z: int, factor: float, r: float) -> int:  # pragma: no cover (compiled)
    v = factor * z
    f = np.floor(v)
    return int(f) + (1 if r < v - f else 0)


@numba.njit
def _history(hist: np.ndarray, start: np.ndarray, factor: np.ndarray, live: np.ndarray, whole: np.ndarray,
             frac: np.ndarray, t_spike: np.ndarray, steps: int, r_decay: float,
             r_impulse: int) -> None:  # pragma: no cover (compiled)
    """``fixed._history`` into hist (steps + 1, rows, n)."""
    rows, n = start.shape
    hist[0] = start
    for s in range(1, steps + 1):
        for r in range(rows):
            for j in range(n):
                hist[s, r, j] = _decayed(hist[s - 1, r, j], factor[r], r_decay) if live[r] else 0
        for j in range(n):
            if t_spike[j] == s:
                for r in range(rows):
                    hist[s, r, j] = _impulse(hist[s, r, j], r_impulse, whole[r], frac[r])


@numba.njit
def _factor(code: int, const: int, sgn: bool, dep: int, i: int, j: int, xh: np.ndarray, yh: np.ndarray,
            tx: np.ndarray, ty: np.ndarray, w: np.ndarray, t: np.ndarray, d: np.ndarray) -> int:  # pragma: no cover
    """``engine.factor_value`` of one synapse (post i, pre j)."""
    if code >= _W:
        v = (w[i, j] if code == _W else (t[i, j] if code == _T else d[i, j])) + const
        if sgn:
            return 1 if v > 0 else (-1 if v < 0 else 0)
        return v
    if code == _X0:
        return (1 if tx[j] > 0 else 0) + const
    if code == _Y0:
        return (1 if ty[i] > 0 else 0) + const
    if code <= _X2:
        row = code - _X1
        at = tx[j] if dep == 0 else (ty[i] if dep == 1 else xh.shape[0] - 1)
        return xh[at, row, j] + const
    row = code - _Y1
    at = tx[j] if dep == 0 else (ty[i] if dep == 1 else yh.shape[0] - 1)
    return yh[at, row, i] + const


@numba.njit
def _product(p: int, prog: np.ndarray, facs: np.ndarray, i: int, j: int, xh: np.ndarray, yh: np.ndarray,
             tx: np.ndarray, ty: np.ndarray, w: np.ndarray, t: np.ndarray, d: np.ndarray,
             u: int) -> int:  # pragma: no cover (compiled)
    """``fixed._product`` of product p at synapse (i, j): None-like 0 where its dependency is off."""
    dep = prog[p, 1]
    cur = (1 if tx[j] > 0 else 0) if dep == 0 else ((1 if ty[i] > 0 else 0) if dep == 1 else u)
    if cur == 0:
        return 0
    width = 0
    for k in range(prog[p, 4]):
        fw = facs[p, k, 3]
        width += fw
        v = _factor(facs[p, k, 0], facs[p, k, 1], facs[p, k, 2] != 0, dep, i, j, xh, yh, tx, ty, w, t, d)
        v = min(max(v, -(1 << fw)), (1 << fw) - 1)
        cur = _i32(cur * v)
    width += 4
    cur = _i32(cur * prog[p, 2])
    sh = width - 15
    if sh > 0:
        cur = cur >> sh
    cur = _i32(cur << (prog[p, 3] + 7))
    return min(max(cur, _ACC_LO), _ACC_HI)


@numba.njit
def _sides(prog: np.ndarray, facs: np.ndarray, xh: np.ndarray, yh: np.ndarray, tx: np.ndarray,
           ty: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover (compiled)
    """Each product's presynaptic and postsynaptic parts, per read time τ = 0..T_epoch: xa[p, τ, j] = Π over its
    x-side factors (x0, x1, x2) of the clipped factor value at τ, ya[p, τ, i] likewise over y0..y3, and
    ``fast[p]``: its factors' widths add up to at most 27 bits, so no int32 product can wrap and the factors may
    be multiplied in any order (products that could wrap go through ``_product``, in the engine's order)."""
    n_p, te1 = prog.shape[0], xh.shape[0]
    xa = np.ones((n_p, te1, xh.shape[2]), np.int64)
    ya = np.ones((n_p, te1, yh.shape[2]), np.int64)
    fast = np.zeros(n_p, np.bool_)
    for p in range(n_p):
        width = 0
        for k in range(prog[p, 4]):
            code, const, fw = facs[p, k, 0], facs[p, k, 1], facs[p, k, 3]
            width += fw
            lo, hi = -(1 << fw), (1 << fw) - 1
            if code in (_X0, _X1, _X2):
                for tau in range(te1):
                    for j in range(xh.shape[2]):
                        v = ((1 if tx[j] > 0 else 0) if code == _X0 else xh[tau, code - _X1, j]) + const
                        xa[p, tau, j] *= min(max(v, lo), hi)
            elif code < _W:
                for tau in range(te1):
                    for i in range(yh.shape[2]):
                        v = ((1 if ty[i] > 0 else 0) if code == _Y0 else yh[tau, code - _Y1, i]) + const
                        ya[p, tau, i] *= min(max(v, lo), hi)
        fast[p] = width <= 27
    return xa, ya, fast


@numba.njit
def _fast_product(p: int, prog: np.ndarray, facs: np.ndarray, i: int, j: int, tau: int, xa: np.ndarray,
                  ya: np.ndarray, w: np.ndarray, t: np.ndarray, d: np.ndarray) -> int:  # pragma: no cover
    """``_product`` of a product whose factors cannot wrap (``_sides``): the precomputed sides times its synaptic
    factors, then the scale, the product shift and the accumulator's format."""
    cur = xa[p, tau, j] * ya[p, tau, i]
    width = 4
    for k in range(prog[p, 4]):
        code, fw = facs[p, k, 0], facs[p, k, 3]
        width += fw
        if code >= _W:
            v = (w[i, j] if code == _W else (t[i, j] if code == _T else d[i, j])) + facs[p, k, 1]
            if facs[p, k, 2] != 0:
                v = 1 if v > 0 else (-1 if v < 0 else 0)
            cur *= min(max(v, -(1 << fw)), (1 << fw) - 1)
    cur *= prog[p, 2]
    if width > 15:
        cur = cur >> (width - 15)
    cur = _i32(cur << (prog[p, 3] + 7))
    return min(max(cur, _ACC_LO), _ACC_HI)


@numba.njit
def _skip_safe(w: np.ndarray, d: np.ndarray, t: np.ndarray, ranges: np.ndarray) -> bool:  # pragma: no cover
    """Every weight and delay within the learning engine's ranges and no tag at the bottom of its range (−257, the
    one in-range value that ``old << 7`` saturates from): then a synapse whose products are all zero keeps its
    registers exactly, and ``_epoch`` may skip it."""
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            if w[i, j] < ranges[0, 0] or w[i, j] > ranges[0, 1] or d[i, j] < ranges[1, 0] or d[i, j] > ranges[1, 1] \
                    or t[i, j] == ranges[2, 0]:
                return False
    return True


@numba.njit
def _epoch(prog: np.ndarray, facs: np.ndarray, w: np.ndarray, t: np.ndarray, d: np.ndarray, xh: np.ndarray,  # noqa: C901
           yh: np.ndarray, tx: np.ndarray, ty: np.ndarray, u: int, r_syn: float,
           ranges: np.ndarray, skip: bool) -> bool:  # pragma: no cover (compiled)
    """``fixed._epoch``'s synaptic updates, in place. ``prog`` rows: (target 0 w / 1 d / 2 t, dependency 0 x0 /
    1 y0 / 2 u, m, e, number of factors); ``facs`` [product, k] = (code, const, sgn, width). A synapse's update
    reads only its own w, t and d, so each synapse is updated on its own, every target from the old values.
    (One loop nest on purpose, hence the noqa: split into functions per target it ran 2x slower, measured.)

    Skipped, exactly: a synapse whose every product is zero because its presynaptic side (``xa``, over every read
    time) or its postsynaptic side (``ya``) is zero. Such a synapse's accumulator stays ``old << 7``, which rounds
    and clips back to ``old`` when ``old`` is within range and no tag sits at −257, where ``old << 7`` saturates
    (``skip``: ``_skip_safe``, checked by the caller). A zero side is zero in int32 too:
    the engine's wrapped product is congruent to the int64 one modulo 2^32, and 2^64 divides a wrapped-to-zero int64
    side. Returns whether a tag was written at −257 (the caller then stops skipping)."""
    n_post, n_pre = w.shape
    te = xh.shape[0] - 1
    xa, ya, fast = _sides(prog, facs, xh, yh, tx, ty)
    has = np.zeros(3, np.bool_)
    any_x = False
    for j in range(n_pre):
        any_x = any_x or tx[j] > 0
    for p in range(prog.shape[0]):
        has[prog[p, 0]] = True
    floor_tag = False
    cols = np.empty(n_pre if skip else 0, np.int64)   # when skipping: the columns with a non-zero x side
    n_cols = n_pre
    if skip:
        n_cols = 0
        for j in range(n_pre):
            nz = False
            for p in range(prog.shape[0]):
                for tau in range(te + 1):
                    nz = nz or xa[p, tau, j] != 0
            if nz:
                cols[n_cols] = j
                n_cols += 1
    new = np.zeros(3, np.int64)
    for i in range(n_post):
        if skip or not has[2]:     # a row none of whose products can run stays as it is
            live = False
            for p in range(prog.shape[0]):
                dep = prog[p, 1]
                live = live or (any_x if dep == 0 else (ty[i] > 0 if dep == 1 else u != 0))
            if not live:
                continue
        if skip:           # a row whose postsynaptic sides are all zero stays as it is
            live = False
            for p in range(prog.shape[0]):
                for tau in range(te + 1):
                    live = live or ya[p, tau, i] != 0
            if not live:
                continue
        for jj in range(n_cols):
            j = cols[jj] if skip else jj
            changed = False
            for target in range(3):
                if not has[target]:
                    continue
                old = w[i, j] if target == 0 else (d[i, j] if target == 1 else t[i, j])
                acc = old << 7
                active = target == 2 and not skip   # unless skipping, a tag may sit at -257: recompute
                for p in range(prog.shape[0]):
                    if prog[p, 0] != target:
                        continue
                    dep = prog[p, 1]
                    tau = tx[j] if dep == 0 else (ty[i] if dep == 1 else te)
                    if (tau if dep != 2 else u) == 0:
                        continue      # the product is zero: an exact register rounds to itself
                    active = True
                    if fast[p]:
                        v = _fast_product(p, prog, facs, i, j, tau, xa, ya, w, t, d)
                    else:
                        v = _product(p, prog, facs, i, j, xh, yh, tx, ty, w, t, d, u)
                    acc = min(max(acc + v, _ACC_LO), _ACC_HI)
                if not active:
                    new[target] = old
                    continue
                changed = True
                if target == 1:
                    acc = max(0, acc)
                q = acc / 128.0
                f = np.floor(q)
                val = (int(f) + (1 if r_syn < q - f else 0)) * 128
                new[target] = min(max(val >> 7, ranges[target, 0]), ranges[target, 1])
            if changed:
                if has[0]:
                    w[i, j] = new[0]
                if has[1]:
                    d[i, j] = new[1]
                if has[2]:
                    t[i, j] = new[2]
                    floor_tag = floor_tag or new[2] == ranges[2, 0]
    return floor_tag


@numba.njit
def _deliver(t: int, period: int, sig_start: np.ndarray, g_sig: np.ndarray, g_off: np.ndarray, s_dst: np.ndarray,
             s_port: np.ndarray, s_delay: np.ndarray, s_gate: np.ndarray, queues, acc_in: np.ndarray,
             third: np.ndarray) -> None:  # pragma: no cover (compiled)
    """What the synapses deliver at step t, summed into each group's in and third ports."""
    acc_in[:] = 0
    third[:] = 0
    for s in range(s_dst.shape[0]):
        g = s_dst[s]
        if (t - 1 - g_off[g]) % period < s_gate[s]:
            continue
        row = queues[s][t % s_delay[s]]
        base = sig_start[g_sig[g]] - sig_start[g_sig[0]]
        tgt = acc_in if s_port[s] == 0 else third
        for i in range(row.shape[0]):
            tgt[base + i] += row[i]


@numba.njit
def _groups(t: int, period: int, sig_start: np.ndarray, spk: np.ndarray, g_sig: np.ndarray, g_off: np.ndarray,
            g_par: np.ndarray, bias: np.ndarray, u: np.ndarray, v: np.ndarray, y1: np.ndarray,
            acc_in: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Every neuron group's step t: window reset, ``fixed.lif_update``, a learning group's y1 trace."""
    for g in range(g_sig.shape[0]):
        a, b = sig_start[g_sig[g]], sig_start[g_sig[g] + 1]
        base = a - sig_start[g_sig[0]]
        if (t - 1 - g_off[g]) % period == 0:
            u[base:base + b - a] = 0
            v[base:base + b - a] = 0
            y1[base:base + b - a] = 0
        zero = g_par[g, 3] != 0
        for i in range(b - a):
            uu, vv, s = lif_update(u[base + i], v[base + i], acc_in[base + i], bias[base + i], g_par[g, 0],
                                   g_par[g, 1], g_par[g, 2], zero)
            u[base + i] = uu
            v[base + i] = vv
            spk[a + i] = 1 if s else 0
            if g_par[g, 6]:
                y1[base + i] = learning_trace(y1[base + i], 1 if s else 0, g_par[g, 5], g_par[g, 4])


@numba.njit
def _outputs(t: int, sig_start: np.ndarray, spk: np.ndarray, s_src: np.ndarray, s_delay: np.ndarray,
             s_exp: np.ndarray, weights, queues, active: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Each synapse reads its source's spikes of step t into its queue (delivered s_delay steps later)."""
    for s in range(s_src.shape[0]):
        w = weights[s]
        row = queues[s][t % s_delay[s]]
        a = sig_start[s_src[s]]
        e = s_exp[s]
        n_on = 0
        for j in range(w.shape[1]):
            if spk[a + j] != 0:
                active[n_on] = j
                n_on += 1
        for i in range(w.shape[0]):
            tot = 0
            for m in range(n_on):
                tot += w[i, active[m]] * spk[a + active[m]]
            row[i] = tot << e if e > 0 else tot >> (-e)


@numba.njit(nogil=True, cache=True)
def stream_kernel(t0: int, steps: int, period: int, n_samples: int, inp: np.ndarray, sig_start: np.ndarray,
                  spk: np.ndarray,
                  g_sig: np.ndarray, g_off: np.ndarray, g_par: np.ndarray, bias: np.ndarray, u: np.ndarray,
                  v: np.ndarray, y1: np.ndarray, third: np.ndarray, acc_in: np.ndarray,
                  s_src: np.ndarray, s_dst: np.ndarray, s_port: np.ndarray, s_delay: np.ndarray,
                  s_gate: np.ndarray, s_exp: np.ndarray, s_learn: np.ndarray, weights, queues,
                  out_sig: int, out_off: int, counts: np.ndarray,
                  l_prog, l_facs, l_t, l_d, l_x, l_y, l_tx, l_ty, l_par, l_trace, l_rand, l_syn, l_ranges,
                  xh_buf, yh_buf) -> None:  # pragma: no cover (compiled)
    """Global steps t0 + 1 .. t0 + steps of a stream (see stream.py for every array)."""
    active = np.empty(spk.shape[0], np.int64)
    for li in range(len(l_prog)):     # once per call: registers in range stay so (every update clips); a tag that
        l_par[li][4] = 1 if _skip_safe(weights[s_learn[li]], l_d[li], l_t[li], l_ranges) else 0   # reaches −257: _epoch
    for k in range(steps):
        t = t0 + k + 1
        spk[:inp.shape[1]] = inp[k]            # the Inputs' spikes of this step, precomputed in global time
        _deliver(t, period, sig_start, g_sig, g_off, s_dst, s_port, s_delay, s_gate, queues, acc_in, third)
        _groups(t, period, sig_start, spk, g_sig, g_off, g_par, bias, u, v, y1, acc_in)
        rel = t - 1 - out_off                   # the Output counts its group's spikes in that group's windows
        if rel >= 0 and rel // period < n_samples:
            a = sig_start[out_sig]
            counts[rel // period] += spk[a:a + counts.shape[1]]
        _outputs(t, sig_start, spk, s_src, s_delay, s_exp, weights, queues, active)  # before this step's learning
        for li in range(len(l_prog)):
            s = s_learn[li]
            _learn_step(t, k, s, spk, sig_start, s_src, s_dst, g_sig, y1, third, weights[s], l_prog[li],
                        l_facs[li], l_t[li], l_d[li], l_x[li], l_y[li], l_tx[li], l_ty[li], l_par[li], l_trace[li],
                        l_rand[li], l_syn[li], l_ranges, xh_buf[li], yh_buf[li])


@numba.njit
def _learn_step(t: int, k: int, s: int, spk: np.ndarray, sig_start: np.ndarray,  # noqa: C901  (see _epoch)
                s_src: np.ndarray,
                s_dst: np.ndarray, g_sig: np.ndarray, y1: np.ndarray, third: np.ndarray, w: np.ndarray,
                prog: np.ndarray, facs: np.ndarray, tt: np.ndarray, dd: np.ndarray, x: np.ndarray, y: np.ndarray,
                tx: np.ndarray, ty: np.ndarray, par: np.ndarray, trace: np.ndarray, rand: np.ndarray,
                syn: np.ndarray, ranges: np.ndarray, xh: np.ndarray, yh: np.ndarray) -> None:  # pragma: no cover
    """``FixedLearner.step`` of plastic synapse s at global step t (k: the step's index in the chunk).
    ``par``: (t_epoch, third factor, decimate or −1, epochs so far in the chunk, registers in range); ``trace``
    rows: x whole, x frac, x decay factor, x live, then the same for y (as float64); ``rand`` (2·steps, 4): the
    trace randoms of the chunk's advances (x decay, x impulse, y decay, y impulse), ``syn`` the chunk's synaptic
    randoms."""
    t_epoch = par[0]
    b = sig_start[g_sig[s_dst[s]]]
    a = sig_start[s_src[s]]
    within = t % t_epoch
    if within == 0:
        within = t_epoch
    for j in range(x.shape[1]):
        if spk[a + j] != 0:
            if tx[j] > 0:
                for r in range(2):
                    x[r, j] = _impulse(x[r, j], 0, int(trace[0, r]), int(trace[1, r]))
            tx[j] = within
    y_imp = int(rand[2 * k, 3])
    for i in range(y.shape[1]):
        if spk[b + i] != 0:
            if ty[i] > 0:
                for r in range(3):
                    y[r, i] = _impulse(y[r, i], y_imp, int(trace[4, r]), int(trace[5, r]))
            ty[i] = within
    if par[1]:
        base = b - sig_start[g_sig[0]]
        for i in range(y.shape[1]):
            y[0, i] = y1[base + i]
            y[1, i] = third_part(third[base + i])
            y[2, i] = third_part(-third[base + i])
    if t % t_epoch == 0:
        r = rand[2 * k + 1]
        r_syn = syn[par[3]]
        par[3] += 1
        _history(xh, x, trace[2, :2], trace[3, :2] != 0, trace[0, :2].astype(np.int64),
                 trace[1, :2].astype(np.int64), tx, t_epoch, r[0], int(r[1]))
        _history(yh, y, trace[6, :3], trace[7, :3] != 0, trace[4, :3].astype(np.int64),
                 trace[5, :3].astype(np.int64), ty, t_epoch, r[2], int(r[3]))
        u = 1 if par[2] >= 0 and (t // t_epoch) % (1 << par[2]) == 0 else 0
        if _epoch(prog, facs, w, tt, dd, xh[:t_epoch + 1], yh[:t_epoch + 1], tx, ty, u, r_syn, ranges, par[4] != 0):
            par[4] = 0           # a tag reached −257: no more skipping in this call
        x[:] = xh[t_epoch]
        if not par[1]:
            y[:] = yh[t_epoch]
        tx[:] = 0
        ty[:] = 0
