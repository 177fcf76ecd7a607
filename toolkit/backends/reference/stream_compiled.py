"""The stream engine's compiled path: the arrays the numba kernel (``_stream_kernel``) steps, built from a
``StreamPlan``, and the chunked loop around it (``stream.py``'s module doc states what is computed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from toolkit import ir
from toolkit.backends.base import learned_variables, weight_snapshot
from toolkit.backends.reference.encode import encode_batch
from toolkit.backends.reference.events import _cache_dir
from toolkit.backends.reference.fixed import bias_of
from toolkit.backends.reference.stream_plan import StreamPlan
from toolkit.learning.fixed import RANGES, WIDTH, FixedSynapse, LavaRandoms, engine_scale, split_impulse, synapse_seed
from toolkit.learning.rule import Plasticity

__all__ = ["CompiledStream"]

_VARS = {"x0": 0, "y0": 1, "x1": 2, "x2": 3, "y1": 4, "y2": 5, "y3": 6, "w": 7, "t": 8, "d": 9}
_TARGETS = (("dw", "w"), ("dd", "d"), ("dt", "t"))       # kernel targets 0, 1, 2
_DEPS = {"x0": 0, "y0": 1, "u": 2}
_THIRD_FACTOR_TAU = 65535.0
_CHUNK_SAMPLES = 256

_KERNEL: Any = None


def _numba(module: str = "numba") -> Any:
    """numba (or one of its modules), imported when the compiled path runs (numba ships no type information)."""
    import importlib

    return importlib.import_module(module)


def _kernel() -> Any:
    global _KERNEL
    if _KERNEL is None:
        numba = _numba()
        numba.config.CACHE_DIR = str(_cache_dir("_stream_kernel.py", "fixed.py"))
        from toolkit.backends.reference._stream_kernel import stream_kernel

        _KERNEL = stream_kernel
    return _KERNEL


def _typed(arrays: list[np.ndarray], ndim: int, dtype: Any = np.int64) -> Any:
    numba = _numba()
    out = _numba("numba.typed").List.empty_list(numba.types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C"))
    for a in arrays:
        out.append(np.ascontiguousarray(a, dtype=dtype))
    return out


def _program(rule: Plasticity) -> tuple[np.ndarray, np.ndarray]:
    """The rule as the kernel reads it: rows (target, dependency, m, e, factors) and factors (code, const, sgn,
    width), products in the rule's order per target."""
    rows, facs = [], []
    for k, (target, _) in enumerate(_TARGETS):
        r = getattr(rule, target)
        for p in (r.products if r else ()):
            m, e = engine_scale(p.scale)
            rows.append((k, _DEPS[p.dependency], m, e, len(p.factors)))
            facs.append([(_VARS[f.var], f.const, int(f.sgn), WIDTH[f.var]) for f in p.factors])
    width = max([len(f) for f in facs] + [1])
    fac = np.zeros((max(len(rows), 1), width, 4), np.int64)
    for i, f in enumerate(facs):
        if f:
            fac[i, :len(f)] = f
    return np.array(rows, np.int64).reshape(-1, 5), fac


def _trace_table(rule: Plasticity) -> np.ndarray:
    """(8, 3) float64: x whole, x fraction, x decay factor, x live; the same four rows for y."""
    out = np.zeros((8, 3))
    for base, names in ((0, ("x1", "x2")), (4, ("y1", "y2", "y3"))):
        third_y = base == 4 and rule.third_factor
        taus = np.array([_THIRD_FACTOR_TAU if third_y else rule.trace(n).tau for n in names], float)
        imp = [(0, 0) if third_y else split_impulse(rule.trace(n).impulse) for n in names]
        live = taus != 0
        factor = np.zeros_like(taus)
        factor[live] = np.exp(-1.0 / taus[live])
        out[base, :len(names)] = [w for w, _ in imp]
        out[base + 1, :len(names)] = [f for _, f in imp]
        out[base + 2, :len(names)] = factor
        out[base + 3, :len(names)] = live
    return out


