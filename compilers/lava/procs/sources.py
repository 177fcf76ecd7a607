"""``EncodedSource``: feeds a whole dataset into a Lava network, one sample per T steps.

It holds the samples' integer input levels (N, *shape), or (N, S, *shape) for a sequence input of S rows,
once and computes each sample's spikes with ``toolkit.encoding`` when the sample starts, so the reference simulator and
Lava receive identical input. At global step t (1-based) it sends step τ = (t−1−offset) mod T
of sample n = (t−1−offset) div T: ``offset`` steps late (a graph's inputs may start their
windows at different steps, see ``compilers.lava.lower``), and zeros before and after.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from toolkit.encoding import encode_sample
from toolkit.ir.io import Encoding


class EncodedSource(AbstractProcess):
    """Sends encoded samples: ``levels`` (N, *shape) int, or (N, S, *shape) for ``sequence`` = S rows per sample;
    ``timesteps`` T per sample."""

    def __init__(self, *, levels: np.ndarray, timesteps: int, encoding: str, bits: int, seed: int, offset: int = 0,
                 sequence: int = 0, name: str | None = None) -> None:
        super().__init__(levels=levels, timesteps=timesteps, encoding=encoding, bits=bits, seed=seed, offset=offset,
                         sequence=sequence, name=name)
        self.levels = Var(shape=levels.shape, init=levels)
        self.s_out = OutPort(shape=levels.shape[2:] if sequence else levels.shape[1:])


@implements(proc=EncodedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyEncodedSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    levels: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.timesteps = int(proc_params["timesteps"])
        self.encoding = Encoding(proc_params["encoding"])
        self.bits = int(proc_params["bits"])
        self.seed = int(proc_params["seed"])
        self.offset = int(proc_params["offset"])
        self._shape = tuple(proc_params["levels"].shape[2 if proc_params["sequence"] else 1:])
        self._block = np.zeros((0,), np.int32)

    def run_spk(self) -> None:
        n, tau = divmod(self.time_step - 1 - self.offset, self.timesteps)
        if not 0 <= n < self.levels.shape[0]:
            self.s_out.send(np.zeros(self._shape, np.int32))
            return
        if tau == 0:
            self._block = encode_sample(self.levels[n], self.timesteps, self.encoding, bits=self.bits,
                                        seed=self.seed, index=n)
        self.s_out.send(self._block[tau])
