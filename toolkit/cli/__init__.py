"""The ``nfa`` command line. One module per subcommand, listed in ``COMMANDS``.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> exit code``, and imports heavy libraries inside ``run`` so ``nfa --help``
stays fast. ``main`` turns a ``ToolkitError`` into one line on stderr (exit 2; exit 1
for an unavailable backend), never a traceback; anything else is a bug of ours, reported in one
line as an internal error (exit 70, BSD's EX_SOFTWARE) unless ``nfa --debug`` asks for the traceback.
``nfa sweep`` also exits 1 when a trial failed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from toolkit.argtypes import OneLineParser
from toolkit.errors import BackendUnavailableError, ToolkitError

__all__ = ["COMMANDS", "build_parser", "main"]

#: subcommand name -> module under toolkit.cli
COMMANDS: dict[str, str] = {
    "demo": "toolkit.cli.demo",
    "train": "toolkit.cli.train",
    "learn": "toolkit.cli.learn",
    "sweep": "toolkit.cli.sweep",
    "bench": "toolkit.cli.bench",
    "compile": "toolkit.cli.compile",
    "run": "toolkit.cli.run",
    "inspect": "toolkit.cli.inspect",
    "import": "toolkit.cli.import_net",
    "export": "toolkit.cli.export",
    "verify": "toolkit.cli.verify",
    "info": "toolkit.cli.info",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="nfa", description="Train networks without weight transport, compile them for Loihi, "
        "run them in Lava's simulator, the reference simulator, or on Loihi 2.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full Python traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = _module(name)
        mod.add_arguments(sub.add_parser(name, help=mod.HELP, description=mod.HELP))
    return parser


#: exit code of an unexpected exception (BSD sysexits.h EX_SOFTWARE: an internal software error)
INTERNAL_ERROR = 70


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = _module(args.command).run(args)
        return code
    except BrokenPipeError:  # the reader went away (`nfa inspect NET | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except KeyboardInterrupt:
        print(f"nfa {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report(args.command, exc)


def _report(command: str, exc: Exception) -> int:
    """One line on stderr for ``exc``; the exit code."""
    if isinstance(exc, BackendUnavailableError):
        print(f"nfa {command}: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, ToolkitError):
        print(f"nfa {command}: error: {exc}", file=sys.stderr)
        return 2
    what = " ".join(f"{type(exc).__name__}: {exc}".split())   # one line even if the message spans several
    print(f"nfa {command}: internal error (a bug, please report it): {what[:500]}; rerun with "
          f"`nfa --debug {command} ...` for the traceback", file=sys.stderr)
    return INTERNAL_ERROR
