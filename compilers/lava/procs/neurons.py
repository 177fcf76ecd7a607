"""``LIFResetSubtract``: Lava's LIFReset with reset by subtraction (v ← v − vth·2^6); ``LIFResetVoltage``: Lava's
LIFReset that also sends its voltage (a leaky-integrator read-out).

Lava's LIF resets the voltage to zero after a spike; rate-coded conversion loses less
information when the residue above threshold is kept. The sub-threshold dynamics are
Lava's own (``AbstractPyLifModelFixed.subthr_dynamics``); the model adds the periodic
state reset of ``LIFReset`` and the subtractive spike reset. CPU simulation only: Lava
ships no neuro-core model for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed
from lava.proc.lif.process import LIFReset


class LIFResetSubtract(LIFReset):
    """LIFReset whose spike reset subtracts the threshold instead of zeroing the voltage."""


class WindowedLifFixed(AbstractPyLifModelFixed):
    """What our fixed-point LIF models share with Lava's ``PyLifResetModelBitAcc``: the threshold scaled as
    Loihi scales it (vth << 6), spiking above it, and a state reset every ``reset_interval`` steps at
    ``reset_offset`` (``window_starts``). Not a model by itself (no ``@implements``)."""

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.effective_vth = 0
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"]) % self.reset_interval

    def scale_threshold(self) -> None:
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self) -> np.ndarray:
        return self.v > self.effective_vth

    def window_starts(self) -> bool:
        """True at the first step of a sample's window (the state is then reset)."""
        return bool(self.time_step % self.reset_interval == self.reset_offset)

    def lif_step(self, reset_subtract: bool) -> np.ndarray:
        """One step: the window's reset, Lava's sub-threshold dynamics, the spikes (returned) and their reset, to
        zero or by subtracting the threshold."""
        a_in = self.a_in.recv()
        if self.window_starts():
            self.u *= 0
            self.v *= 0
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a_in)
        spikes = self.spiking_activation()
        if reset_subtract:
            self.v[spikes] -= self.effective_vth
        else:
            self.v[spikes] = 0
        return spikes


@implements(proc=LIFResetSubtract, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyLIFResetSubtractModel(WindowedLifFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def run_spk(self) -> None:
        self.s_out.send(self.lif_step(reset_subtract=True))


class LIFResetVoltage(LIFReset):
    """LIFReset that also sends, every step, its voltage v after the step (port ``v_out``, 24-bit values).

    A ``VOLTAGE`` read-out (``ir.ReadoutMode``) needs the read-out group's v at each sample's last step; reading
    ``v`` with ``Var.get`` per sample is slow (one message per element) and a Monitor keeps every step, so the group
    sends v and a ``SampleCounter(last=True)`` keeps the value of the window's last step. ``reset_subtract``
    chooses the spike reset (v ← v − vth·2^6 instead of v ← 0); the dynamics are otherwise Lava's."""

    def __init__(self, *, reset_subtract: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.proc_params["reset_subtract"] = bool(reset_subtract)
        self.v_out = OutPort(shape=tuple(kwargs["shape"]))


@implements(proc=LIFResetVoltage, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyLIFResetVoltageModel(WindowedLifFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.reset_subtract = bool(proc_params["reset_subtract"])

    def run_spk(self) -> None:
        self.s_out.send(self.lif_step(self.reset_subtract))
        self.v_out.send(self.v)
