"""Activity counts and *modelled* per-inference latency and energy of a mapped network.

Counting. The caller runs the samples through the reference simulator (the executable spec
of the chip's arithmetic; this module stays below the backends and only takes its traces) and
passes every neuron group's output; an *event* is a nonzero entry of it (a binary spike, or a
graded message on Loihi 2, counted the same). Per inference (one sample
over its T steps), averaged over the samples:

* synaptic operations: each event of input j × the synapse entries it reaches on the cores of
  the layer it feeds (``LayerPlan.block_entries``: a dense list touches every neuron of its
  core, a sparse list only its nonzero synapses);
* neuron updates: neurons × compartments × T (every compartment is updated every step);
* spike messages: each event × the destination cores it is sent to (1, the host, for the output).

Modelling. energy = Σ count × per-operation energy; time per step = the busiest core's
synaptic ops × t_synop + its neuron updates × t_update, plus one barrier synchronisation;
latency = Σ over the T steps. The constants are ``hw.energy`` (hw_configs/*.yaml, each cited);
static (leakage) power, tile-hop energy and multi-chip synchronisation are not modelled.
Every figure is a model, never a measurement: docs/hardware.md says what each term covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from compilers.passes.mapping import LayerPlan, Placement
from toolkit import ir
from toolkit.encoding import encode, input_levels
from toolkit.errors import ToolkitError

__all__ = ["MODELLED_LABEL", "Activity", "CostModel", "LayerActivity", "count_activity", "input_events", "model_cost"]

MODELLED_LABEL = "modelled, not measured"


@dataclass(frozen=True, slots=True)
class LayerActivity:
    """Mean counts per inference for one layer (synapse + the group it feeds)."""

    synapse: str
    group: str
    in_events: float
    synops: float
    messages: float
    neuron_updates: float
    out_events: float

    def to_json(self) -> dict[str, Any]:
        return {"synapse": self.synapse, "group": self.group, "in_events": self.in_events, "synops": self.synops,
                "messages": self.messages, "neuron_updates": self.neuron_updates, "out_events": self.out_events}


@dataclass(frozen=True, slots=True)
class Activity:
    """Counts per inference, averaged over ``samples``; ``core_ops`` is per sample, step and core."""

    samples: int
    timesteps: int
    layers: tuple[LayerActivity, ...]
    host_messages: float                  # output events sent to the host
    core_synops: np.ndarray               # (N, T, cores): synaptic ops per core and step

    @property
    def synops(self) -> float:
        return sum(la.synops for la in self.layers)

    @property
    def neuron_updates(self) -> float:
        return sum(la.neuron_updates for la in self.layers)

    @property
    def messages(self) -> float:
        return sum(la.messages for la in self.layers) + self.host_messages

    @property
    def spikes(self) -> float:
        """Events emitted by on-chip neuron groups per inference."""
        return sum(la.out_events for la in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "timesteps": self.timesteps, "synops": self.synops,
                "neuron_updates": self.neuron_updates, "spikes": self.spikes, "messages": self.messages,
                "host_messages": self.host_messages, "layers": [la.to_json() for la in self.layers]}


def input_events(graph: ir.Graph, x: np.ndarray, timesteps: int, *, name: str | None = None) -> np.ndarray:
    """(N, T, *input shape): what the Input node ``name`` (default: the first) sends, encoded exactly as every
    backend does."""
    inputs = graph.of_type(ir.Input)
    inp = next((i for i in inputs if i.name == name), None) if name else inputs[0]
    if inp is None:
        raise ToolkitError(f"no Input named {name!r} (inputs: {', '.join(i.name for i in inputs)})")
    q = input_levels(x, inp)
    return encode(q, timesteps, inp.encoding, bits=inp.bits, seed=inp.seed)


def _events_of(events: Mapping[str, np.ndarray], name: str, n: int, t: int) -> np.ndarray:
    if name not in events:
        raise ToolkitError(f"activity counting needs the events of {name!r} (for a neuron group: the 's' trace "
                           "its reference rule records)")
    e = np.asarray(events[name])
    if e.shape[:2] != (n, t):
        raise ToolkitError(f"events of {name!r} have shape {e.shape}, expected ({n}, {t}, ...)")
    return e.reshape(n, t, -1) != 0


def _per_core(e: np.ndarray, plan: LayerPlan) -> np.ndarray:
    """(N, T, cores) synaptic ops: events (N, T, n_in) times the entries each input reaches per core."""
    n, t, n_in = e.shape
    flat = e.reshape(n * t, n_in).astype(np.float32)
    be = plan.block_entries
    ops = (sp.csr_matrix(be, dtype=np.float32) @ flat.T).T if sp.issparse(be) else flat @ be.T.astype(np.float32)
    return np.asarray(ops, dtype=np.float64).reshape(n, t, plan.cores)


def count_activity(placement: Placement, events: Mapping[str, np.ndarray], *, input_name: str) -> Activity:
    """Counts per inference from ``events[name]`` (N, T, ...) of every Input node and neuron group.

    Typically the reference simulator's ``traces[group]["s"]`` plus ``input_events(...)`` of each input.
    A layer's input events are those of its synapses' sources, side by side (``LayerPlan.spans``).
    """
    first = np.asarray(events[input_name]) if input_name in events else np.zeros((0, 0))
    n, t = int(first.shape[0]), int(first.shape[1])
    if n == 0:
        raise ToolkitError("activity counting needs at least one sample")
    layers, cores = [], []
    for lp in placement.layers:
        parts = [_events_of(events, src, n, t) for src in lp.sources]
        e = np.concatenate(parts, axis=2) if parts else np.zeros((n, t, 0), bool)
        per_core = _per_core(e, lp)
        cores.append(per_core)
        layers.append(LayerActivity(
            synapse=lp.synapse, group=lp.group, in_events=float(e.sum()) / n, synops=float(per_core.sum()) / n,
            messages=float((e.reshape(-1, e.shape[-1]) @ lp.dest_per_input.astype(np.float64)).sum()) / n,
            neuron_updates=float(lp.neurons * lp.compartments * t),
            out_events=float(_events_of(events, lp.group, n, t).sum()) / n))
    host = sum(la.out_events for la, lp in zip(layers, placement.layers, strict=True) if lp.to_host)
    return Activity(samples=n, timesteps=t, layers=tuple(layers), host_messages=host,
                    core_synops=np.concatenate(cores, axis=2) if cores else np.zeros((n, t, 0)))


@dataclass(frozen=True, slots=True)
class CostModel:
    """Modelled energy (pJ) and latency (ns) per inference, with the basis of the constants."""

    hw: str
    basis: str
    source: str
    energy_pj: dict[str, float]       # term -> pJ per inference ("total" included)
    latency_ns: float                 # per inference (T steps)
    step_ns: float                    # mean modelled time step
    chips: int

    def to_json(self) -> dict[str, Any]:
        return {"label": MODELLED_LABEL, "hw": self.hw, "basis": self.basis, "source": self.source,
                "energy_pj": self.energy_pj, "energy_uj": self.energy_pj["total"] * 1e-6,
                "latency_ns": self.latency_ns, "latency_us": self.latency_ns * 1e-3, "step_ns": self.step_ns,
                "not_modelled": ["static (leakage) power", "inter-tile hop energy and latency",
                                 "multi-chip synchronisation" if self.chips > 1 else "off-chip I/O",
                                 "host input/output time"]}


def model_cost(activity: Activity, placement: Placement) -> CostModel | None:
    """Energy and latency per inference from ``placement.hw.energy``; None if the config has none."""
    hw = placement.hw
    em = hw.energy
    if em is None:
        return None
    energy = {"synaptic_ops": activity.synops * em.synop_pj,
              "neuron_updates": activity.neuron_updates * em.neuron_update_pj,
              "spike_messages": activity.messages * em.spike_pj}
    energy["total"] = sum(energy.values())
    update_ns = np.concatenate([lp.block_sizes * lp.compartments for lp in placement.layers]) * em.neuron_update_ns
    work = activity.core_synops * em.synop_ns + update_ns[None, None, :]          # (N, T, cores)
    step = work.max(axis=2) + em.barrier_sync_ns if work.shape[2] else np.full(work.shape[:2], em.barrier_sync_ns)
    return CostModel(hw=hw.name, basis=em.basis.value, source=em.source, energy_pj=energy,
                     latency_ns=float(step.sum(axis=1).mean()), step_ns=float(step.mean()), chips=placement.chips)
