"""Backends under conformance test, and what each cannot do (with the reason).

Every backend is compared with the reference simulator (``toolkit.backends.reference``),
the executable definition of the chip's arithmetic. ``UNSUPPORTED`` is the table of cases a
backend is not tested on; docs/conformance.md shows the same table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from toolkit import ir
from toolkit.backends.base import RunResult

__all__ = ["BACKENDS", "UNSUPPORTED", "unsupported_reason"]


def _lava(graph: ir.Graph, x: np.ndarray, record: list[str]) -> RunResult:
    from toolkit.backends.lava_sim import run_lava

    return run_lava(graph, x, record=record, progress=False)


#: backend name -> runner(graph, x, names of neuron groups to record)
BACKENDS: dict[str, Callable[[ir.Graph, np.ndarray, list[str]], RunResult]] = {
    "lava-sim": _lava,
}

#: (backend, what) -> why it is not conformance-tested
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("loihi2", "*"): "needs Intel's lava-loihi extension and a board; neither is available to this project",
    ("loihi2", "learning"): "Lava's fixed-point learning models are only 'bit_approximate_loihi': the reference "
                            "equals them bit for bit (the plastic family, and 150 single-synapse cases in "
                            "tests/test_learning.py), but agreement with the chip's own learning engine cannot be "
                            "checked without a board",
    ("lava-sim", "floating_pt"): "Lava's floating-point models interpret fixed-point parameters differently "
                                 "(du = 4095 means 4095x, not 1); we always select fixed_pt",
    ("lava-sim", "int32 overflow"): "Lava's CPU models add graded dendritic sums and sigma-delta states in numpy "
                                    "int32, which wraps past 2^31, far outside the chip's 24-bit formats; the "
                                    "reference sums exactly, so the two differ there (a right-shifted sum of a "
                                    "wrapped int32 is not the wrapped shifted sum). Cases stay inside int32 "
                                    "(tests/conformance/cases.py: _fit_dense, _fit_conv)",
}


def unsupported_reason(backend: str, what: str) -> str | None:
    return UNSUPPORTED.get((backend, what)) or UNSUPPORTED.get((backend, "*"))
