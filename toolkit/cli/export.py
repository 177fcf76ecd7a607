"""``nfa export``: write a compiled network in another tool's format (lava-dl netx HDF5, or NIR)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.argtypes import positive_float

if TYPE_CHECKING:
    from toolkit import ir

HELP = ("export a compiled network as lava-dl netx HDF5 or as NIR (refuses anything the format would compute "
        "differently)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", type=Path, help="compiled network folder (from `nfa compile` or `nfa demo`)")
    p.add_argument("--format", choices=["netx", "nir"], default="netx", help="output format (default netx)")
    p.add_argument("-o", "--out", type=Path, required=True, help="file to write, e.g. model.net or model.nir")
    p.add_argument("--dt", type=positive_float, default=1e-3,
                   help="NIR only: seconds per time step, to state the decays as time constants (default 1e-3)")


def run(a: argparse.Namespace) -> int:
    from compilers.netdir import load_network

    graph = load_network(a.net)
    return _write_nir(graph, a) if a.format == "nir" else _write_netx(graph, a)


def _write_netx(graph: ir.Graph, a: argparse.Namespace) -> int:
    from compilers.netx import netx_layers, write_netx

    write_netx(graph, a.out)
    t = int(graph.timesteps or 1)
    print(f"wrote {a.out}: {len(netx_layers(graph)) - 1} dense CUBA layer(s) after a spike input; netx runs it "
          f"exactly as our Lava lowering does; load it with lava.lib.dl.netx.hdf5.Network(net_config='{a.out}', "
          f"reset_interval={t}, reset_offset=1) to reset every {t}-step sample as the compiled network does")
    return 0


def _write_nir(graph: ir.Graph, a: argparse.Namespace) -> int:
    """NIR has no plasticity: plastic synapses are written with the weights they hold now, and the user is told."""
    from compilers.nir_io import write_nir
    from toolkit import ir

    write_nir(graph, a.out, dt=a.dt)
    print(f"wrote {a.out}: NIR {len(graph.of_type(ir.LoihiLIF))} neuron group(s) at dt = {a.dt} s, with this "
          "toolkit's exact registers in each node's metadata (`nfa import` reads them back unchanged)")
    plastic = [s.name for s in graph.of_type(ir.Synapse) if s.plastic is not None]
    if plastic:
        print(f"note: NIR has no plasticity: synapse(s) {', '.join(plastic)} were written as fixed synapses with "
              "their current weights; their learning rules are not in the file")
    return 0
