"""The learning rules, as a closed set, each with a declarative description.

Every rule updates a layer's weights with the same local outer product ΔW_l = −η δ_l a_{l−1}ᵀ;
rules differ only in how the teaching signal δ_l of a hidden layer is formed (see
docs/training.md). The predictive-coding rules (pc, zil, pc-fa) form it as the prediction error
−ε_l of a value node after a relaxation over the whole network (``toolkit.training.pc``). The
description below says what each rule's feedback path reads and what, if anything, changes it;
``toolkit.training.modules`` holds the state and ``toolkit.training.functional`` the update functions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from toolkit.schema import bounded

__all__ = ["PC_RULES", "Feedback", "InferenceConfig", "MirrorConfig", "Rule", "RuleInfo", "RuleOptions"]


class Feedback(enum.Enum):
    """What the backward path of a layer multiplies the error by."""

    TRANSPORT = "transport"        #: the forward weights themselves (Wᵀ): backprop
    FIXED = "fixed"                #: a fixed random matrix B, drawn once
    DIRECT = "direct"              #: a fixed random matrix from the output error e straight to this layer
    SIGN = "sign"                  #: sign(W)ᵀ, recomputed from the current W at every step
    LEARNED = "learned"            #: a matrix B changed by its own local rule during training


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleInfo:
    """Declarative description of one rule (what it reads and what it modifies)."""

    name: str
    feedback: Feedback
    reads_forward_weights: str   #: "yes", "signs", "no"
    feedback_update: str         #: how B changes during training ("-" if it does not)
    delta: str                   #: δ_l of a hidden layer, in the notation of docs/training.md
    source: str


class Rule(enum.Enum):
    """How a layer's teaching signal δ is formed. The values are the YAML spelling."""

    BP = "bp"        #: backpropagation: δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f′(h_l)
    FA = "fa"        #: feedback alignment: δ_l = (B_{l+1} δ_{l+1}) ⊙ f′(h_l), B fixed random
    DFA = "dfa"      #: direct feedback alignment: δ_l = (B_l e) ⊙ f′(h_l), B_l fixed random
    SIGN = "sign"    #: sign symmetry: B = c·sign(W)ᵀ with c fixed (uniform magnitude)
    BRSF = "brsf"    #: sign symmetry with magnitudes redrawn at every batch
    FRSF = "frsf"    #: sign symmetry with fixed random magnitudes
    KP = "kp"        #: Kolen-Pollack: B gets the same update and decay as Wᵀ
    WM = "wm"        #: weight mirror: B follows E[x yᵀ] ∝ Wᵀ in interleaved mirror phases
    PC = "pc"        #: predictive coding, inference learning: δ_l = −ε_l after T inference steps of rate γ
    ZIL = "zil"      #: zero-divergence inference learning: PC on a schedule whose updates are backprop's
    PC_FA = "pc-fa"  #: predictive coding whose errors travel down through fixed random B instead of Wᵀ

    @property
    def info(self) -> RuleInfo:
        return RULE_INFO[self]

    @property
    def uses_weight_transport(self) -> bool:
        return self in (Rule.BP, Rule.PC, Rule.ZIL)

    @property
    def learns_by_inference(self) -> bool:
        """True for the predictive-coding rules: their updates come from a relaxation, not from autograd."""
        return self in PC_RULES


