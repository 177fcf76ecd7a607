"""The ``nfa`` command line. One module per subcommand, listed in ``COMMANDS``.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> exit code``, and imports heavy libraries inside ``run`` so ``nfa --help``
stays fast. ``main`` turns a ``ToolkitError`` into one line on stderr (exit 2; exit 1
for an unavailable backend), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from toolkit.errors import BackendUnavailableError, ToolkitError

__all__ = ["COMMANDS", "build_parser", "main"]

#: subcommand name -> module under toolkit.cli
COMMANDS: dict[str, str] = {
    "demo": "toolkit.cli.demo",
    "train": "toolkit.cli.train",
    "learn": "toolkit.cli.learn",
    "bench": "toolkit.cli.bench",
    "compile": "toolkit.cli.compile",
    "run": "toolkit.cli.run",
    "inspect": "toolkit.cli.inspect",
    "export": "toolkit.cli.export",
    "verify": "toolkit.cli.verify",
    "info": "toolkit.cli.info",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nfa", description="Train networks without weight transport, compile them for Loihi, "
        "run them in Lava's simulator, the reference simulator, or on Loihi 2.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = _module(name)
        mod.add_arguments(sub.add_parser(name, help=mod.HELP, description=mod.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = _module(args.command).run(args)
        return code
    except BackendUnavailableError as exc:
        print(f"nfa {args.command}: {exc}", file=sys.stderr)
        return 1
    except ToolkitError as exc:
        print(f"nfa {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nfa {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`nfa inspect NET | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