class CompiledStream:
    """One streamed run in the compiled engine."""

    def __init__(self, p: StreamPlan, levels: Mapping[str, np.ndarray], timesteps: int, seed: int) -> None:
        g, tm = p.graph, p.timing
        self.p, self.levels, self.t_len = p, levels, timesteps
        self.n_samples = len(next(iter(levels.values())))
        self.total = self.n_samples * timesteps + tm.latency
        self.inputs = [n for n in p.order if isinstance(n, ir.Input)]
        self.groups: list[ir.LoihiLIF] = [n for n in p.order if isinstance(n, ir.LoihiLIF)]
        sig: list[ir.Input | ir.LoihiLIF] = [*self.inputs, *self.groups]
        self.sig_index = {n.name: i for i, n in enumerate(sig)}
        self.sig_start = np.concatenate([[0], np.cumsum([int(np.prod(n.shape)) for n in sig])]).astype(np.int64)
        self.spk = np.zeros(int(self.sig_start[-1]), np.int64)
        n_g = int(self.sig_start[-1] - self.sig_start[len(self.inputs)])
        self.state = {k: np.zeros(n_g, np.int64) for k in ("u", "v", "y1", "third", "acc_in")}
        self.g_sig = np.arange(len(self.inputs), len(sig), dtype=np.int64)
        self.g_off = np.array([tm.offsets[n.name] for n in self.groups], np.int64)
        self.g_par = np.array([self._group_params(n) for n in self.groups], np.int64).reshape(-1, 7)
        self.bias = np.concatenate([bias_of(n.bias_mant, n.bias_exp).astype(np.int64).ravel() for n in self.groups]
                                   or [np.zeros(0, np.int64)])
        self._synapses(g, tm, seed)
        self.counts = np.zeros((self.n_samples, int(np.prod(p.output.shape))), np.int64)

    @staticmethod
    def _group_params(n: ir.LoihiLIF) -> tuple[int, ...]:
        """(keep_u, keep_v, vth << 6, reset to zero, y1 impulse, y1 keep, learning neuron)."""
        y1 = (int(n.y1_impulse), 4096 - int(n.y1_decay), 1) if isinstance(n, ir.LoihiLearningLIF) else (0, 4096, 0)
        return (4096 - (int(n.du) + 1), 4096 - int(n.dv), int(n.vth) << 6, int(n.reset is ir.ResetMode.ZERO), *y1)

    def _synapses(self, g: ir.Graph, tm: Any, seed: int) -> None:
        syns = g.of_type(ir.Dense)
        gi = {n.name: i for i, n in enumerate(self.groups)}
        edges = [g.out_edges(s.name)[0] for s in syns]
        self.s_src = np.array([self.sig_index[g.source(s.name).name] for s in syns], np.int64)
        self.s_dst = np.array([gi[e.dst] for e in edges], np.int64)
        self.s_port = np.array([0 if e.port == "in" else 1 for e in edges], np.int64)
        self.s_delay = np.array([tm.delays[s.name] for s in syns], np.int64)
        self.s_gate = np.array([tm.gates.get(s.name, 0) for s in syns], np.int64)
        self.s_exp = np.array([int(s.weight_exp) for s in syns], np.int64)
        self.plastic = [(i, s) for i, s in enumerate(syns) if s.plastic is not None]
        self.fixed = {s.name: FixedSynapse.start(s.weight) for _, s in self.plastic}
        weights = [self.fixed[s.name].w if s.plastic is not None else s.weight.astype(np.int64) for s in syns]
        self.weights = _typed(weights, 2)
        for (_, s), w in zip(self.plastic, [self.weights[i] for i, _ in self.plastic], strict=True):
            self.fixed[s.name].w = w            # the kernel updates the typed list's array in place
        self.queues = _typed([np.zeros((int(d), s.weight.shape[0])) for d, s in zip(self.s_delay, syns, strict=True)],
                             2)
        self.s_learn = np.array([i for i, _ in self.plastic], np.int64)
        rules = [s.plastic for _, s in self.plastic]
        progs = [_program(r) for r in rules if r is not None]
        self.l_prog = _typed([a for a, _ in progs], 2)
        self.l_facs = _typed([b for _, b in progs], 3)
        st = [self.fixed[s.name] for _, s in self.plastic]
        self.l_t, self.l_d = _typed([x.t for x in st], 2), _typed([x.d for x in st], 2)
        self.l_x, self.l_y = _typed([x.x for x in st], 2), _typed([x.y for x in st], 2)
        self.l_tx = _typed([np.zeros(x.x.shape[1]) for x in st], 1)
        self.l_ty = _typed([np.zeros(x.y.shape[1]) for x in st], 1)
        self.l_par = _typed([np.array([r.t_epoch, int(r.third_factor), -1 if r.decimate is None else r.decimate, 0, 0])
                             for r in rules if r is not None], 1)
        self.l_trace = _typed([_trace_table(r) for r in rules if r is not None], 2, np.float64)
        self.randoms = [LavaRandoms(synapse_seed(seed, s.name)) for _, s in self.plastic]
        self.xh = _typed([np.zeros((r.t_epoch + 1, 2, x.x.shape[1])) for r, x in zip(rules, st, strict=True)
                          if r is not None], 3)
        self.yh = _typed([np.zeros((r.t_epoch + 1, 3, x.y.shape[1])) for r, x in zip(rules, st, strict=True)
                          if r is not None], 3)
        self.ranges = np.array([RANGES["w"], RANGES["d"], RANGES["t"]], np.int64)

    def _inputs(self, t0: int, steps: int) -> np.ndarray:
        """(steps, all input features) the Inputs send at global steps t0 + 1 .. t0 + steps."""
        cols = []
        ts = np.arange(t0 + 1, t0 + steps + 1)
        for inp in self.inputs:
            rel = ts - 1 - self.p.timing.offsets[inp.name]
            n, tau = np.floor_divide(rel, self.t_len), np.mod(rel, self.t_len)
            ok = (rel >= 0) & (n < self.n_samples)
            out = np.zeros((steps, int(np.prod(inp.shape))), np.int64)
            if ok.any():
                lo, hi = int(n[ok].min()), int(n[ok].max())
                enc = encode_batch(self.levels[inp.name][lo:hi + 1], self.t_len, inp, first_index=lo)
                out[ok] = np.asarray(enc[n[ok] - lo, tau[ok]]).reshape(int(ok.sum()), -1)
            cols.append(out)
        return np.ascontiguousarray(np.concatenate(cols, axis=1))

    def _randoms(self, t0: int, steps: int) -> tuple[Any, Any]:
        """Each plastic synapse's random draws for steps t0 + 1 .. t0 + steps (two trace advances per step, one
        synaptic draw per learning epoch), and its epoch counters reset for the chunk."""
        rand, syn = [], []
        for (_, s), rnd in zip(self.plastic, self.randoms, strict=True):
            assert s.plastic is not None
            te = s.plastic.t_epoch
            rand.append(rnd.trace_block(2 * steps))
            syn.append(rnd.synaptic_block((t0 + steps) // te - t0 // te))
        for par in self.l_par:
            par[3] = 0
        return _typed(rand, 2, np.float64), _typed(syn, 1, np.float64)

    def run(self, progress: bool, snapshot_steps: list[int] | None = None) -> list[dict[str, Any]]:
        """Step the whole stream; returns the weight snapshots after each of ``snapshot_steps``."""
        kernel = _kernel()
        chunk = _CHUNK_SAMPLES * self.t_len
        stops = sorted({s for s in snapshot_steps or () if 0 < s < self.total})
        snaps = []
        out = self.p.out_source
        st = self.state
        bar = tqdm(total=self.n_samples, desc="reference (stream)", unit="sample",
                   disable=None if progress else True, leave=False)
        with bar:
            t0 = 0
            while t0 < self.total:
                steps = min(chunk, self.total - t0, *(s - t0 for s in stops if s > t0))
                rand, syn = self._randoms(t0, steps)
                kernel(t0, steps, self.t_len, self.n_samples, self._inputs(t0, steps), self.sig_start, self.spk,
                       self.g_sig, self.g_off, self.g_par, self.bias, st["u"], st["v"], st["y1"], st["third"],
                       st["acc_in"], self.s_src, self.s_dst, self.s_port, self.s_delay, self.s_gate, self.s_exp,
                       self.s_learn, self.weights, self.queues, self.sig_index[out], self.p.timing.offsets[out],
                       self.counts, self.l_prog, self.l_facs, self.l_t, self.l_d, self.l_x, self.l_y, self.l_tx,
                       self.l_ty, self.l_par, self.l_trace, rand, syn, self.ranges, self.xh, self.yh)
                bar.update(min(self.n_samples, (t0 + steps) // self.t_len) - bar.n)
                t0 += steps
                if t0 in stops:
                    snaps.append(weight_snapshot(t0, self.t_len, {s.name: self.weights[i] for i, s in self.plastic}))
        return snaps

    def learned(self) -> dict[str, dict[str, np.ndarray]]:
        return {s.name: learned_variables(self.weights[i], self.l_t[k], self.l_d[k])
                for k, (i, s) in enumerate(self.plastic)}
