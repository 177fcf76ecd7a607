"""The reference simulator: a batched NumPy interpreter of quantised IR graphs that reproduces
Lava's bit-accurate fixed-point ProcessModels exactly (see ``core`` for timing and exactness).

One module per node family registers its rule in ``REFERENCE``; importing this package
imports them all.
"""

from toolkit.backends.reference import conv, dense, lif, sigma_delta  # noqa: F401  (register the node rules)
from toolkit.backends.reference.core import (
    REFERENCE,
    Recorder,
    dendritic_sum,
    exact_float_dtype,
    register_reference,
    simulate,
)
from toolkit.backends.reference.lif import lif_step

__all__ = ["REFERENCE", "Recorder", "dendritic_sum", "exact_float_dtype", "lif_step", "register_reference",
           "simulate"]
