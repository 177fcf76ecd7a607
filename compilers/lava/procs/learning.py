"""``LearningLIFReset``: a learning neuron that Lava's plastic synapses can read.

Lava's ``LearningLIF`` only declares the ports of a learning neuron; its models never send on them, and
a network wired to them waits forever (``../shared/research/lava.md`` §1.5). This process is LIFReset's
neuron (windowed state reset, Lava's fixed-point LIF, reset to zero) that also, every step,

* sends its spikes on ``s_out_bap`` (the postsynaptic spikes y0 of the plastic synapses into it);
* keeps and sends its own spike trace on ``s_out_y1``: y1 ← min(127, ⌊y1 · (4096 − y1_decay) / 4096⌋ +
  y1_impulse · spike), integers, no stochastic rounding (0 ≤ y1_decay ≤ 4096);
* splits what arrives on ``a_third_factor_in`` (the error or reward, through fixed synapses such as the
  feedback matrix B) into its positive and negative parts and sends them on ``s_out_y2`` and
  ``s_out_y3``, each clipped to the 7-bit trace range 0..127.

A third-factor rule (``Loihi3FLearningRule``) then reads y1..y3 as delivered. y1 is reset with the
neuron's state at the start of each sample window. CPU (fixed_pt) only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.neuron import LearningNeuronModelFixed
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.process import LearningLIF

from compilers.lava.procs.neurons import WindowedLifFixed

_TRACE_MAX = 127


class LearningLIFReset(LearningLIF):
    """LIFReset's neuron with the learning ports driven (see the module doc)."""

    def __init__(self, *, reset_interval: int, reset_offset: int, y1_impulse: int = 0, y1_decay: int = 4096,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.proc_params["reset_interval"] = int(reset_interval)
        self.proc_params["reset_offset"] = int(reset_offset)
        self.proc_params["y1_impulse"] = int(y1_impulse)
        self.proc_params["y1_decay"] = int(y1_decay)


@implements(proc=LearningLIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyLearningLIFResetModel(LearningNeuronModelFixed, WindowedLifFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.y1_impulse = int(proc_params["y1_impulse"])
        self.y1_keep = 4096 - int(proc_params["y1_decay"])

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        third = self.a_third_factor_in.recv().astype(np.int64)
        if self.window_starts():
            self.u *= 0
            self.v *= 0
            self.y1 *= 0  # type: ignore[has-type]  # a Var Lava declares without a type
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a_in)
        spikes = self.spiking_activation()
        self.reset_voltage(spike_vector=spikes)
        y1 = (self.y1.astype(np.int64) * self.y1_keep) >> 12  # type: ignore[has-type]
        self.y1 = np.minimum(_TRACE_MAX, y1 + self.y1_impulse * spikes).astype(np.int32)
        self.y2 = np.clip(third, 0, _TRACE_MAX).astype(np.int32)
        self.y3 = np.clip(-third, 0, _TRACE_MAX).astype(np.int32)
        self.s_out.send(spikes)
        self.s_out_bap.send(spikes)
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2)
        self.s_out_y3.send(self.y3)
