"""Recurrent spiking networks (``toolkit.rsnn.RSNNSpec``'s dynamics) trained with BPTT or e-prop.

Dynamics (as ``RSNNSpec``; t = 1..T, all states start at zero, pre^t = [x^t, z^{t−1}, 1], W = [W_in, W_rec, b]):

    v^t = α v^{t−1} (1 − z^{t−1}) + W pre^t,     a^t = ρ a^{t−1} + z^{t−1} (ALIF),
    z^t = H(u^t),  u^t = v^t − θ − β a^t,         y^t = κ y^{t−1} + W_out z^t + b_out,
    E = CE(softmax(y^T), y*)  (+ the rate regulariser (c/2) Σ_j (r_j − r*)², r_j the mean rate of neuron j).

The spike's derivative is replaced by ψ^t = (γ/θ) max(0, 1 − |u^t|/θ), γ = 0.3 (Bellec et al. 2020); the
reset factor (1 − z^{t−1}) is a constant for the gradient (stop-gradient); nothing else is.

Rules (``RecurrentRule``):

* ``bptt``: autograd through time with ``SpikeFunction`` (ψ as the spike's derivative).
* ``eprop-sym`` / ``eprop-random``: e-prop computed online, forward in time, without autograd. Per synapse
  (j post, p an entry of pre) the eligibility vectors and eligibility trace are

      ε^{a,t}_jp = ψ_j^{t−1} ε^{v,t−1}_jp + (ρ − β ψ_j^{t−1}) ε^{a,t−1}_jp        (ALIF; LIF: ε^a ≡ 0)
      ε^{v,t}_jp = α (1 − z_j^{t−1}) ε^{v,t−1}_jp + pre_p^t
      e^t_jp    = ψ_j^t (ε^{v,t}_jp − β ε^{a,t}_jp),      ē^t = κ ē^{t−1} + e^t   (F_κ, for the leaky read-out)

  and, with δ = ∂E/∂y^T = softmax(y^T) − onehot(y*) (over the batch: divided by N) and L_j = Σ_k B_jk δ_k,

      ∂E/∂W_jp ≈ L_j ē^T_jp  (+ c (r_j − r*)/(N T) Σ_{n,t} e^t_jp),
      ∂E/∂W_out[k, j] = δ_k z̄_j^T,   ∂E/∂b_out_k = δ_k Σ_t κ^{T−t},    z̄^t = κ z̄^{t−1} + z^t.

  B = W_outᵀ (the current read-out weights) for ``eprop-sym``; a fixed random matrix for ``eprop-random``.
  Only y^T enters the loss, so the learning signal is zero before T and the sum Σ_t L^t ē^t has one term.
  With W_rec = 0 and B = W_outᵀ this is BPTT's gradient exactly (docs/training.md derives it).

Random-noise pretraining (Cheon, Lee & Paik 2024) trains ``eprop-random`` on a fixed pool of random sequences
with random labels before the data; it lowers ∠(W_outᵀ, B).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from toolkit.data.base import Dataset
from toolkit.errors import CheckpointError, ConfigError, DataError
from toolkit.fsutil import atomic_path
from toolkit.rsnn import NeuronKind, RSNNSpec
from toolkit.training.checkpoint import content_digest, read_checkpoint_file
from toolkit.training.metrics import angle_deg

__all__ = [
    "RSNN",
    "RSNN_FORMAT",
    "EpropConfig",
    "RSNNResult",
    "RecurrentRule",
    "SequenceNoise",
    "SpikeFunction",
    "bptt_gradients",
    "build_rsnn",
    "eprop_gradients",
    "evaluate_rsnn",
    "feedback_angle",
    "hidden_gradient_angle",
    "load_rsnn_checkpoint",
    "pretrain_rsnn_on_noise",
    "rule_gradients",
    "save_rsnn_checkpoint",
    "train_rsnn",
]

GAMMA = 0.3   #: pseudo-derivative dampening (Bellec et al. 2020)


class RecurrentRule(enum.Enum):
    BPTT = "bptt"                   #: backpropagation through time (autograd)
    EPROP_SYM = "eprop-sym"         #: e-prop, learning signal through B = W_outᵀ
    EPROP_RANDOM = "eprop-random"   #: e-prop, learning signal through a fixed random B


class SequenceNoise(enum.Enum):
    UNIFORM = "uniform"       #: every value uniform in [0, 1]
    BERNOULLI = "bernoulli"   #: every value 0 or 1 with probability 1/2


@dataclass(frozen=True, slots=True, kw_only=True)
class EpropConfig:
    """A recurrent network, its rule and its training (time constants in steps)."""

    rule: RecurrentRule = RecurrentRule.BPTT
    neuron: NeuronKind = NeuronKind.LIF
    hidden: int = 100
    tau_m: float = 10.0          #: α = exp(−1/τ_m)
    tau_out: float = 5.0         #: κ = exp(−1/τ_out)
    theta: float = 1.0
    beta: float = 0.5            #: ALIF only
    tau_a: float = 20.0          #: ALIF only: ρ = exp(−1/τ_a)
    w_in_scale: float = 2.0      #: W_in ~ N(0, (w_in_scale² / features))
    w_rec_scale: float = 0.5     #: W_rec ~ N(0, (w_rec_scale² / hidden)); 0: no recurrent connections
    w_out_scale: float = 1.0     #: W_out and a random B ~ N(0, (w_out_scale² / hidden))
    reg: float = 0.0             #: c of the rate regulariser (0: off)
    target_rate: float = 0.1     #: r*, spikes per neuron per step
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3             #: Adam
    seed: int = 0
    noise_steps: int = 0         #: noise-pretraining steps before the data (eprop-random; 0: none)
    noise_pool: int = 1000       #: size of the fixed pool of noise sequences
    noise_lr: float = 2e-3
    noise_distribution: SequenceNoise = SequenceNoise.UNIFORM
    probe_size: int = 256        #: training samples on which the gradient angle to BPTT is measured

    def __post_init__(self) -> None:
        positive = {"hidden": self.hidden, "tau_m": self.tau_m, "tau_out": self.tau_out, "theta": self.theta,
                    "tau_a": self.tau_a, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        bad = [f"{k} must be > 0 (got {v})" for k, v in positive.items() if not v > 0]
        bad += [f"{k} must be >= 0 (got {getattr(self, k)})" for k in
                ("beta", "w_in_scale", "w_rec_scale", "w_out_scale", "reg", "target_rate", "noise_steps",
                 "probe_size") if not getattr(self, k) >= 0]
        if self.noise_steps and self.noise_pool < 1:
            bad.append(f"noise_pool must be >= 1 when noise_steps > 0 (got {self.noise_pool})")
        if bad:
            raise ConfigError(f"e-prop config: {bad[0]}")

    @property
    def alpha(self) -> float:
        return math.exp(-1.0 / self.tau_m)

    @property
    def kappa(self) -> float:
        return math.exp(-1.0 / self.tau_out)

    @property
    def rho(self) -> float:
        return math.exp(-1.0 / self.tau_a) if self.neuron is NeuronKind.ALIF else 0.0

    @property
    def beta_eff(self) -> float:
        """β as the dynamics use it (0 for LIF)."""
        return self.beta if self.neuron is NeuronKind.ALIF else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Field -> value, enums by their value (JSON-able, and storable in a checkpoint)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = v.value if isinstance(v, enum.Enum) else v
        return out


# ----------------------------------------------------------------------------- model


def pseudo_derivative(u: Tensor, theta: float, gamma: float = GAMMA) -> Tensor:
    """ψ = (γ/θ) max(0, 1 − |u|/θ), u = v − θ − β a."""
    return (gamma / theta) * torch.clamp(1.0 - u.abs() / theta, min=0.0)


class SpikeFunction(torch.autograd.Function):
    """z = H(u) (strictly positive fires) forward; ψ(u) as its derivative backward."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, theta: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.theta = theta
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        (u,) = ctx.saved_tensors
        return grad_outputs[0] * pseudo_derivative(u, ctx.theta), None


