"""``nfa import FILE -o NET_DIR``: a network written by another tool (NIR, lava-dl netx) as a compiled network."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.argtypes import at_least, positive_float

HELP = "import a NIR graph or a lava-dl netx HDF5 file as a compiled network folder (format told by content)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="the network file (NIR .nir/.h5, or netx .net/.h5)")
    p.add_argument("-o", "--out", type=Path, required=True, help="compiled network folder to write")
    p.add_argument("--dt", type=positive_float, default=1e-3,
                   help="time step in seconds for continuous-time dynamics (NIR's tau; default 1e-3)")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=None, help="steps per sample (default: the reader's)")
    p.add_argument("--hw", default="loihi2", help="hardware config name or YAML path (default loihi2)")
    p.add_argument("--encoding", choices=["rate", "poisson", "current", "delta"], default=None,
                   help="how samples in [0, 1] become the input (default: rate for binary inputs, delta for netx's "
                        "graded sigma-delta input)")
    p.add_argument("--input-bits", type=at_least(1), default=None, help="input levels' bits (default 8)")
    p.add_argument("--reset", choices=["zero", "subtract"], default=None,
                   help="NIR only: the spike reset (NIR's is to zero; subtract approximates snnTorch's default "
                        "reset, see docs/interop.md)")


def run(a: argparse.Namespace) -> int:
    from compilers.importers import ImportOptions, import_network

    extra = {k: v for k, v in (("encoding", a.encoding), ("bits", a.input_bits), ("reset", a.reset)) if v is not None}
    imported = import_network(a.file, a.out, ImportOptions(dt=a.dt, timesteps=a.timesteps, hw=a.hw, extra=extra))
    r = imported.report
    print(f"imported {a.file} ({r.get('format', '?')}): {len(imported.graph.nodes)} nodes; wrote {a.out}/")
    for line in r.get("notes", []):
        print(f"  {line}")
    return 0
