"""Event-driven engine of the reference simulator for Dense → LoihiLIF chains with binary spikes.

The neuron arithmetic is ``fixed.lif_update`` itself, compiled by numba; the synaptic sums are the
NumPy models' (``dense.py``: Lava's ``PyDenseModelBitAcc``) done in another order. The NumPy engines
run one layer over all steps of a batch with a dense matrix product per step; this engine
runs one sample step by step through every layer and, as a neuromorphic core does, adds
only the weight rows of the neurons that spiked (Σ_i W_ji s_i over the i with s_i ≠ 0).
Work scales with spikes instead of synapses, which is what makes whole test sets cheap:
a converted network's neurons spike in a few percent of the steps. Sums are integers: int32
where a bound from the weights and the largest input proves they fit, else int64.

It applies to chains ``Input → [Flatten] → (Dense → LoihiLIF)+ → Output(spike count)`` with
rate, Poisson or constant-current input, when no state is recorded; ``simulate`` falls back
to a NumPy engine otherwise, and when numba (which compiles the kernel, on all cores) is not
installed. tests/test_reference_events.py checks it against the NumPy rules on random
networks, and the conformance suite checks its outputs against Lava's.
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.backends.reference.fixed import IF_INT32_BOUND, bias_of, shift

__all__ = ["EventPlan", "available", "plan_events", "run_events"]

_RATE, _SPIKES, _DRIVE = 0, 1, 2  # how the first layer gets its input


def available() -> bool:
    """Whether numba (the kernel's compiler) is installed."""
    return importlib.util.find_spec("numba") is not None


@dataclass(frozen=True)
class EventPlan:
    """The chain's layers flattened into arrays the kernel reads (weights transposed: row i = fan-out of i)."""

    first: ir.Dense
    weights: np.ndarray      # int32, the (in, out) matrices one after another
    w_off: np.ndarray        # int64 offset of each layer's matrix in ``weights``
    n_in: np.ndarray         # int64 per layer
    n_out: np.ndarray        # int64 per layer
    w_exp: np.ndarray        # int64 per layer
    du: np.ndarray           # int64 per layer
    dv: np.ndarray           # int64 per layer
    vth: np.ndarray          # int64 per layer, already << 6
    reset_zero: np.ndarray   # bool per layer
    in_bound: np.ndarray     # int64 per layer: max_j Σ_i |W_ji| (times the largest input: the |sum| bound)
    bias: np.ndarray         # int32, every layer's neurons one after another
    b_off: np.ndarray        # int64 offset of each layer's neurons in ``bias``


def _chain(graph: ir.Graph) -> list[ir.Node] | None:
    """The nodes of ``graph`` in order if it is one path Input → ... → Output without delays, else None."""
    order = graph.topological()
    if len(graph.edges) != len(order) - 1 or any(getattr(n, "delay", 0) for n in order):
        return None
    if any(graph.out_edges(a.name) != graph.in_edges(b.name) or len(graph.in_edges(b.name)) != 1
           for a, b in itertools.pairwise(order)):
        return None
    return order


def plan_events(graph: ir.Graph) -> EventPlan | None:
    """The plan of a chain the engine can run, or None (then a NumPy engine runs it)."""
    chain = _chain(graph)
    if chain is None:
        return None
    nodes = [n for n in chain if not isinstance(n, ir.Flatten)]
    inp, body, out = nodes[0], nodes[1:-1], nodes[-1]
    if not (isinstance(inp, ir.Input) and isinstance(out, ir.Output)
            and out.readout is ir.ReadoutMode.SPIKE_COUNT and body and len(body) % 2 == 0
            and inp.encoding in (ir.Encoding.RATE, ir.Encoding.POISSON, ir.Encoding.CURRENT)):
        return None
    dense = [d for d in body[0::2] if type(d) is ir.Dense and d.quantized]
    lifs = [g for g in body[1::2] if type(g) is ir.LoihiLIF]
    if len(dense) != len(body) // 2 or len(lifs) != len(body) // 2:
        return None
    mats = [np.ascontiguousarray(d.weight.reshape(d.weight.shape[0], -1).T, dtype=np.int32) for d in dense]
    sizes = [m.size for m in mats]
    counts = [int(np.prod(g.shape)) for g in lifs]
    return EventPlan(
        first=dense[0],
        weights=np.concatenate([m.ravel() for m in mats]),
        w_off=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        n_in=np.array([m.shape[0] for m in mats], np.int64),
        n_out=np.array([m.shape[1] for m in mats], np.int64),
        w_exp=np.array([d.weight_exp for d in dense], np.int64),
        du=np.array([g.du for g in lifs], np.int64),
        dv=np.array([g.dv for g in lifs], np.int64),
        vth=np.array([int(g.vth) << 6 for g in lifs], np.int64),
        reset_zero=np.array([g.reset is ir.ResetMode.ZERO for g in lifs], np.bool_),
        in_bound=np.array([int(np.abs(m).astype(np.int64).sum(axis=0).max(initial=0)) for m in mats], np.int64),
        bias=np.concatenate([bias_of(g.bias_mant, g.bias_exp).reshape(-1) for g in lifs]).astype(np.int32),
        b_off=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
    )


_KERNEL: Any = None


def _cache_dir(*sources: str) -> Path:
    """Where numba keeps a compiled kernel: a folder named by the hash of its sources (default: the event kernel
    *and* ``fixed.py`` whose arithmetic it inlines). (Numba's own cache checks only the kernel file's time
    stamp, so an edit of ``fixed.py`` would otherwise run the old machine code.)"""
    import hashlib

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in sources or ("_event_kernel.py", "fixed.py"):
        digest.update((here / name).read_bytes())
    return here / "__pycache__" / f"numba-{digest.hexdigest()[:16]}"


def _kernel() -> Any:
    """Compile (once per process; numba caches the machine code on disk, keyed by the sources) and return it."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        numba.config.CACHE_DIR = str(_cache_dir())
        from toolkit.backends.reference._event_kernel import chain_kernel

        _KERNEL = chain_kernel
    return _KERNEL


def _shifted_bound(bound: int, exp: int) -> int:
    """A bound on |x shifted by exp| given |x| ≤ bound (a right shift floors: −1 more below zero)."""
    return bound << exp if exp >= 0 else (bound >> -exp) + 1


def run_events(plan: EventPlan, q: np.ndarray, timesteps: int, inp: ir.Input, first_index: int) -> np.ndarray:
    """Spike counts (B, classes) int64 of samples with input levels ``q`` (B, *input shape)."""
    from toolkit.backends.reference.core import dendritic_sum
    from toolkit.encoding import encode

    b = q.shape[0]
    levels = np.zeros((b, 1), np.int64)
    spikes = np.zeros((b, 1, 1), np.int8)
    drive = np.zeros((b, 1), np.int64)
    # bounds of |Σ_i W_ji s_i| per layer before and after its weight exponent (inputs after layer 0 are 0/1)
    pre = [int(x) for x in plan.in_bound]
    if inp.encoding is ir.Encoding.RATE:
        mode, levels = _RATE, np.ascontiguousarray(q.reshape(b, -1), dtype=np.int64)
    elif inp.encoding is ir.Encoding.CURRENT:  # the same graded input every step: one dendritic sum per sample
        mode = _DRIVE
        drive = np.ascontiguousarray(shift(dendritic_sum(q.reshape(b, -1), plan.first.weight), plan.first.weight_exp))
        pre[0] = int(np.abs(drive).max(initial=0))
    else:
        mode = _SPIKES
        spikes = np.ascontiguousarray(encode(q, timesteps, inp.encoding, bits=inp.bits, seed=inp.seed,
                                             first_index=first_index).reshape(b, timesteps, -1), dtype=np.int8)
        pre[0] *= int(np.abs(spikes).max(initial=0))
    post = [p if (i == 0 and mode == _DRIVE) else _shifted_bound(p, int(e))
            for i, (p, e) in enumerate(zip(pre, plan.w_exp, strict=True))]
    acc_dtype = np.int32 if max(max(pre), max(post)) < (1 << 31) else np.int64
    narrow = np.array([pb < IF_INT32_BOUND and d == 4095 and v == 0
                       for pb, d, v in zip(post, plan.du, plan.dv, strict=True)], np.bool_)
    table = encode(np.arange(1 << inp.bits)[None], timesteps, ir.Encoding.RATE, bits=inp.bits)[0].astype(np.int8)
    scores = np.zeros((b, int(plan.n_out[-1])), np.int64)
    _kernel()(mode, levels, spikes, drive, int(timesteps), np.ascontiguousarray(table), plan.weights, plan.w_off,
              plan.n_in, plan.n_out, plan.w_exp, plan.du, plan.dv, plan.vth, plan.reset_zero, narrow, plan.bias,
              plan.b_off, np.zeros(1, acc_dtype), scores)
    return scores
