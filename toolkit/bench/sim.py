"""``nfa bench sim``: the reference simulator against Lava's fixed-point CPU simulator.

The same compiled network and the same input images go through both backends in one run:

* Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) on ``--lava-samples`` images (Lava takes about a
  millisecond per time step, so a whole test set would take minutes to hours);
* the reference simulator on the whole test set (or ``--limit``) for its throughput (best of
  ``REPEATS`` runs, before Lava starts), and on Lava's images (every output count must match:
  ``mismatches``).

Throughput is samples × timesteps per second (wall time of the run, Lava's compile and
start-up included, as a user experiences it). The reference runs with its default engine
(event-driven where it applies, see ``toolkit.backends.reference.events``) and, for
comparison, with each of its NumPy engines that accepts the graph (``nodes``: node by node over
all steps, graphs without cycles; ``step``: step by step, every graph). Both are set against the
machine's measured float32 matrix-multiply rate:

* the *dense bound* is the sample-steps per second a simulator would reach doing nothing but
  the network's dense synaptic arithmetic (Σ fan-in × neurons multiply-adds per sample-step)
  at that rate: the limit of any simulator that multiplies whole matrices each step;
* *synaptic events* are the additions a simulator that works per spike must do (non-zero
  inputs × their fan-out per sample-step, measured on the Lava images; a constant-current
  input costs one dendritic sum per sample); events × throughput is the reference's
  arithmetic rate, compared with the machine's multiply-add rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.argtypes import at_least

__all__ = ["add_arguments", "matmul_gflops", "run", "run_bench"]

#: the reference's throughput is the best of this many runs over the test set (each well under a second)
REPEATS = 3

HELP = "reference simulator vs Lava fixed_pt on the same network and inputs: throughput and mismatches"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", nargs="?", type=Path, default=Path("runs/demo/net"),
                   help="compiled network folder (default runs/demo/net)")
    p.add_argument("--data", default="digits", help="dataset name or path (default digits)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the dataset's files")
    p.add_argument("--lava-samples", type=at_least(1), default=100, help="test images run through Lava (default 100)")
    p.add_argument("--limit", type=at_least(1), default=None,
                   help="test images for the reference's throughput (default all)")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=None, help="override the compiled timesteps")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def matmul_gflops(n: int = 2048, repeats: int = 3) -> float:
    """Best of ``repeats`` float32 n×n matrix products on this machine, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def dense_macs_per_step(graph: Any) -> int:
    """Σ fan-in × output neurons of the graph's synapses: the multiply-adds of one sample-step."""
    from toolkit import ir

    shapes = graph.shapes()
    return sum(n.fan_in * int(np.prod(shapes[n.name])) for n in graph.nodes if isinstance(n, ir.Synapse))


def synaptic_events_per_step(graph: Any, x: np.ndarray, timesteps: int) -> float:
    """Mean additions per sample-step of per-spike synaptic accumulation: Σ over synapses of the non-zero
    inputs of its source × its fan-out."""
    from toolkit import ir
    from toolkit.backends.reference import simulate
    from toolkit.backends.reference.encode import encode_batch
    from toolkit.encoding import input_levels

    inputs = graph.of_type(ir.Input)
    if len(inputs) != 1 or not len(x):
        return float("nan")
    (inp,) = inputs
    groups = [n.name for n in graph.nodes if isinstance(n, ir.NeuronGroup)]
    traces = simulate(graph, x, timesteps=timesteps, record=groups, engine="step").traces
    q = input_levels(x, inp)
    if inp.encoding is ir.Encoding.CURRENT:  # one dendritic sum per sample, not per step
        active = {inp.name: float(np.count_nonzero(q)) / (len(x) * timesteps)}
    else:
        active = {inp.name: float(np.count_nonzero(encode_batch(q, timesteps, inp, first_index=0)))
                  / (len(x) * timesteps)}
    active.update({g: float(np.count_nonzero(traces[g]["s"])) / (len(x) * timesteps) for g in groups})
    shapes = graph.shapes()
    events = 0.0
    for n in graph.of_type(ir.Synapse):
        src = graph.signal_source(n.name).name
        fan_out = n.fan_in * int(np.prod(shapes[n.name])) / int(np.prod(shapes[src]))
        events += active[src] * fan_out
    return events


def _input_encoding(graph: Any) -> str:
    from toolkit import ir

    return str(graph.of_type(ir.Input)[0].encoding.value)


