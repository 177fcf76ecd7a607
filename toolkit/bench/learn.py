"""``nfa bench learn``: on-chip learning in the reference's stream engine against Lava's fixed-point simulator.

The on-chip FA network (``compilers.onchip``, the configuration ``nfa learn`` uses) learns the same training
samples, with the same seed, in:

* Lava (``Loihi2SimCfg(select_tag="fixed_pt")``, our ``LearningLIFReset`` and Lava's ``LearningDense``) on
  ``--lava-samples`` samples (Lava takes several milliseconds per step with learning);
* the reference's stream engine, compiled (numba) and NumPy, on the same samples (every learned weight and
  output count must match Lava's: ``mismatches``), and the compiled one also on ``--samples`` samples for
  its throughput (best of ``REPEATS`` runs, compilation excluded by a warm-up run).

Throughput is sample-steps per second (samples × T over wall time; Lava's compile and start-up
included, as a user experiences it). Against the machine: the learning engine's arithmetic per step is
bounded below by one update of every plastic synapse per learning epoch (the delta rule on W2 runs every
epoch; the FA rule on W1 only where the hidden neuron spiked), and the forward pass by the network's
dense multiply-adds; both are set against the machine's measured float32 matrix-multiply rate as a
*dense bound* (what a simulator doing nothing but that arithmetic, as dense float matrix products,
could reach).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.argtypes import at_least

__all__ = ["add_arguments", "run", "run_bench"]

REPEATS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="dataset (default digits)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--samples", type=at_least(1), default=1437, help="training samples for the reference's throughput")
    p.add_argument("--lava-samples", type=at_least(1), default=40, help="training samples run in Lava (default 40)")
    p.add_argument("--hidden", type=at_least(1), default=100)
    p.add_argument("--timesteps", "-T", type=at_least(2), default=16)
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--no-lava", action="store_true", help="only the reference (when Lava is not installed)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")


def _network(a: argparse.Namespace) -> tuple[Any, Any, Any]:
    from compilers.onchip import OnChipFA, build_onchip_fa, train_inputs
    from toolkit.data import load_dataset

    train, _ = load_dataset(a.data, data_dir=a.data_dir)
    spec = OnChipFA(n_in=int(np.prod(train.shape)), n_classes=train.n_classes, n_hidden=a.hidden,
                    timesteps=a.timesteps, seed=a.seed)
    n = max(a.samples, a.lava_samples)
    reps = -(-n // len(train))
    x = np.concatenate([train.x.reshape(len(train), -1)] * reps)[:n]
    y = np.concatenate([train.y] * reps)[:n]
    return spec, build_onchip_fa(spec), train_inputs(spec, x, y)


def _rate(samples: int, t: int, wall: float) -> float:
    return samples * t / wall if wall > 0 else float("inf")


def _mismatches(a: Any, b: Any) -> int:
    bad = int(np.sum(a.scores != b.scores))
    for name in a.learned:
        bad += int(np.sum(a.learned[name]["weight"] != b.learned[name]["weight"]))
    return bad


def run_bench(a: argparse.Namespace) -> dict[str, Any]:
    from toolkit.backends.reference.stream import run_stream
    from toolkit.bench.sim import dense_macs_per_step, matmul_gflops

    spec, graph, inputs = _network(a)
    t = spec.timesteps
    sub = {k: v[:a.lava_samples] for k, v in inputs.items()}
    full = {k: v[:a.samples] for k, v in inputs.items()}
    run_stream(graph, sub, seed=a.seed, compiled=True)        # warm-up: numba compiles (or loads its cache)
    best = min(_timed(lambda: run_stream(graph, full, seed=a.seed, compiled=True)) for _ in range(REPEATS))
    ref = run_stream(graph, sub, seed=a.seed, compiled=True)
    numpy_ref = run_stream(graph, sub, seed=a.seed, compiled=False)
    out: dict[str, Any] = {
        "network": f"on-chip FA {spec.n_in}-{spec.n_hidden}-{spec.n_classes}, T={t}, {a.data}",
        "reference_samples": a.samples, "reference_sample_steps_per_s": _rate(a.samples, t, best),
        "reference_numpy_sample_steps_per_s": _rate(a.lava_samples, t, numpy_ref.wall_s),
        "numpy_vs_compiled_mismatches": _mismatches(ref, numpy_ref),
    }
    macs = dense_macs_per_step(graph)
    learn_ops = sum(int(n.weight.size) for n in graph.nodes if getattr(n, "plastic", None) is not None)
    gflops = matmul_gflops()
    out["dense_bound_sample_steps_per_s"] = gflops * 1e9 / (2.0 * (macs + learn_ops))
    out["machine_gflops_float32"] = gflops
    if not a.no_lava:
        from toolkit.backends.lava_sim import run_lava

        lava = run_lava(graph, sub, seed=a.seed, progress=False)
        out.update({"lava_samples": a.lava_samples, "lava_sample_steps_per_s": _rate(a.lava_samples, t, lava.wall_s),
                    "mismatches": _mismatches(ref, lava),
                    "weights_compared": int(sum(v["weight"].size for v in ref.learned.values()))})
        out["ratio"] = out["reference_sample_steps_per_s"] / out["lava_sample_steps_per_s"]
    return out


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(a: argparse.Namespace) -> int:
    from toolkit.fsutil import write_json

    r = run_bench(a)
    print(r["network"])
    print(f"reference (stream, compiled): {r['reference_sample_steps_per_s']:,.0f} sample-steps/s over "
          f"{r['reference_samples']} samples; NumPy stream: {r['reference_numpy_sample_steps_per_s']:,.0f} "
          f"(mismatches with compiled: {r['numpy_vs_compiled_mismatches']})")
    print(f"dense bound at {r['machine_gflops_float32']:.0f} GFLOP/s: {r['dense_bound_sample_steps_per_s']:,.0f} "
          "sample-steps/s (forward multiply-adds plus one update per plastic synapse per step)")
    if "lava_sample_steps_per_s" in r:
        print(f"Lava fixed_pt: {r['lava_sample_steps_per_s']:,.0f} sample-steps/s over {r['lava_samples']} samples; "
              f"reference / Lava = {r['ratio']:.0f}x; mismatches (output counts and "
              f"{r['weights_compared']} learned weights): {r['mismatches']}")
    if a.json is not None:
        write_json(a.json, r)
    return 0 if r.get("mismatches", 0) == 0 and r["numpy_vs_compiled_mismatches"] == 0 else 1
