"""``nfa bench NAME``: one sub-subcommand per benchmark module (see ``toolkit.bench``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from types import ModuleType

HELP = "benchmarks: cheon (BP vs FA vs FA + noise pretraining), speed (step time of every rule vs BP)"

#: benchmark name -> module exposing add_arguments(parser), run(args) -> int and a docstring.
BENCHMARKS: dict[str, str] = {
    "cheon": "toolkit.bench.cheon",
    "speed": "toolkit.bench.speed",
}

#: benchmarks whose module may not exist yet; each is listed only once its module is present.
#: "sim" (spiking simulators) is added as "toolkit.bench.sim".
OPTIONAL_BENCHMARKS: dict[str, str] = {
    "sim": "toolkit.bench.sim",
}


def available_benchmarks() -> dict[str, str]:
    found = {k: v for k, v in OPTIONAL_BENCHMARKS.items() if importlib.util.find_spec(v) is not None}
    return {**BENCHMARKS, **found}


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
