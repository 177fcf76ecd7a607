"""``nfa bench NAME``: one sub-subcommand per benchmark module (see ``toolkit.bench``)."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

HELP = ("benchmarks: cheon (BP vs FA vs FA + noise pretraining), speed (step time of every rule vs BP), "
        "sim (reference simulator vs Lava), learn (on-chip learning: reference vs Lava), eprop (recurrent spiking "
        "networks: BPTT vs e-prop vs e-prop + noise), deploy-rsnn (trained recurrent networks: float vs reference vs "
        "Lava fixed_pt)")

#: benchmark name -> module exposing add_arguments(parser), run(args) -> int and a docstring.
BENCHMARKS: dict[str, str] = {
    "cheon": "toolkit.bench.cheon",
    "speed": "toolkit.bench.speed",
    "sim": "toolkit.bench.sim",
    "learn": "toolkit.bench.learn",
    "eprop": "toolkit.bench.eprop",
    "deploy-rsnn": "toolkit.bench.rsnn_deploy",
}


def available_benchmarks() -> dict[str, str]:
    return dict(BENCHMARKS)


def _module(path: str) -> ModuleType:
    return importlib.import_module(path)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, path in available_benchmarks().items():
        mod = _module(path)
        doc = (mod.__doc__ or name).strip().splitlines()[0]
        mod.add_arguments(sub.add_parser(name, help=doc, description=doc))


def run(a: argparse.Namespace) -> int:
    code: int = _module(available_benchmarks()[a.benchmark]).run(a)
    return code