class RSNN(nn.Module):
    """Hidden LIF/ALIF neurons with recurrent weights and a leaky read-out (``RSNNSpec``'s dynamics).

    ``feedback`` (hidden, classes) is the fixed random B of ``eprop-random`` (a buffer, unused by the others).
    """

    def __init__(self, features: int, classes: int, steps: int, cfg: EpropConfig, *,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        h = cfg.hidden
        gen = torch.Generator().manual_seed(cfg.seed)
        self.w_in = nn.Parameter(torch.randn(h, features, generator=gen, dtype=dtype) * cfg.w_in_scale
                                 / math.sqrt(features))
        self.w_rec = nn.Parameter(torch.randn(h, h, generator=gen, dtype=dtype) * cfg.w_rec_scale / math.sqrt(h))
        self.b = nn.Parameter(torch.zeros(h, dtype=dtype))
        self.w_out = nn.Parameter(torch.randn(classes, h, generator=gen, dtype=dtype) * cfg.w_out_scale
                                  / math.sqrt(h))
        self.b_out = nn.Parameter(torch.zeros(classes, dtype=dtype))
        fb_gen = torch.Generator().manual_seed(cfg.seed + 7_919)   # B is drawn once, apart from the weights
        self.register_buffer("feedback", torch.randn(h, classes, generator=fb_gen, dtype=dtype)
                             * cfg.w_out_scale / math.sqrt(h))
        self.steps, self.neuron = steps, cfg.neuron
        self.alpha, self.kappa, self.theta = cfg.alpha, cfg.kappa, cfg.theta
        self.beta, self.rho = cfg.beta_eff, cfg.rho

    @property
    def alif(self) -> bool:
        return self.neuron is NeuronKind.ALIF

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(y^T (N, classes), spikes z (N, T, hidden)) of sequences ``x`` (N, T, features)."""
        n = x.shape[0]
        v = x.new_zeros(n, self.hidden)
        a, z = torch.zeros_like(v), torch.zeros_like(v)
        y = x.new_zeros(n, self.classes)
        spikes = []
        for t in range(x.shape[1]):
            i_t = x[:, t] @ self.w_in.T + z @ self.w_rec.T + self.b
            v = self.alpha * v * (1 - z.detach()) + i_t   # the reset is a constant for the gradient
            if self.alif:
                a = self.rho * a + z
            z = SpikeFunction.apply(v - self.theta - self.beta * a, self.theta)
            y = self.kappa * y + z @ self.w_out.T + self.b_out
            spikes.append(z)
        return y, torch.stack(spikes, 1)

    @property
    def hidden(self) -> int:
        return int(self.w_in.shape[0])

    @property
    def classes(self) -> int:
        return int(self.w_out.shape[0])

    def to_spec(self) -> RSNNSpec:
        """The trained network as the compiler reads it."""
        def arr(p: Tensor) -> np.ndarray:
            return p.detach().cpu().double().numpy().copy()

        return RSNNSpec(w_in=arr(self.w_in), w_rec=arr(self.w_rec), w_out=arr(self.w_out), b=arr(self.b),
                        b_out=arr(self.b_out), alpha=self.alpha, kappa=self.kappa, theta=self.theta,
                        steps=self.steps, neuron=self.neuron, beta=self.beta, rho=self.rho)


def build_rsnn(cfg: EpropConfig, features: int, classes: int, steps: int, *,
               dtype: torch.dtype = torch.float32) -> RSNN:
    return RSNN(features, classes, steps, cfg, dtype=dtype)


# ----------------------------------------------------------------------------- gradients

Grads = dict[str, Tensor]


def _loss(y_t: Tensor, z: Tensor, labels: Tensor, reg: float, target_rate: float) -> Tensor:
    loss = F.cross_entropy(y_t, labels)
    if reg > 0:
        loss = loss + 0.5 * reg * ((z.mean((0, 1)) - target_rate) ** 2).sum()
    return loss


def bptt_gradients(model: RSNN, x: Tensor, labels: Tensor, *, reg: float = 0.0,
                   target_rate: float = 0.1) -> tuple[Tensor, Tensor, Grads]:
    """(loss, y^T, ∂E/∂θ for every parameter) by autograd through time."""
    y_t, z = model(x)
    loss = _loss(y_t, z, labels, reg, target_rate)
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in model.named_parameters()])
    return loss.detach(), y_t.detach(), dict(zip(names, grads, strict=True))


@dataclass(slots=True)
class _Traces:
    """The per-synapse state e-prop carries forward in time (N, hidden, features + hidden + 1 each)."""

    eps_v: Tensor
    eps_a: Tensor | None
    ebar: Tensor
    esum: Tensor | None   #: Σ_{n,t} e^t (hidden, features + hidden + 1), only for the rate regulariser


def _advance(tr: _Traces, model: RSNN, pre: Tensor, z_prev: Tensor, psi_prev: Tensor) -> None:
    """ε^{a,t} and ε^{v,t} from ε^{·,t−1}, z^{t−1}, ψ^{t−1} and pre^t, in place (the traces dominate the cost)."""
    if tr.eps_a is not None:   # before ε^v moves on: it reads ε^{v,t−1}
        tr.eps_a.mul_((model.rho - model.beta * psi_prev)[..., None]).addcmul_(tr.eps_v, psi_prev[..., None])
    torch.addcmul(pre[:, None, :], tr.eps_v, (model.alpha * (1 - z_prev))[..., None], out=tr.eps_v)


def _filter(tr: _Traces, model: RSNN, psi: Tensor) -> None:
    """ē^t = κ ē^{t−1} + e^t with e^t = ψ^t (ε^{v,t} − β ε^{a,t}), in place; Σ e^t for the regulariser."""
    elig = tr.eps_v if tr.eps_a is None else torch.sub(tr.eps_v, tr.eps_a, alpha=model.beta)
    tr.ebar.mul_(model.kappa).addcmul_(elig, psi[..., None])
    if tr.esum is not None:
        tr.esum += torch.einsum("njp,nj->jp", elig, psi)


@torch.no_grad()
def eprop_gradients(model: RSNN, x: Tensor, labels: Tensor, feedback: Tensor, *, reg: float = 0.0,
                    target_rate: float = 0.1) -> tuple[Tensor, Tensor, Grads]:
    """(loss, y^T, e-prop's ∂E/∂θ) with learning signal through ``feedback`` B (hidden, classes), online.

    See the module docstring for the equations; no autograd is used.
    """
    n, steps, features = x.shape
    h = model.hidden
    W = torch.cat([model.w_in, model.w_rec, model.b[:, None]], 1)
    v, a, z = (x.new_zeros(n, h) for _ in range(3))
    psi_prev, zbar = x.new_zeros(n, h), x.new_zeros(n, h)
    y = x.new_zeros(n, model.classes)
    zeros = x.new_zeros(n, h, W.shape[1])
    tr = _Traces(eps_v=zeros, eps_a=zeros.clone() if model.alif else None, ebar=zeros.clone(),
                 esum=x.new_zeros(W.shape) if reg > 0 else None)
    spikes = x.new_zeros(h)
    ones = x.new_ones(n, 1)
    for t in range(steps):
        pre = torch.cat([x[:, t], z, ones], 1)   # z is z^{t−1} here
        _advance(tr, model, pre, z, psi_prev)
        v = model.alpha * v * (1 - z) + pre @ W.T
        if model.alif:
            a = model.rho * a + z
        u = v - model.theta - model.beta * a
        z = (u > 0).to(x.dtype)
        psi_prev = pseudo_derivative(u, model.theta)
        _filter(tr, model, psi_prev)
        zbar = model.kappa * zbar + z
        y = model.kappa * y + z @ model.w_out.T + model.b_out
        if tr.esum is not None:
            spikes += z.sum(0)
    loss = F.cross_entropy(y, labels)
    delta = (torch.softmax(y, 1) - F.one_hot(labels, model.classes).to(x.dtype)) / n   # ∂E/∂y^T
    g_w = torch.einsum("nj,njp->jp", delta @ feedback.T, tr.ebar)   # L_j ē_jp^T: the only step with L ≠ 0
    if tr.esum is not None:
        rate = spikes / (n * steps)
        g_w += (reg * (rate - target_rate) / (n * steps))[:, None] * tr.esum
        loss = loss + 0.5 * reg * ((rate - target_rate) ** 2).sum()
    out_filter = sum(model.kappa ** (steps - 1 - t) for t in range(steps))   # Σ_t κ^{T−t}
    grads = {"w_in": g_w[:, :features], "w_rec": g_w[:, features:features + h], "b": g_w[:, -1],
             "w_out": delta.T @ zbar, "b_out": delta.sum(0) * out_filter}
    return loss, y, grads


def rule_gradients(model: RSNN, rule: RecurrentRule, x: Tensor, labels: Tensor, *, reg: float = 0.0,
                   target_rate: float = 0.1) -> tuple[Tensor, Tensor, Grads]:
    """(loss, y^T, gradients) of ``rule`` on one batch."""
    if rule is RecurrentRule.BPTT:
        return bptt_gradients(model, x, labels, reg=reg, target_rate=target_rate)
    if rule is RecurrentRule.EPROP_SYM:
        return eprop_gradients(model, x, labels, model.w_out.detach().T, reg=reg, target_rate=target_rate)
    if rule is RecurrentRule.EPROP_RANDOM:
        return eprop_gradients(model, x, labels, model.feedback, reg=reg, target_rate=target_rate)
    raise ConfigError(f"unknown recurrent rule {rule!r}: choose one of {', '.join(r.value for r in RecurrentRule)}")


# ----------------------------------------------------------------------------- metrics


def feedback_angle(model: RSNN) -> float:
    """∠(W_outᵀ, B) in degrees, B the fixed random feedback."""
    return angle_deg(model.w_out.T, model.feedback)


def hidden_gradient_angle(model: RSNN, rule: RecurrentRule, x: Tensor, labels: Tensor) -> float:
    """∠ between ``rule``'s gradient of the recurrent layer (W_in, W_rec, b together) and BPTT's, in degrees."""
    def flat(g: Grads) -> Tensor:
        return torch.cat([g[k].flatten() for k in ("w_in", "w_rec", "b")])

    return angle_deg(flat(rule_gradients(model, rule, x, labels)[2]), flat(bptt_gradients(model, x, labels)[2]))


@torch.no_grad()
def evaluate_rsnn(model: RSNN, data: Dataset, *, batch: int = 1000) -> tuple[float, float, float]:
    """(mean cross-entropy, accuracy, mean firing rate per neuron per step) on ``data``."""
    x, y = _tensors(data, model)
    loss, correct, rate = 0.0, 0, 0.0
    for i in range(0, len(data), batch):
        out, z = model(x[i:i + batch])
        loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
        correct += int((out.argmax(1) == y[i:i + batch]).sum())
        rate += float(z.mean((1, 2)).sum())
    return loss / len(data), correct / len(data), rate / len(data)


def _tensors(data: Dataset, model: RSNN) -> tuple[Tensor, Tensor]:
    if data.x.ndim != 3:
        raise DataError(f"{data.name}: a recurrent network reads sequences (N, steps, features), got samples of "
                        f"shape {data.shape}; use a temporal dataset such as digits-rows")
    return torch.as_tensor(data.x, dtype=model.w_in.dtype), torch.as_tensor(data.y, dtype=torch.long)


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RSNNResult:
    """A finished run: the model, its spec, one record per epoch (record 0: untrained), the noise phase's log and
    the angles (``feedback``: ∠(W_outᵀ, B); ``hidden_grad``: ∠ of the recurrent layer's gradient to BPTT's) at
    ``init``, ``after_noise`` and ``final``."""

    config: EpropConfig
    model: RSNN
    history: list[dict[str, Any]]
    noise_log: list[dict[str, Any]] = field(default_factory=list)
    angles: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def spec(self) -> RSNNSpec:
        return self.model.to_spec()

    @property
    def test_acc(self) -> list[float]:
        return [r["test_acc"] for r in self.history]


def _step(model: RSNN, opt: torch.optim.Optimizer, cfg: EpropConfig, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    loss, out, grads = rule_gradients(model, cfg.rule, x, y, reg=cfg.reg, target_rate=cfg.target_rate)
    for name, p in model.named_parameters():
        p.grad = grads[name]
    opt.step()
    return loss, out


def noise_pool(cfg: EpropConfig, steps: int, features: int, classes: int) -> tuple[Tensor, Tensor]:
    """The fixed pool of ``cfg.noise_pool`` random sequences and random labels (seeded by ``cfg.seed``)."""
    gen = torch.Generator().manual_seed(cfg.seed + 104_729)
    x = torch.rand((cfg.noise_pool, steps, features), generator=gen)
    if cfg.noise_distribution is SequenceNoise.BERNOULLI:
        x = (x < 0.5).float()
    return x, torch.randint(0, classes, (cfg.noise_pool,), generator=gen)


def pretrain_rsnn_on_noise(model: RSNN, cfg: EpropConfig, *, progress: bool = True,
                           log_every: int = 100) -> list[dict[str, Any]]:
    """Train ``model`` with ``cfg.rule`` for ``cfg.noise_steps`` batches drawn from a fixed noise pool (a fresh
    Adam, discarded); records every ``log_every`` steps: ``step``, mean ``loss``, ``angle`` ∠(W_outᵀ, B)."""
    px, py = noise_pool(cfg, model.steps, model.w_in.shape[1], model.classes)
    px = px.to(model.w_in.dtype)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.noise_lr)
    log = [{"step": 0, "loss": float("nan"), "angle": feedback_angle(model)}]
    running, count = 0.0, 0
    bar = tqdm(range(1, cfg.noise_steps + 1), desc="noise", disable=None if progress else True, leave=False,
               unit="step")
    for step in bar:
        idx = torch.randint(0, cfg.noise_pool, (cfg.batch_size,), generator=gen)
        loss, _ = _step(model, opt, cfg, px[idx], py[idx])
        running, count = running + float(loss), count + 1
        if step % log_every == 0 or step == cfg.noise_steps:
            log.append({"step": step, "loss": running / count, "angle": feedback_angle(model)})
            running, count = 0.0, 0
    return log


def _epoch(model: RSNN, opt: torch.optim.Optimizer, cfg: EpropConfig, x: Tensor, y: Tensor,
           gen: torch.Generator) -> dict[str, float]:
    perm = torch.randperm(x.shape[0], generator=gen)
    total, correct, batches = 0.0, 0, 0
    t0 = time.perf_counter()
    for i in range(0, x.shape[0], cfg.batch_size):
        idx = perm[i:i + cfg.batch_size]
        loss, out = _step(model, opt, cfg, x[idx], y[idx])
        total += float(loss) * len(idx)
        correct += int((out.argmax(1) == y[idx]).sum())
        batches += 1
    epoch_s = time.perf_counter() - t0
    return {"train_loss": total / x.shape[0], "train_acc": correct / x.shape[0], "epoch_s": epoch_s,
            "step_s": epoch_s / batches}


def _record(epoch: int, model: RSNN, test: Dataset, train_stats: dict[str, float]) -> dict[str, Any]:
    loss, acc, rate = evaluate_rsnn(model, test)
    return {"epoch": epoch, **train_stats, "test_loss": loss, "test_acc": acc, "rate": rate}


def _angles(model: RSNN, cfg: EpropConfig, probe: tuple[Tensor, Tensor]) -> dict[str, float]:
    out = {"feedback": feedback_angle(model)}
    if cfg.rule is not RecurrentRule.BPTT and cfg.probe_size:
        out["hidden_grad"] = hidden_gradient_angle(model, cfg.rule, *probe)
    return out


def train_rsnn(cfg: EpropConfig, train: Dataset, test: Dataset, *, progress: bool = True, desc: str | None = None,
               on_epoch: Callable[[dict[str, Any]], None] | None = None, dtype: torch.dtype = torch.float32,
               ) -> RSNNResult:
    """Build a network for ``train``'s sequences, pretrain it on noise if ``cfg.noise_steps`` (any rule), train it
    for ``cfg.epochs`` with Adam; record 0 is the untrained network's test accuracy."""
    if train.x.ndim != 3 or test.shape != train.shape:
        raise DataError(f"{train.name}: need sequences (N, steps, features) of one shape for train and test, got "
                        f"{train.shape} and {test.shape}; use a temporal dataset such as digits-rows")
    steps, features = train.shape
    model = build_rsnn(cfg, features, train.n_classes, steps, dtype=dtype)
    x, y = _tensors(train, model)
    probe = (x[:cfg.probe_size], y[:cfg.probe_size])
    angles = {"init": _angles(model, cfg, probe)}
    noise_log: list[dict[str, Any]] = []
    if cfg.noise_steps:
        noise_log = pretrain_rsnn_on_noise(model, cfg, progress=progress)
        angles["after_noise"] = _angles(model, cfg, probe)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    nan = float("nan")
    history = [_record(0, model, test, {"train_loss": nan, "train_acc": nan, "epoch_s": nan, "step_s": nan})]
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc or cfg.rule.value, disable=None if progress else True,
               leave=False, unit="epoch")
    for epoch in bar:
        history.append(_record(epoch, model, test, _epoch(model, opt, cfg, x, y, gen)))
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", test_acc=f"{history[-1]['test_acc']:.3f}")
        if on_epoch is not None:
            on_epoch(history[-1])
    angles["final"] = _angles(model, cfg, probe)
    return RSNNResult(config=cfg, model=model, history=history, noise_log=noise_log, angles=angles)


# ----------------------------------------------------------------------------- checkpoints

RSNN_FORMAT = "nfa-rsnn"
RSNN_VERSION = 1
_ARRAYS = ("w_in", "w_rec", "w_out", "b", "b_out")


def save_rsnn_checkpoint(path: str | Path, spec: RSNNSpec, **extra: Any) -> Path:
    """Write ``spec`` (float32 weights; scalars and the neuron kind) with any JSON-like ``extra`` fields, atomically,
    loadable with ``torch.load(..., weights_only=True)``; its SHA-256 (``content_digest``) is checked on load."""
    d = spec.to_dict()
    arrays = {k: torch.from_numpy(np.ascontiguousarray(d.pop(k))) for k in _ARRAYS}
    payload = {**extra, "format": RSNN_FORMAT, "version": RSNN_VERSION, "network": d, "weights": arrays,
               "sha256": content_digest(d, arrays)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_rsnn_checkpoint(path: str | Path) -> tuple[RSNNSpec, dict[str, Any]]:
    """(the network, the whole checkpoint dict) of a file written by ``save_rsnn_checkpoint``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such recurrent-network checkpoint (train one with `nfa bench eprop`)")
    ckpt = read_checkpoint_file(p, expect=(RSNN_FORMAT, RSNN_VERSION, "a recurrent-network checkpoint"))
    net, weights = ckpt.get("network"), ckpt.get("weights")
    if not isinstance(net, dict) or not isinstance(weights, dict):
        raise CheckpointError(f"{p}: the checkpoint has no 'network' and 'weights' dicts (damaged); retrain or "
                              "restore the file from a copy")
    if content_digest(net, weights) != ckpt.get("sha256"):
        raise CheckpointError(f"{p}: the checkpoint is corrupted (its network and weights do not match the SHA-256 "
                              "digest written with them); retrain or restore the file from a copy")
    spec = RSNNSpec.from_dict({**net, **{k: v.numpy() for k, v in weights.items()}})
    return spec, ckpt
