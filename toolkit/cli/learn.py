"""``nfa learn CONFIG.yaml``: the on-chip FA network learns a dataset by itself (reference or Lava), optionally
after on-chip noise pretraining; writes the learned networks, ``report.json`` and the accuracy curve."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from toolkit.argtypes import at_least

HELP = "learn on chip: the on-chip FA network learns a dataset in the reference or Lava (with noise pretraining)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path,
                   help="on-chip learning config (YAML; see examples/onchip/onchip-digits.yaml)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="output folder (default runs/<config file name without .yaml>)")
    p.add_argument("--backend", choices=["reference", "lava-sim"], default=None,
                   help="where the network learns (default: the config's, else reference); loihi2 is refused: "
                        "this toolkit has no lava-loihi learning models")
    p.add_argument("--seeds", type=at_least(0), nargs="+", default=None, help="override the config's seeds")
    p.add_argument("--passes", type=at_least(1), default=None,
                   help="override the config's passes over the training set")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _summary(runs: list[Any]) -> list[str]:
    lines = []
    for r in runs:
        f = r.final
        lava = (f" | Lava {f['lava_accuracy']:.4f} (same predictions: {f['same_predictions']})"
                if "lava_accuracy" in f else "")
        angles = ", ".join(f"{k} {v:.1f}°" for k, v in r.angles.items() if v == v)
        if r.start:
            lines.append(f"{r.label}: continued from {r.start['checkpoint']} with its B (registers at "
                         f"{r.start['feedback_register_angle']:.1f}° from the float B), test accuracy on chip before "
                         f"learning {r.curve[0]['accuracy']:.4f}")
        lines.append(f"{r.label}: test accuracy after each pass {[round(a, 4) for a in r.pass_accuracy]}, "
                     f"final reference {f['reference_accuracy']:.4f}{lava}; W2ᵀ–B angle {angles}; {r.wall_s:.0f} s")
    return lines


def run(a: argparse.Namespace) -> int:
    import dataclasses

    from toolkit.backends import Backend, backend_status
    from toolkit.config import LearnBackend, load_learn_config
    from toolkit.errors import BackendUnavailableError
    from toolkit.learn import learn, write_learn_outputs

    cfg = load_learn_config(a.config)
    changes: dict[str, Any] = {}
    if a.backend is not None:
        changes["backend"] = LearnBackend(a.backend)
    if a.seeds is not None:
        changes["seeds"] = tuple(a.seeds)
    if a.passes is not None:
        changes["passes"] = a.passes
    cfg = dataclasses.replace(cfg, **changes)
    ok, reason = backend_status(Backend(cfg.backend.value))
    if not ok:
        raise BackendUnavailableError(reason)
    out = a.out if a.out is not None else Path("runs") / a.config.stem
    runs = learn(cfg, progress=not a.no_progress)
    paths = write_learn_outputs(cfg, runs, out)
    for line in _summary(runs):
        print(line)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
