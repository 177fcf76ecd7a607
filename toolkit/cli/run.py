"""``nfa run``: evaluate a compiled network on a backend and print accuracy and timing."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.argtypes import at_least

HELP = "evaluate a compiled network on the reference simulator, Lava's simulator or Loihi 2"
DEFAULT_NET = Path("runs/demo/net")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", nargs="?", type=Path, default=DEFAULT_NET,
                   help=f"compiled network folder (default {DEFAULT_NET})")
    p.add_argument("--backend", choices=["reference", "lava-sim", "loihi2"], default="reference",
                   help="reference (fast, bit-exact), lava-sim (Lava CPU simulator) or loihi2 (hardware)")
    p.add_argument("--data", default=None,
                   help="dataset name or path (default: the one the network was compiled on, else digits)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the dataset's files")
    p.add_argument("--onoff", action="store_true",
                   help="feed signed samples as ON/OFF channels (default: as the network was compiled)")
    p.add_argument("--limit", type=at_least(1), default=None, help="evaluate only the first N test images")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=None, help="override the compiled timesteps")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(a: argparse.Namespace) -> int:
    from compilers.netdir import network_dataset
    from toolkit.backends import Backend, backend_status
    from toolkit.errors import BackendUnavailableError
    from toolkit.fsutil import write_json
    from toolkit.runner import run as evaluate

    ok, reason = backend_status(Backend(a.backend))  # before loading anything: fail fast and honestly
    if not ok:
        raise BackendUnavailableError(reason)
    src = network_dataset(a.net, a.data, a.data_dir, a.onoff)
    ev = evaluate(a.net, src, backend=a.backend, limit=a.limit, timesteps=a.timesteps, progress=not a.no_progress)
    data = src.dataset + (" (ON/OFF)" if src.onoff else "")
    print(f"{ev.backend}: accuracy {ev.accuracy:.4f} on {ev.n} {data} test images, {ev.timesteps} timesteps per "
          f"sample, {ev.wall_s:.2f} s wall time")
    if a.json is not None:
        write_json(a.json, {**ev.to_json(), "dataset": src.dataset, "onoff": src.onoff, **ev.per_sample()})
    return 0