RULE_INFO: dict[Rule, RuleInfo] = {
    Rule.BP: RuleInfo(name="backprop", feedback=Feedback.TRANSPORT, reads_forward_weights="yes",
                      feedback_update="-", delta="(W_{l+1}ᵀ δ_{l+1}) ⊙ f′(h_l)", source="Rumelhart et al. 1986"),
    Rule.FA: RuleInfo(name="feedback alignment", feedback=Feedback.FIXED, reads_forward_weights="no",
                      feedback_update="-", delta="(B_{l+1} δ_{l+1}) ⊙ f′(h_l)", source="Lillicrap et al. 2016"),
    Rule.DFA: RuleInfo(name="direct feedback alignment", feedback=Feedback.DIRECT, reads_forward_weights="no",
                       feedback_update="-", delta="(D_l e) ⊙ f′(h_l)", source="Nøkland 2016"),
    Rule.SIGN: RuleInfo(name="sign symmetry", feedback=Feedback.SIGN, reads_forward_weights="signs",
                        feedback_update="follows sign(W)", delta="(c·sign(W_{l+1})ᵀ δ_{l+1}) ⊙ f′(h_l)",
                        source="Liao, Leibo, Poggio 2016; Xiao et al. 2018"),
    Rule.BRSF: RuleInfo(name="sign symmetry, batchwise random magnitude", feedback=Feedback.SIGN,
                        reads_forward_weights="signs", feedback_update="magnitudes redrawn every batch",
                        delta="((M_t ⊙ sign(W_{l+1}))ᵀ δ_{l+1}) ⊙ f′(h_l)", source="Liao, Leibo, Poggio 2016"),
    Rule.FRSF: RuleInfo(name="sign symmetry, fixed random magnitude", feedback=Feedback.SIGN,
                        reads_forward_weights="signs", feedback_update="follows sign(W)",
                        delta="((M ⊙ sign(W_{l+1}))ᵀ δ_{l+1}) ⊙ f′(h_l)", source="Liao, Leibo, Poggio 2016"),
    Rule.KP: RuleInfo(name="Kolen-Pollack", feedback=Feedback.LEARNED, reads_forward_weights="no",
                      feedback_update="ΔB = (ΔW)ᵀ − λB: the optimiser's step of W, and the same decay",
                      delta="(B_{l+1} δ_{l+1}) ⊙ f′(h_l)", source="Kolen & Pollack 1994; Akrout et al. 2019"),
    Rule.WM: RuleInfo(name="weight mirror", feedback=Feedback.LEARNED, reads_forward_weights="no",
                      feedback_update="mirror phases: ΔB = η_m x yᵀ − λ_m B, y = W x, x noise",
                      delta="(B_{l+1} δ_{l+1}) ⊙ f′(h_l)", source="Akrout et al. 2019"),
    Rule.PC: RuleInfo(name="predictive coding (inference learning)", feedback=Feedback.TRANSPORT,
                      reads_forward_weights="yes", feedback_update="-",
                      delta="−ε_l after T steps of x_l += γ(−ε_l + f′(x_l) ⊙ W_{l+1}ᵀ ε_{l+1})",
                      source="Whittington & Bogacz 2017"),
    Rule.ZIL: RuleInfo(name="zero-divergence inference learning", feedback=Feedback.TRANSPORT,
                       reads_forward_weights="yes", feedback_update="-",
                       delta="−ε_l at inference step t = L − l, γ = 1, values start at the forward pass",
                       source="Song, Lukasiewicz, Xu, Bogacz 2020; Salvatori et al. 2021"),
    Rule.PC_FA: RuleInfo(name="predictive coding with feedback alignment", feedback=Feedback.FIXED,
                         reads_forward_weights="no", feedback_update="-",
                         delta="−ε_l after T steps of x_l += γ(−ε_l + f′(x_l) ⊙ B_{l+1} ε_{l+1})",
                         source="Whittington & Bogacz 2017 with Lillicrap et al. 2016's B"),
}

#: the rules whose layers learn by a relaxation of value nodes (``toolkit.training.pc``)
PC_RULES = frozenset({Rule.PC, Rule.ZIL, Rule.PC_FA})


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorConfig:
    """Weight-mirror phases (rule ``wm``), interleaved with the training steps of both phases.

    After every ``every`` optimiser steps, each WM layer runs ``steps`` mirror steps: its input
    is driven by N(0, ``std``²) noise of ``batch_size`` samples, y = W x, and
    B ← (1 − ``decay``) B + ``lr`` · xᵀ y / N. The fixed point is B = (lr·std²/decay) Wᵀ; the
    defaults make it Wᵀ itself, approached by a factor (1 − decay) per mirror step.
    Convolutions are driven by noise images of ``image_size``² pixels.
    """

    every: int = bounded(1, lo=1, hi=1_000_000)
    steps: int = bounded(1, lo=0, hi=1000)
    batch_size: int = bounded(64, lo=1, hi=1 << 16)
    lr: float = bounded(0.05, lo=0.0, hi=10.0)
    decay: float = bounded(0.05, lo=0.0, hi=1.0)
    std: float = bounded(1.0, lo=0.0, hi=1e6)
    image_size: int = bounded(8, lo=1, hi=1024)


@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceConfig:
    """Inference of the predictive-coding rules ``pc`` and ``pc-fa`` (``zil`` fixes its own).

    Value nodes start at the forward pass, the output is clamped to the target, then ``steps``
    (T) inference steps x_l ← x_l + ``rate`` (γ) · (−ε_l + f′(x_l) ⊙ M_{l+1} ε_{l+1}) run on
    every hidden layer at once (M = Wᵀ for pc, B for pc-fa); the weights are then updated from
    the errors at step T. ``zil`` always runs T = depth − 1 steps at γ = 1 and updates each layer
    at its own step (docs/training.md, "Predictive coding").
    """

    steps: int = bounded(20, lo=0, hi=10_000)
    rate: float = bounded(0.1, lo=0.0, hi=1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleOptions:
    """Parameters of the rules that do work between optimiser steps (KP, WM) or before them (PC).

    ``kp_decay`` λ: after each optimiser step, every Kolen-Pollack layer adds W's step
    (transposed) to B and scales W and B by (1 − λ), so W − Bᵀ shrinks exactly as (1 − λ)^t
    whatever the optimiser (``toolkit.training.rulestep``). λ also decays W itself: under Adam at
    lr 1e-3, λ = 1e-3 acted like AdamW weight decay 1.0 and cost 3 points on Fashion-MNIST
    (0.854 vs 0.882 with the default 1e-4; docs/training.md). ``inference``: T and γ of pc and pc-fa.
    """

    kp_decay: float = bounded(1e-4, lo=0.0, hi=1.0)
    mirror: MirrorConfig = field(default_factory=MirrorConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
