"""``nfa train CONFIG.yaml``: one experiment (noise phase, data phase) from a YAML config."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.argtypes import at_least

HELP = "train a network from a YAML experiment config (rule, noise pretraining, data, optimiser)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="experiment config (YAML; see examples/ and docs/training.md)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="run folder (default runs/<config file name without .yaml>)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output folder from its last.pt")
    p.add_argument("--threads", type=at_least(1), default=None,
                   help="torch threads (default: torch's choice; 1 is fastest for small networks on a busy machine)")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|cuda",
                   help="where to train: cpu (default), cuda (or cuda:N; an error if there is none) or auto (cuda if "
                        "torch sees a GPU, else cpu); the device used is printed and logged")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(a: argparse.Namespace) -> int:
    import torch

    from toolkit.config import load_experiment
    from toolkit.training.experiment import run_experiment

    if a.threads is not None:
        torch.set_num_threads(a.threads)

    cfg = load_experiment(a.config)
    out = a.out if a.out is not None else Path("runs") / a.config.stem
    res = run_experiment(cfg, out, resume=a.resume, progress=not a.no_progress, device=a.device)
    last = res.history[-1]
    first = res.history[1] if len(res.history) > 1 else last
    resumed = f" (resumed after epoch {res.resumed_from})" if res.resumed_from is not None else ""
    print(f"{cfg.data.dataset}, rule {cfg.rule.value}{' + noise' if cfg.noise.steps else ''}: "
          f"test accuracy {last['test_acc']:.4f} after {last['epoch']} epochs "
          f"(after epoch 1: {first['test_acc']:.4f}){resumed}; trained on {res.device}")
    for row in last.get("layers", []):
        wb = "-" if row["angle_wb"] is None else f"{row['angle_wb']:.1f}°"
        dl = "-" if row["angle_delta"] is None else f"{row['angle_delta']:.1f}°"
        print(f"  {row['layer']:8s} ∠(Wᵀ,B) {wb:>7s}  ∠(δ,δ_BP) {dl:>7s}  effective dim {row['eff_dim']:.1f}")
    print(f"wrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir() if not p.name.startswith("."))))
    return 0
