"""Core of the reference simulator: node registry, exact dendritic sums, the batched driver.

The reference simulator is the executable definition of what the chip computes.

It steps a quantised IR graph in Loihi's fixed-point arithmetic, as Lava's bit-accurate
ProcessModels (``PyDenseModelBitAcc``, ``PyLifModelBitAcc``) do, but for a whole batch
of samples at once. Every backend is tested spike for spike and voltage for voltage
against it (tests/conformance).

Timing. Each sample is simulated for T steps from reset state. A layer sees the spikes
its predecessor emitted in the *same* step: Lava's one-step synaptic delay is a pipeline
latency that the Lava backend removes by offsetting each layer's reset (see
``toolkit.backends.lava_sim``), so per-sample results are identical.

Exactness. Dendritic sums are computed with a float matrix product for speed. Each
layer proves the sum is exact first: the largest possible |Σ r·s| is bounded by the
row sums of |r| times the largest input, and float32 (float64) products of integers are
exact while that bound is below 2^24 (2^53). Above 2^53 the product is done in int64.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from toolkit import ir
from toolkit.backends.base import RunResult
from toolkit.backends.reference.encode import encode_batch
from toolkit.encoding import input_levels
from toolkit.errors import LoweringError

__all__ = ["ENGINES", "REFERENCE", "Recorder", "dendritic_sum", "exact_float_dtype", "register_reference", "simulate"]

Step = Callable[[Any, np.ndarray, "Recorder"], np.ndarray]

#: IR node type -> function(node, input (B, T, *shape) int, recorder) -> output (B, T, *shape) int
REFERENCE: dict[type[ir.Node], Step] = {}


def register_reference(*types: type[ir.Node]) -> Callable[[Step], Step]:
    def deco(fn: Step) -> Step:
        for t in types:
            REFERENCE[t] = fn
        return fn
    return deco


@dataclass
class Recorder:
    """Collects per-step state of the nodes named in ``names`` (all if ``names`` is None)."""

    names: set[str] | None
    traces: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)

    def wants(self, name: str) -> bool:
        return self.names is None or name in self.names

    def add(self, name: str, **arrays: np.ndarray) -> None:
        slot = self.traces.setdefault(name, {})
        for k, v in arrays.items():
            slot.setdefault(k, []).append(v)

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: np.concatenate(v) for k, v in d.items()} for n, d in self.traces.items()}


def exact_float_dtype(bound: int) -> type[np.floating[Any]] | None:
    """The narrowest float dtype whose products and sums of integers up to ``bound`` are exact."""
    if bound < (1 << 24):
        return np.float32
    if bound < (1 << 53):
        return np.float64
    return None


def dendritic_sum(s: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Σ_i W_ji s_i for a batch s (M, in) of integers, exactly, as int64 (M, out)."""
    w = weight.reshape(weight.shape[0], -1)
    smax = int(np.abs(s).max()) if s.size else 0  # graded (sigma-delta) inputs can be negative
    bound = int(np.abs(w).sum(axis=1).max()) * smax if w.size else 0
    dtype = exact_float_dtype(bound)
    if dtype is None:
        return s.astype(np.int64) @ w.T.astype(np.int64)
    return np.rint(np.asarray(s, dtype=dtype) @ w.T.astype(dtype)).astype(np.int64)


def _check_runnable(graph: ir.Graph) -> tuple[ir.Input, ir.Output]:
    ir.check_graph(graph)
    if not graph.is_chain():
        raise LoweringError("the reference simulator runs chain graphs only")
    inp, out = graph.of_type(ir.Input)[0], graph.of_type(ir.Output)[0]
    if inp.encoding is ir.Encoding.ANALOG:
        raise LoweringError("the graph is not converted to spiking neurons: compile it first (nfa compile)")
    for n in graph.nodes:
        if type(n) not in REFERENCE and not isinstance(n, ir.Input):
            supported = ", ".join(sorted(t.__name__ for t in REFERENCE))
            raise LoweringError(f"the reference simulator cannot run {type(n).__name__} {n.name!r} "
                                f"(supported: {supported})")
    return inp, out


#: ``simulate(engine=...)``: "auto" (events where they apply, else numpy), "numpy" or "events"
ENGINES = ("auto", "numpy", "events")


def simulate(graph: ir.Graph, x: np.ndarray, *, timesteps: int | None = None, batch_size: int | None = None,
             record: Iterable[str] | bool = False, progress: bool = False, engine: str = "auto") -> RunResult:
    """Run samples ``x`` (N, *input shape) in [0, 1] through a quantised graph.

    ``timesteps`` defaults to the graph's ``meta["timesteps"]``. ``record`` names the
    nodes whose state to keep (True: all neuron groups). ``engine``: the NumPy node rules
    (layer by layer over a batch), or the event-driven engine (``events``: sample by sample,
    work per spike; Dense/LIF chains with binary spikes, no recording, needs numba); both
    compute the same integers. The result's ``engine`` says which ran.
    """
    from toolkit.backends.reference import events

    start = time.perf_counter()
    inp, out = _check_runnable(graph)
    if engine not in ENGINES:
        raise LoweringError(f"unknown reference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    t = int(timesteps or graph.meta.get("timesteps") or 32)
    rec = Recorder(names=None if record is True else set(record or ()))
    q = input_levels(x, inp)
    plan = events.plan_events(graph) if engine != "numpy" and not record else None
    if engine == "events" and (plan is None or not events.available()):
        raise LoweringError("the event-driven reference engine needs numba and a Dense/LoihiLIF chain with rate, "
                            "poisson or current input and no recorded state; use engine='numpy'")
    use_events = plan is not None and events.available()
    batch = batch_size or (4096 if use_events else 512)
    order = [n for n in graph.topological() if not isinstance(n, ir.Input)]
    scores = []
    for first in tqdm(range(0, len(q), batch), desc="reference", disable=None if progress else True, leave=False):
        if use_events:
            assert plan is not None
            scores.append(events.run_events(plan, q[first:first + batch], t, inp, first_index=first))
            continue
        s = encode_batch(q[first:first + batch], t, inp, first_index=first)
        for n in order:
            s = REFERENCE[type(n)](n, s, rec)
        scores.append(_readout(out, s))
    n_out = int(np.prod(out.shape))
    return RunResult(backend="reference", engine="events" if use_events else "numpy",
                     scores=np.concatenate(scores) if scores else np.zeros((0, n_out), np.int64),
                     timesteps=t, wall_s=time.perf_counter() - start, total_steps=len(q) * t,
                     traces=rec.result())


def _readout(out: ir.Output, s: np.ndarray) -> np.ndarray:
    if out.readout in (ir.ReadoutMode.SPIKE_COUNT, ir.ReadoutMode.SIGMA):
        return s.reshape(s.shape[0], s.shape[1], -1).sum(axis=1, dtype=np.int64)
    raise LoweringError(f"Output {out.name!r} readout {out.readout.value!r} is not a spiking readout")
