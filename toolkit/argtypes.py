"""Argument types and the parser class of the ``nfa`` command line (here, not under ``toolkit.cli``, because the
benchmarks in ``toolkit.bench`` declare their arguments too).

Numbers are checked where they are parsed, so ``--limit -1`` (which Python's slicing would read as "all but
the last") or ``--timesteps 0`` (which ``or`` would read as "the default") never reach the code. A bad argument
is one line on stderr, as every other error of ``nfa`` is, naming the argument, what it got and what is valid.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

__all__ = ["OneLineParser", "at_least", "positive_float"]


def at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``lo``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    parse.__name__ = f"integer >= {lo}"   # what argparse names in its own messages
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` with its usage errors on one line (``nfa COMMAND: error: ...``, exit 2) and a pointer to
    ``--help`` instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)
