"""The options of one compilation, shared by the pipeline's passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compilers.passes.convert import ConversionMode
from toolkit import ir
from toolkit.hw import HardwareConfig

__all__ = ["CompileOptions"]

#: per conversion mode: (default timesteps per sample, default input encoding)
_MODE_DEFAULTS: dict[ConversionMode, tuple[int, ir.Encoding]] = {
    ConversionMode.RATE: (32, ir.Encoding.RATE),
    # With the default delta threshold (one message unit) every layer settles in the first step.
    ConversionMode.SDN: (1, ir.Encoding.DELTA),
}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CompileOptions:
    """What to compile for: hardware, conversion mode, calibration data, timesteps.

    ``timesteps`` and ``encoding`` default (None) to the mode's: rate 32 steps of rate-coded
    spikes, sdn 1 step of the delta-encoded image. Rate coding only: ``reset``. Sigma-delta
    only: ``delta_threshold`` (in units of each layer's balanced activation scale; at least
    one message unit), ``cum_error`` (Lava's accumulated-error spiking), ``message_bits``
    (signed width of the graded spikes, at most the chip's ``synapse.max_message_bits``).
    ``netx_compatible``: quantise so lava-dl netx can express the network exactly (``nfa export``):
    weight exponent 0 (a negative one folded into the registers), biases in steps of 2^6; rate
    mode with reset to zero and binary (rate or poisson) input only.
    """

    hw: HardwareConfig
    calibration: np.ndarray
    mode: ConversionMode = ConversionMode.RATE
    percentile: float = 99.9
    reset: ir.ResetMode = ir.ResetMode.ZERO
    encoding: ir.Encoding | None = None
    timesteps: int | None = None
    allow_clipping: bool = False
    delta_threshold: float = 0.0
    cum_error: bool = False
    message_bits: int = 16
    netx_compatible: bool = False

    @property
    def steps(self) -> int:
        """Timesteps per sample: ``timesteps``, or the mode's default."""
        return self.timesteps if self.timesteps is not None else _MODE_DEFAULTS[self.mode][0]

    @property
    def input_encoding(self) -> ir.Encoding:
        """Input encoding: ``encoding``, or the mode's default."""
        return self.encoding if self.encoding is not None else _MODE_DEFAULTS[self.mode][1]
