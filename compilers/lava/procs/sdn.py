"""``SigmaDeltaReset``: Lava's SigmaDelta neuron with a periodic state reset.

Lava's ``SigmaDelta`` keeps its state (sigma, act, residue, error) forever, so consecutive
samples in one runtime would leak into each other through residues. This process adds the
windowed reset of ``LIFReset``: at every step t with t mod ``reset_interval`` =
``reset_offset`` the state is zeroed before the step's dynamics. The dynamics are Lava's own
(``AbstractSigmaDeltaModel``), with the port and Var types of ``PySigmaDeltaModelFixed``, so
apart from the reset the model is Lava's fixed-point sigma-delta neuron. CPU simulation only:
Lava ships no neuro-core model for it.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.sdn.models import AbstractSigmaDeltaModel
from lava.proc.sdn.process import SigmaDelta


class SigmaDeltaReset(SigmaDelta):
    """SigmaDelta whose state is zeroed at steps t ≡ ``reset_offset`` (mod ``reset_interval``)."""

    def __init__(self, *, reset_interval: int, reset_offset: int, **kwargs: object) -> None:
        super().__init__(reset_interval=reset_interval, reset_offset=reset_offset, **kwargs)


@implements(proc=SigmaDeltaReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaResetModelFixed(AbstractSigmaDeltaModel):
    """Lava's ``PySigmaDeltaModelFixed`` plus the windowed state reset."""

    a_in = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    sigma: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    act: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    residue: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    error: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)

    spike_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)
    state_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)
    cum_error: np.ndarray = LavaPyType(np.ndarray, bool, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"]) % self.reset_interval

    def run_spk(self) -> None:
        a_in_data = self.a_in.recv()
        if self.time_step % self.reset_interval == self.reset_offset:
            for state in (self.sigma, self.act, self.residue, self.error):
                state *= 0
        s_out_scaled = self.dynamics(a_in_data)
        self.s_out.send(np.right_shift(s_out_scaled, self.state_exp))
