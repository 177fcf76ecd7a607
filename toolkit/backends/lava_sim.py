"""The Lava backend: run a compiled network in Lava's CPU simulator (or on Loihi 2).

``run_lava`` lowers the graph (``compilers.lava.lower``), runs all samples through one
Lava runtime in chunks (for a progress bar), reads the per-sample output counts once,
and always stops the runtime. Lava is imported lazily: without it this module still
imports and ``run_lava`` raises ``BackendUnavailableError``.

The simulator is selected with ``Loihi2SimCfg(select_tag="fixed_pt")``: without the tag
Lava silently picks floating-point models that misread fixed-point parameters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from toolkit import ir
from toolkit.backends.base import RunResult, input_batches, learned_variables, weight_snapshot
from toolkit.lavacompat import require_lava

__all__ = ["run_lava"]


def _sim_config() -> Any:
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag="fixed_pt")


def run_lava(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray], *, timesteps: int | None = None,
             record: Iterable[str] = (),
             progress: bool = True, chunk_samples: int = 20, run_cfg: Any = None,
             hardware: bool = False, seed: int = 0, snapshot_at: Iterable[int] = ()) -> RunResult:
    """Run samples ``x`` (N, *input shape) in [0, 1] through ``graph`` in Lava (for a graph with several inputs,
    a mapping from each Input's name to its samples).

    ``record`` names neuron groups whose state (LIF: ``u``, ``v``; sigma-delta: ``sigma``,
    ``act``, ``residue``, and ``error`` with cum_error) and output ``s`` are probed every step
    and returned per sample and local step, aligned with the reference simulator's traces.
    """
    require_lava()
    from lava.magma.core.run_conditions import RunSteps

    from compilers.lava.lower import lower_to_lava

    t = int(timesteps or graph.timesteps or 32)
    levels = input_batches(graph, x)
    n = len(next(iter(levels.values())))
    build = lower_to_lava(graph, levels, timesteps=t, hardware=hardware, seed=seed)
    monitors = _probe(build, list(record))
    cfg = run_cfg if run_cfg is not None else _sim_config()
    start = time.perf_counter()
    try:
        snapshots = _run_chunks(build, cfg, RunSteps, chunk_samples * t, progress, [n * t for n in snapshot_at])
        counts = np.asarray(build.counter.counts.get(), dtype=np.int64)
        traces = _read_traces(build, monitors)
        learned = {name: learned_variables(p.weights.get(), p.tag_1.get(), p.tag_2.get())
                   for name, p in build.plastic.items()}
    finally:
        build.runner.stop()
    wall = time.perf_counter() - start
    return RunResult(backend="loihi2" if hardware else "lava-sim", scores=counts.reshape(n, -1),
                     timesteps=t, wall_s=wall, total_steps=build.total_steps, traces=traces, learned=learned,
                     snapshots=snapshots)


def _run_chunks(build: Any, cfg: Any, run_steps: Any, chunk: int, progress: bool,
                snapshot_steps: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Run all steps in chunks of at most ``chunk`` steps, stopping also at each of ``snapshot_steps`` (before the
    last step) to read the plastic weights there."""
    total = build.total_steps
    stops = sorted({s for s in snapshot_steps if 0 < s < total})
    snaps = []
    bar = tqdm(total=build.n_samples, desc="lava", unit="sample", disable=None if progress else True, leave=False)
    with bar:
        done = 0
        while done < total:
            k = min(chunk, total - done, *(s - done for s in stops if s > done))
            build.runner.run(condition=run_steps(num_steps=k), run_cfg=cfg)
            done += k
            bar.update(min(build.n_samples, done // build.timesteps) - bar.n)
            if done in stops:
                snaps.append(weight_snapshot(done, build.timesteps,
                                             {name: p.weights.get() for name, p in build.plastic.items()}))
    return snaps


def _probe(build: Any, names: list[str]) -> dict[str, dict[str, tuple[Any, Any]]]:
    """A Monitor on every Var or port the lowering lists for each named group (``LavaBuild.probes``)."""
    if not names:
        return {}
    from lava.proc.monitor.process import Monitor

    monitors: dict[str, dict[str, tuple[Any, Any]]] = {}
    for name in names:
        monitors[name] = {}
        for trace, var in build.probes[name].items():
            mon = Monitor()
            mon.probe(var, build.total_steps)
            monitors[name][trace] = (mon, var)
    return monitors


def _read_traces(build: Any, monitors: dict[str, dict[str, tuple[Any, Any]]]) -> dict[str, dict[str, np.ndarray]]:
    """Monitor data (global steps) cut into (N, T, *shape) per sample, in local time and the IR's layout."""
    from compilers.lava.lower import ir_layout

    out: dict[str, dict[str, np.ndarray]] = {}
    n, t = build.n_samples, build.timesteps
    for name, mons in monitors.items():
        k, proc_name = build.offsets[name], build.processes[name].name
        out[name] = {}
        for trace, (mon, var) in mons.items():
            arr = ir_layout(np.asarray(mon.get_data()[proc_name][var.name])[k:k + n * t])
            out[name][trace] = arr.reshape(n, t, *arr.shape[1:]).astype(np.int64)
    return out
