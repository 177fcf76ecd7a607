"""``nfa export``: write a compiled network in another tool's format (lava-dl netx HDF5)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a compiled network as lava-dl netx HDF5 (refuses anything netx would compute differently)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", type=Path, help="compiled network folder (from `nfa compile` or `nfa demo`)")
    p.add_argument("--format", choices=["netx"], default="netx", help="output format (default netx)")
    p.add_argument("-o", "--out", type=Path, required=True, help="file to write, e.g. model.net")


def run(a: argparse.Namespace) -> int:
    from compilers.netdir import load_network
    from compilers.netx import netx_layers, write_netx

    graph = load_network(a.net)
    write_netx(graph, a.out)
    t = int(graph.timesteps or 1)
    print(f"wrote {a.out}: {len(netx_layers(graph)) - 1} dense CUBA layer(s) after a spike input; netx runs it "
          f"exactly as our Lava lowering does; load it with lava.lib.dl.netx.hdf5.Network(net_config='{a.out}', "
          f"reset_interval={t}, reset_offset=1) to reset every {t}-step sample as the compiled network does")
    return 0
