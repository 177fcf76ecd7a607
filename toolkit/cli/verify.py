"""``nfa verify``: check a compiled network's reference results against Lava, state by state.

The reference simulator is the default for evaluation because it is fast; Lava is the
default for verification. This command runs the same test images through both and compares
every output count and, for every neuron group, every spike and state variable at every
step. Exit code 0 means zero differences; 3 means differences were found (they are listed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from toolkit.argtypes import at_least

HELP = "run a compiled network in Lava and in the reference simulator and compare every spike and state"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", nargs="?", type=Path, default=Path("runs/demo/net"),
                   help="compiled network folder (default runs/demo/net)")
    p.add_argument("--data", default=None,
                   help="dataset name or path (default: the one the network was compiled on, else digits)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the dataset's files")
    p.add_argument("--limit", type=at_least(1), default=20, help="test images to compare (default 20)")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=None, help="override the compiled timesteps")


def compare_traces(ref: dict[str, dict[str, np.ndarray]], other: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """One line per (group, variable) that differs, with how many entries differ."""
    problems = []
    for name, variables in ref.items():
        for var, expected in variables.items():
            got = other.get(name, {}).get(var)
            if got is None:
                problems.append(f"{name}.{var}: not recorded by Lava")
            elif got.shape != expected.shape:
                problems.append(f"{name}.{var}: shape {got.shape} differs from {expected.shape}")
            elif not np.array_equal(got, expected):
                problems.append(f"{name}.{var}: {int(np.sum(got != expected))} of {expected.size} values differ")
    return problems


def run(a: argparse.Namespace) -> int:
    from compilers.netdir import load_network, network_dataset
    from toolkit import ir
    from toolkit.backends.lava_sim import run_lava
    from toolkit.backends.reference import simulate

    graph = load_network(a.net)
    src = network_dataset(a.net, a.data, a.data_dir)
    test = src.load()[1].take(a.limit)
    groups = [n.name for n in graph.nodes if isinstance(n, ir.NeuronGroup)]
    ref = simulate(graph, test.x, timesteps=a.timesteps, record=groups)
    lava = run_lava(graph, test.x, timesteps=a.timesteps, record=groups, progress=False)
    problems = compare_traces(ref.traces, lava.traces)
    if not np.array_equal(ref.scores, lava.scores):
        problems.insert(0, f"output: {int(np.sum(np.any(ref.scores != lava.scores, axis=1)))} images differ")
    values = sum(arr.size for v in ref.traces.values() for arr in v.values())
    if problems:
        print(f"{a.net}: {len(problems)} differences between Lava fixed_pt and the reference:")
        print("\n".join("  " + p for p in problems))
        return 3
    print(f"{a.net}: Lava fixed_pt and the reference agree on {len(test)} images x {ref.timesteps} steps: "
          f"every output count and all {values:,} recorded spikes and state values of {len(groups)} neuron groups")
    return 0
