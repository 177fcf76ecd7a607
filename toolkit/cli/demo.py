"""``nfa demo``: train BP, FA and FA + noise on digits, compile, run in Lava, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.argtypes import at_least

HELP = "train BP / FA / FA+noise on digits, compile for Loihi 2, run the test set in Lava, report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=at_least(1), default=20, help="data epochs per method (default 20)")
    p.add_argument("--noise-steps", type=at_least(0), default=3000, help="noise pretraining steps (default 3000)")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=32, help="timesteps per sample (default 32)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--hw", default="loihi2", help="hardware config name or YAML path (default loihi2)")
    p.add_argument("--backend", choices=["lava-sim", "reference"], default="lava-sim",
                   help="where to run the spiking network (default lava-sim)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(a: argparse.Namespace) -> int:
    from toolkit.backends import Backend
    from toolkit.demo import DemoConfig, run_demo

    report = run_demo(DemoConfig(out=a.out, epochs=a.epochs, noise_steps=a.noise_steps, timesteps=a.timesteps,
                                 seed=a.seed, hw=a.hw, backend=Backend(a.backend), progress=not a.no_progress))
    print("\n".join(report["summary"]))
    return 0
