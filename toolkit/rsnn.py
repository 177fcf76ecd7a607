"""A trained recurrent spiking network, as the chip computes it: the contract between training and compiling.

``toolkit.training.eprop`` trains networks of this form (BPTT or e-prop) and writes an ``RSNNSpec``;
``compilers.rsnn`` reads one and builds the IR graph. Nothing here imports torch or Lava.

Dynamics (discrete time, one step per input row; t = 1..T, T = ``steps``; every state starts at zero):

    I_j^t = Σ_i W_in[j, i] x_i^t + Σ_k W_rec[j, k] z_k^{t−1} + b_j
    v_j^t = α · v_j^{t−1} · (1 − z_j^{t−1}) + I_j^t                       (reset to zero after a spike)
    a_j^t = ρ · a_j^{t−1} + z_j^{t−1}                                      (ALIF only; LIF: a ≡ 0)
    z_j^t = H(v_j^t − θ − β a_j^t)                                         (strictly greater fires)
    y_k^t = κ · y_k^{t−1} + Σ_j W_out[k, j] z_j^t + b_out_k                (leaky read-out, never spikes)

The prediction is argmax_k y_k^T, the read-out after the last step. Samples are sequences x^1..x^T of
``features`` values in [0, 1] (a row of an image per step, say). On Loihi: the hidden group is a LIF with no
current memory (du = 4095) and voltage decay dv = 4096 · (1 − α), the read-out a LIF that never fires with
dv = 4096 · (1 − κ), read through its voltage (``ReadoutMode.VOLTAGE``); x is a graded spike per step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.errors import CheckpointError

__all__ = ["NeuronKind", "RSNNSpec"]


class NeuronKind(enum.Enum):
    LIF = "lif"      #: leaky integrate-and-fire
    ALIF = "alif"    #: LIF with an adaptive threshold θ + β a (Bellec et al. 2018/2020)


_ARRAYS = ("w_in", "w_rec", "w_out", "b", "b_out")
_SCALARS = ("alpha", "kappa", "theta", "beta", "rho")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RSNNSpec:
    """A recurrent spiking network of ``hidden`` neurons (see the module docstring for the dynamics)."""

    w_in: np.ndarray     #: (hidden, features)
    w_rec: np.ndarray    #: (hidden, hidden); zero diagonal is not required
    w_out: np.ndarray    #: (classes, hidden)
    b: np.ndarray        #: (hidden,)
    b_out: np.ndarray    #: (classes,)
    alpha: float         #: membrane decay per step, in (0, 1]
    kappa: float         #: read-out decay per step, in (0, 1]
    theta: float         #: firing threshold, > 0
    steps: int           #: T: steps per sample (rows of an image)
    neuron: NeuronKind = NeuronKind.LIF
    beta: float = 0.0    #: ALIF threshold increase per unit of adaptation
    rho: float = 0.0     #: ALIF adaptation decay per step, in [0, 1)

    def __post_init__(self) -> None:
        h, f = np.shape(self.w_in) if np.ndim(self.w_in) == 2 else (-1, -1)
        shapes = {"w_in": (h, f), "w_rec": (h, h), "w_out": (np.shape(self.w_out)[0] if np.ndim(self.w_out) else -1, h),
                  "b": (h,), "b_out": (np.shape(self.w_out)[0] if np.ndim(self.w_out) else -1,)}
        for name, want in shapes.items():
            got = tuple(np.shape(getattr(self, name)))
            if got != want or min(want) < 1:
                raise CheckpointError(f"recurrent network: {name} has shape {got}, expected {want}")
            if not np.all(np.isfinite(getattr(self, name))):
                raise CheckpointError(f"recurrent network: {name} holds NaN or infinite values")
        if not (0 < self.alpha <= 1 and 0 < self.kappa <= 1 and self.theta > 0 and 0 <= self.rho < 1
                and self.beta >= 0 and self.steps >= 1):
            raise CheckpointError(f"recurrent network: parameters out of range (alpha {self.alpha}, kappa "
                                  f"{self.kappa}, theta {self.theta}, rho {self.rho}, beta {self.beta}, steps "
                                  f"{self.steps}): need 0 < alpha, kappa <= 1, theta > 0, 0 <= rho < 1, beta >= 0")

    @property
    def hidden(self) -> int:
        return int(self.w_in.shape[0])

    @property
    def features(self) -> int:
        return int(self.w_in.shape[1])

    @property
    def classes(self) -> int:
        return int(self.w_out.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able scalars plus float32 arrays (what a checkpoint stores)."""
        d: dict[str, Any] = {k: np.asarray(getattr(self, k), np.float32) for k in _ARRAYS}
        d.update({k: float(getattr(self, k)) for k in _SCALARS})
        d.update(steps=int(self.steps), neuron=self.neuron.value)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RSNNSpec:
        try:
            kwargs: dict[str, Any] = {k: np.asarray(d[k], np.float64) for k in _ARRAYS}
            kwargs.update({k: float(d[k]) for k in _SCALARS})
            return cls(**kwargs, steps=int(d["steps"]), neuron=NeuronKind(d["neuron"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"invalid recurrent network description: {exc}") from None

    def simulate(self, x: np.ndarray) -> np.ndarray:
        """Float read-out y^T (N, classes) of sequences ``x`` (N, steps, features): the dynamics above in NumPy,
        the definition the trainer and the compiler are both checked against."""
        x = np.asarray(x, np.float64)
        n = x.shape[0]
        v = np.zeros((n, self.hidden))
        a = np.zeros_like(v)
        z = np.zeros_like(v)
        y = np.zeros((n, self.classes))
        for t in range(self.steps):
            i_t = x[:, t] @ self.w_in.T + z @ self.w_rec.T + self.b
            v = self.alpha * v * (1 - z) + i_t
            if self.neuron is NeuronKind.ALIF:
                a = self.rho * a + z
            z = (v > self.theta + self.beta * a).astype(np.float64)
            y = self.kappa * y + z @ self.w_out.T + self.b_out
        return y
