"""``SampleCounter``: sums what arrives per sample window (spike counts or graded values), or, with ``last``,
keeps what arrives at the window's last step (a voltage read-out: ``LIFResetVoltage.v_out``).

The network's last neuron group emits step τ of sample n at global step
t = n·T + τ + latency, where latency is the number of synapses on the path (each Lava
synapse delays by one step). The counter adds its input at step t to ``counts[n]``, so
reading ``counts`` once at the end costs N × classes element reads, not N × T.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class SampleCounter(AbstractProcess):
    """Per-sample sums ``counts`` (n_samples, *shape) of the input over each T-step window (``last``: the input at
    the window's last step)."""

    def __init__(self, *, shape: tuple[int, ...], n_samples: int, timesteps: int, latency: int, last: bool = False,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, n_samples=n_samples, timesteps=timesteps, latency=latency, last=last,
                         name=name)
        self.a_in = InPort(shape=shape)
        self.counts = Var(shape=(n_samples, *shape), init=np.zeros((n_samples, *shape), np.int32))


@implements(proc=SampleCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySampleCounterModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.timesteps = int(proc_params["timesteps"])
        self.latency = int(proc_params["latency"])
        self.last = bool(proc_params["last"])

    def run_spk(self) -> None:
        data = self.a_in.recv()
        local = self.time_step - self.latency - 1
        if local >= 0:
            n = local // self.timesteps
            if n >= self.counts.shape[0]:
                return
            if not self.last:
                self.counts[n] += data.astype(np.int32)
            elif local % self.timesteps == self.timesteps - 1:
                self.counts[n] = data.astype(np.int32)
