"""The reference simulator: NumPy engines that step quantised IR graphs in Loihi's fixed-point arithmetic,
exactly as Lava's bit-accurate ProcessModels do (``core`` documents time and exactness, ``engines`` the
engines, ``fixed`` the neuron arithmetic, written once).

One module per node family registers its model in ``MODELS``; importing this package imports them all.
"""

from toolkit.backends.reference import conv, dense, lif, sigma_delta  # noqa: F401  (register the node models)
from toolkit.backends.reference.core import (
           MODELS,
           NodeModel,
           Recorder,
           dendritic_sum,
           exact_float_dtype,
           register_model,
)
from toolkit.backends.reference.engines import ENGINES, simulate
from toolkit.backends.reference.fixed import lif_update

__all__ = ["ENGINES", "MODELS", "NodeModel", "Recorder", "dendritic_sum", "exact_float_dtype", "lif_update",
           "register_model", "simulate"]
