"""``WindowDense``: Lava's Dense with a longer delay and the per-sample gate a delayed synapse needs.

A synapse with logical delay d ≥ 1 (``ir.Synapse.delay``, e.g. a recurrent connection) delivers at a
sample's step τ its input of step τ − d; for τ ≤ d that input belongs to the *previous* sample, which
in a continuous Lava run is still in flight. This process delivers after ``delay`` steps (Dense: 1)
and drops every message that arrives in the first ``gate`` steps of its target's sample window
(window ``interval`` steps long, starting at time steps t ≡ ``offset`` + 1 mod ``interval``), so that
consecutive samples stay apart exactly as the IR defines. The weights and sums are those of Lava's
``PyDenseModelBitAcc`` (the same weight clipping and truncation, the same shift by ``weight_exp``).
CPU simulation only: Lava ships no neuro-core model for it.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import AbstractPyDenseModelBitAcc
from lava.proc.dense.process import Dense
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights


class WindowDense(Dense):
    """Dense delivering after ``delay`` ≥ 1 steps, dropping what arrives in the first ``gate`` steps of a window."""

    def __init__(self, *, delay: int, gate: int, interval: int, offset: int, **kwargs: object) -> None:
        super().__init__(delay=delay, gate=gate, interval=interval, offset=offset, **kwargs)


@implements(proc=WindowDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyWindowDenseModel(AbstractPyDenseModelBitAcc):
    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.delay = int(proc_params["delay"])
        self.gate = int(proc_params["gate"])
        self.interval = int(proc_params["interval"])
        self.offset = int(proc_params["offset"])
        self.queue: np.ndarray | None = None

    def _prepare_weights(self) -> None:
        """Lava Dense's weight processing, done once (its model does it on the first step)."""
        num_weight_bits: int = self.proc_params.get("num_weight_bits", 8)
        weights: np.ndarray = self.weights  # type: ignore[has-type]  # declared by Lava without a type
        sign_mode: SignMode = self.proc_params.get("sign_mode") or determine_sign_mode(weights)
        self.weights = truncate_weights(clip_weights(weights, sign_mode, num_bits=8), sign_mode, num_weight_bits)
        self.weights_set = True
        self.queue = np.zeros((self.delay, self.weights.shape[0]), np.int32)

    def run_spk(self) -> None:
        if not self.weights_set:
            self._prepare_weights()
        assert self.queue is not None
        slot = self.time_step % self.delay
        local = (self.time_step - 1 - self.offset) % self.interval   # 0-based step of the target's window
        self.a_out.send(self.queue[slot] if local >= self.gate else np.zeros_like(self.queue[slot]))
        if self.num_message_bits.item() > 0:
            a_accum = self.weights.dot(self.s_in.recv())
        else:
            a_accum = self.weights[:, self.s_in.recv().astype(bool)].sum(axis=1)
        exp = int(self.proc_params.get("weight_exp", 0))
        self.queue[slot] = np.left_shift(a_accum, exp) if exp > 0 else np.right_shift(a_accum, -exp)
