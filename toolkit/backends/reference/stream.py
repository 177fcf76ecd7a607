"""The stream engine: a graph run the way the chip runs it, every sample after the other in one global time,
with plastic synapses learning as Loihi's learning engine does (Lava 0.10's fixed-point models, bit for bit).

The other engines compute the IR's time, each sample from a zero state. A network that learns cannot be
run that way: its weights change at the end of every learning epoch, and an epoch counts the chip's global
steps, not a sample's. This engine therefore runs the schedule of ``toolkit.ir.timing`` (the one the Lava
lowering builds): input or group X handles step τ of sample n at global step t = n·T + o_X + τ and resets
its state when t ≡ o_X + 1 (mod T), before and after its windows too (a group with a bias can spike there,
and a plastic synapse sees it); a synapse delivers after its chip delay p ≥ 1 (a gated one drops what
arrives in the first d steps of its target's window); after the last sample it runs on for the schedule's
latency, with zero input, as Lava does. For a graph without plastic synapses its output counts equal the
other engines' (the tests check it on every conformance case).

Per global step t: every Input and neuron group takes what its synapses deliver at t (all computed at t − p
or earlier) and steps; then each synapse reads its source's output of step t. A plastic Dense first computes
its output with the weights it has (delivered at t + 1), then gives the learning engine
(``toolkit.learning.fixed.FixedLearner``) its pre spikes, its ``LoihiLearningLIF`` group's spikes of step t
and, for a third-factor rule, the y1..y3 the group sends: y1 its spike trace, y2 and y3 the positive and
negative parts of what its ``third`` port received at t, each clipped to 0..127. At the end of an epoch the
engine updates the weights. Each plastic synapse rounds with the random streams of
``synapse_seed(seed, name)``, as the lowering seeds Lava's.

Samples run one at a time (learning is sequential), so the cost is per step. Two implementations compute
the same integers: ``_Stream`` in NumPy, for every graph the reference runs, and a compiled one (numba,
``_stream_kernel``) for graphs of Inputs with binary spikes (rate, Poisson), Dense synapses (fixed or plastic)
and LoihiLIF / LoihiLearningLIF groups, which is what on-chip learning networks are made of; ``run_stream``
picks the compiled one where it applies and numba is installed. The compiled path keeps every group's state
in flat arrays (inputs first, then groups in step order), each synapse's queue and weights in typed lists,
each plastic synapse's rule as a small program (``_program``: one row per product, its factors' codes,
constants, signs and widths), and draws each chunk's random numbers from the same seeded NumPy generators
in blocks (a block of k draws equals k single draws). ``tests/conformance`` runs both on every case and
``nfa bench learn`` measures them against Lava.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from toolkit import ir
from toolkit.backends.base import RunResult, input_batches, learned_variables, weight_snapshot
from toolkit.backends.reference.core import MODELS, NodeModel
from toolkit.backends.reference.encode import encode_batch
from toolkit.backends.reference.fixed import learning_trace, shift, third_part
from toolkit.backends.reference.stream_plan import StreamPlan, compiled_applies, plan_stream
from toolkit.errors import LoweringError
from toolkit.learning.fixed import FixedLearner, FixedSynapse, synapse_seed

__all__ = ["StreamPlan", "compiled_applies", "plan_stream", "run_stream"]

_CHUNK = 256   # samples encoded at a time


@dataclass
class _Synapse:
    node: ir.Synapse
    src: str                 # the node whose output it reads (a group, an Input or a reshape)
    dst: str
    port: str
    delay: int               # chip steps, ≥ 1
    gate: int                # drops what arrives in the first ``gate`` steps of the target's window
    dst_offset: int
    queue: list[np.ndarray | None] = field(default_factory=list)
    learner: FixedLearner | None = None


class _Stream:
    """The state of one streamed run: every node's state, every synapse's queue, the learners."""

    def __init__(self, p: StreamPlan, levels: Mapping[str, np.ndarray], timesteps: int, seed: int) -> None:
        self.p, self.levels, self.t_len = p, levels, timesteps
        g, tm = p.graph, p.timing
        self.n_samples = len(next(iter(levels.values())))
        self.models: dict[str, NodeModel] = {n.name: MODELS.of(n) for n in p.order  # type: ignore[misc]
                                             if not isinstance(n, ir.Input)}
        self.state: dict[str, Any] = {name: m.start(g.node(name), 1) for name, m in self.models.items()}
        self.offsets = {n.name: tm.offsets[n.name] if n.name in tm.offsets else tm.offsets[g.signal_source(n.name).name]
                        for n in p.order}
        self.groups = [n for n in p.order if isinstance(n, ir.NeuronGroup)]
        self.learning = {n.name: np.zeros(n.shape, np.int64) for n in self.groups
                         if isinstance(n, ir.LoihiLearningLIF)}
        self.third: dict[str, np.ndarray] = {}
        self.synapses = [self._synapse(s, seed) for s in g.of_type(ir.Synapse)]
        self.into: dict[tuple[str, str], list[_Synapse]] = {}
        for s in self.synapses:
            self.into.setdefault((s.dst, s.port), []).append(s)
        self.counts = np.zeros((self.n_samples, int(np.prod(p.output.shape))), np.int64)
        self._enc: dict[str, tuple[int, np.ndarray]] = {}

    def _synapse(self, s: ir.Synapse, seed: int) -> _Synapse:
        g, tm = self.p.graph, self.p.timing
        edge = g.out_edges(s.name)[0]
        syn = _Synapse(node=s, src=g.source(s.name).name, dst=edge.dst, port=edge.port, delay=tm.delays[s.name],
                       gate=tm.gates.get(s.name, 0), dst_offset=tm.offsets[edge.dst])
        syn.queue = [None] * syn.delay
        if s.plastic is not None:
            assert isinstance(s, ir.Dense)
            syn.learner = FixedLearner(s.plastic, FixedSynapse.start(s.weight),
                                       rng_seed=synapse_seed(seed, s.name))
        return syn

    def input_at(self, inp: ir.Input, t: int) -> np.ndarray:
        """What Input ``inp`` sends at global step t (zeros outside its samples' windows)."""
        n, tau = divmod(t - 1 - self.offsets[inp.name], self.t_len)
        if not 0 <= n < self.n_samples:
            return np.zeros((1, *inp.shape), np.float32)
        first, block = self._enc.get(inp.name, (-1, np.zeros(0)))
        if not first <= n < first + len(block):
            first = n - n % _CHUNK
            block = np.ascontiguousarray(encode_batch(self.levels[inp.name][first:first + _CHUNK], self.t_len, inp,
                                                      first_index=first))
            self._enc[inp.name] = (first, block)
        return block[n - first, tau][None]

    def delivered(self, name: str, port: str, t: int, shape: tuple[int, ...]) -> np.ndarray:
        """The sum of what the synapses into ``name``'s ``port`` deliver at global step t."""
        total = np.zeros((1, int(np.prod(shape))), np.int64)
        for s in self.into.get((name, port), ()):
            v = s.queue[t % s.delay]
            if v is not None and (t - 1 - s.dst_offset) % self.t_len >= s.gate:
                total += v.reshape(1, -1)
        return total

    def step(self, t: int) -> None:
        out: dict[str, np.ndarray] = {}
        for n in self.p.order:
            if isinstance(n, ir.Input):
                out[n.name] = self.input_at(n, t)
            elif isinstance(n, ir.NeuronGroup):
                out[n.name] = self._group(n, t)
            else:
                out[n.name] = self.models[n.name].step(n, self.state[n.name], out[self.p.graph.source(n.name).name])
        k, tau = divmod(t - 1 - self.offsets[self.p.out_source], self.t_len)
        if 0 <= k < self.n_samples:
            self.counts[k] += np.asarray(out[self.p.out_source]).reshape(-1).astype(np.int64)
        for s in self.synapses:
            s.queue[t % s.delay] = self._synapse_step(s, out)

    def _group(self, n: ir.NeuronGroup, t: int) -> np.ndarray:
        if (t - 1 - self.offsets[n.name]) % self.t_len == 0:
            self.state[n.name] = self.models[n.name].start(n, 1)
            if n.name in self.learning:
                self.learning[n.name][...] = 0
        a = self.delivered(n.name, "in", t, n.shape)
        s = self.models[n.name].step(n, self.state[n.name], a)
        if isinstance(n, ir.LoihiLearningLIF):
            y1 = self.learning[n.name]
            y1[...] = learning_trace(y1, s.reshape(n.shape).astype(np.int64), 4096 - int(n.y1_decay), int(n.y1_impulse))
            self.third[n.name] = self.delivered(n.name, "third", t, n.shape).reshape(-1)
        return s

    def _synapse_step(self, s: _Synapse, out: Mapping[str, np.ndarray]) -> np.ndarray:
        x = out[s.src]
        if s.learner is None:
            return MODELS.of(s.node).step(s.node, None, x)  # type: ignore[union-attr]
        pre = np.asarray(x).reshape(-1) != 0
        w = s.learner.state.w
        a = shift(w[:, pre].sum(axis=1)[None], int(s.node.weight_exp))
        post = np.asarray(out[s.dst]).reshape(-1) != 0
        y = None
        if s.learner.rule.third_factor:
            third = self.third[s.dst]
            y = np.stack([self.learning[s.dst].reshape(-1), third_part(third), third_part(-third)])
        s.learner.step(pre, post, y)
        return a

    def learned(self) -> dict[str, dict[str, np.ndarray]]:
        return {s.node.name: learned_variables(s.learner.state.w, s.learner.state.t, s.learner.state.d)
                for s in self.synapses if s.learner is not None}


def run_stream(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray], *, timesteps: int | None = None,
               seed: int = 0, progress: bool = False, compiled: bool | None = None,
               snapshot_at: Iterable[int] = ()) -> RunResult:
    """Stream samples ``x`` (as ``simulate`` takes them) through ``graph`` as the chip does, learning where it has
    plastic synapses; ``seed`` seeds their stochastic rounding as ``lower_to_lava(seed=...)`` does. The result's
    ``learned`` holds every plastic synapse's weight, tag and delay after the run. ``compiled``: True forces the
    compiled path (``LoweringError`` if it does not apply), False the NumPy one, None picks (module doc).
    ``snapshot_at`` (sample counts n) also records the plastic weights after global step n·T, where
    ``run_lava(snapshot_at=...)`` reads them, into the result's ``snapshots``."""
    start = time.perf_counter()
    p = plan_stream(graph)
    t_len = int(timesteps or graph.timesteps or 32)
    levels = input_batches(graph, x)
    applies = compiled_applies(p)
    if compiled and not applies:
        raise LoweringError("the compiled stream engine runs graphs of Inputs with binary spikes (rate, Poisson), "
                            "Dense synapses and LoihiLIF groups, with numba installed; use compiled=False")
    if applies if compiled is None else compiled:
        from toolkit.backends.reference.stream_compiled import CompiledStream

        fast = CompiledStream(p, levels, t_len, seed)
        snaps = fast.run(progress, [n * t_len for n in snapshot_at])
        return RunResult(backend="reference", engine="stream", scores=fast.counts, timesteps=t_len,
                         wall_s=time.perf_counter() - start, total_steps=fast.total, learned=fast.learned(),
                         snapshots=snaps)
    run = _Stream(p, levels, t_len, seed)
    total = run.n_samples * t_len + p.timing.latency
    bar = tqdm(total=run.n_samples, desc="reference (stream)", unit="sample", disable=None if progress else True,
               leave=False)
    snaps = []
    stops = {n * t_len for n in snapshot_at}
    with bar:
        for t in range(1, total + 1):
            run.step(t)
            if t % t_len == 0:
                bar.update(min(run.n_samples, t // t_len) - bar.n)
            if t in stops and t < total:
                snaps.append(weight_snapshot(t, t_len, {k: v["weight"] for k, v in run.learned().items()}))
    return RunResult(backend="reference", engine="stream", scores=run.counts, timesteps=t_len,
                     wall_s=time.perf_counter() - start, total_steps=total, learned=run.learned(), snapshots=snaps)