def run_bench(net: Path, data: str, *, data_dir: Path | None = None, lava_samples: int = 100,
              limit: int | None = None, timesteps: int | None = None, progress: bool = True) -> dict[str, Any]:
    from compilers.netdir import load_network
    from toolkit.backends.lava_sim import run_lava
    from toolkit.backends.reference import simulate
    from toolkit.data import load_dataset

    graph = load_network(net)
    test = load_dataset(data, data_dir=data_dir)[1]
    small, full = test.take(lava_samples), test.take(limit)
    t = int(timesteps or graph.timesteps or 32)
    # the reference first, best of REPEATS (Lava's worker processes take a moment to go away after a run)
    simulate(graph, full.x[:8], timesteps=t)  # compile the event engine's kernel (cached on disk after the first run)
    runs = [simulate(graph, full.x, timesteps=t, progress=progress) for _ in range(REPEATS)]
    ref = min(runs, key=lambda r: r.wall_s)
    ref_wall = ref.wall_s
    others = {e: simulate(graph, full.x, timesteps=t, progress=progress, engine=e)
              for e in (("nodes", "step") if graph.is_acyclic() else ("step",))}
    lava = run_lava(graph, small.x, timesteps=t, progress=progress)
    ref_small = simulate(graph, small.x, timesteps=t)
    mismatches = int(np.sum(np.any(ref_small.scores != lava.scores, axis=1)))
    gflops = matmul_gflops()
    macs = dense_macs_per_step(graph)
    events = synaptic_events_per_step(graph, small.x, t)
    lava_rate = len(small) * t / lava.wall_s
    ref_rate = len(full) * t / ref_wall
    return {
        "network": str(net), "dataset": data, "timesteps": t, "encoding": _input_encoding(graph),
        "lava_samples": len(small), "lava_wall_s": lava.wall_s, "lava_steps": lava.total_steps,
        "lava_steps_per_s": lava_rate,
        "reference_engine": ref.engine, "reference_samples": len(full), "reference_wall_s": ref_wall,
        "reference_wall_s_runs": [r.wall_s for r in runs],
        "reference_steps_per_s": ref_rate,
        "engines": {e: {"wall_s": r.wall_s, "steps_per_s": len(full) * t / r.wall_s} for e, r in others.items()},
        "engines_agree": all(np.array_equal(r.scores, o.scores) for r in runs for o in others.values()),
        "ratio": ref_rate / lava_rate, "mismatches": mismatches,
        "lava_accuracy": lava.accuracy(small.y), "reference_accuracy_same_images": ref_small.accuracy(small.y),
        "reference_accuracy": ref.accuracy(full.y),
        "matmul_gflops": gflops, "dense_macs_per_sample_step": macs,
        "dense_bound_steps_per_s": gflops * 1e9 / (2.0 * macs) if macs else float("inf"),
        "synaptic_events_per_sample_step": events,
        "reference_gadds_per_s": events * ref_rate / 1e9,
    }


def _print(r: dict[str, Any]) -> None:
    print(f"network {r['network']} ({r['encoding']} input, T = {r['timesteps']}), dataset {r['dataset']}")
    print(f"  Lava fixed_pt   : {r['lava_samples']:6d} images in {r['lava_wall_s']:8.2f} s  "
          f"{r['lava_steps_per_s']:12,.0f} sample-steps/s  accuracy {r['lava_accuracy']:.4f}")
    print(f"  reference (best of {len(r['reference_wall_s_runs'])}): {r['reference_samples']:6d} images in "
          f"{r['reference_wall_s']:8.2f} s  "
          f"{r['reference_steps_per_s']:12,.0f} sample-steps/s  accuracy {r['reference_accuracy']:.4f}  "
          f"({r['reference_engine']} engine)")
    for name, e in r["engines"].items():
        print(f"  reference, {name:5s}: {r['reference_samples']:6d} images in {e['wall_s']:8.2f} s  "
              f"{e['steps_per_s']:12,.0f} sample-steps/s  (NumPy {name} engine)")
    print(f"  every reference engine gives the same outputs: {'yes' if r['engines_agree'] else 'NO'}")
    print(f"  ratio reference / Lava: {r['ratio']:,.0f}x; output mismatches on the {r['lava_samples']} shared "
          f"images: {r['mismatches']}")
    print(f"  machine float32 matmul: {r['matmul_gflops']:.0f} GFLOP/s; dense synaptic work "
          f"{r['dense_macs_per_sample_step']:,} MAC per sample-step -> dense bound "
          f"{r['dense_bound_steps_per_s']:,.0f} sample-steps/s (the reference: "
          f"{r['reference_steps_per_s'] / r['dense_bound_steps_per_s']:.2f}x it)")
    share = r["reference_gadds_per_s"] * 2 / r["matmul_gflops"]
    print(f"  synaptic events: {r['synaptic_events_per_sample_step']:,.0f} additions per sample-step -> the "
          f"reference adds {r['reference_gadds_per_s']:.1f} G/s, {share:.0%} of the machine's "
          f"{r['matmul_gflops'] / 2:.0f} G multiply-adds/s")


def run(a: argparse.Namespace) -> int:
    from toolkit.fsutil import write_json

    report = run_bench(a.net, a.data, data_dir=a.data_dir, lava_samples=a.lava_samples, limit=a.limit,
                       timesteps=a.timesteps, progress=not a.no_progress)
    _print(report)
    if a.json is not None:
        write_json(a.json, report)
    return 0
