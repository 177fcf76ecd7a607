"""``LIFResetSubtract``: Lava's LIFReset with reset by subtraction (v ← v − vth·2^6); ``LIFResetVoltage``: Lava's
LIFReset that also sends its voltage (a leaky-integrator read-out); ``ALIFReset``: LIFReset with an adaptive
threshold (``ir.LoihiALIF``).

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
from lava.magma.core.process.variable import Var
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


class ALIFReset(LIFReset):
    """LIFReset with an adaptive threshold (``ir.LoihiALIF``, whose docstring states the arithmetic): a Var ``r``
    (the adaptation, voltage units, reset with u and v at each window's start), the threshold increment ``beta``
    per spike and its 12-bit decay ``dr``. Sends its spikes on ``s_out`` and, every step, its voltage on ``v_out``
    (a ``VOLTAGE`` read-out; unconnected otherwise). ``reset_subtract``: v ← v − (vth·2^6 + r) after a spike
    instead of v ← 0."""

    def __init__(self, *, beta: int = 0, dr: int = 0, reset_subtract: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(kwargs["shape"])
        self.proc_params["reset_subtract"] = bool(reset_subtract)
        self.r = Var(shape=shape, init=0)
        self.beta = Var(shape=(1,), init=int(beta))
        self.dr = Var(shape=(1,), init=int(dr))
        self.v_out = OutPort(shape=shape)


@implements(proc=ALIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyALIFResetModel(WindowedLifFixed):
    """u and v are Lava's (``subthr_dynamics``); the threshold, its reset and r are ``ir.LoihiALIF``'s, in int64
    (r · (4096 − dr) reaches 2^35)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)
    r: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    beta: int = LavaPyType(int, np.int32, precision=17)
    dr: int = LavaPyType(int, np.uint16, precision=12)

    _R_MAX = (1 << 23) - 1

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.reset_subtract = bool(proc_params["reset_subtract"])

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        if self.window_starts():
            self.u *= 0
            self.v *= 0
            self.r *= 0
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a_in)
        r = self.r.astype(np.int64)
        theta = r + np.int64(self.effective_vth)
        spikes = self.v > theta
        self.v[:] = np.where(spikes, 0 if not self.reset_subtract else self.v - theta, self.v)
        keep = 4096 - int(np.asarray(self.dr).item())
        increment = int(np.asarray(self.beta).item()) << self.vth_shift
        self.r[:] = np.minimum(((r * keep) >> 12) + increment * spikes, self._R_MAX)
        self.s_out.send(spikes)
        self.v_out.send(self.v)
