"""Training without weight transport: rules, layers, models, noise pretraining, loops, metrics.

The rules themselves are named in ``toolkit.rules`` (an enum, also their YAML spelling) and the phase
settings in ``toolkit.config`` (both re-exported here); ``functional`` holds the pure
update functions, ``modules`` the layers that hold their state, ``rulestep`` the work KP and
WM do between optimiser steps, ``pc`` the relaxation that trains the predictive-coding rules,
``noise`` the random-noise pretraining phase, ``trainer`` the data phase, ``metrics`` the angles
and effective dimensionality, ``experiment`` a whole run from an experiment config (``nfa train``),
``eprop`` recurrent spiking networks (``toolkit.rsnn``) trained with BPTT or e-prop.
"""

from toolkit.config import ModelKind, NoiseConfig, NoiseDistribution, OptimizerKind, TrainConfig
from toolkit.rules import InferenceConfig, MirrorConfig, Rule, RuleOptions
from toolkit.training.checkpoint import load_checkpoint, save_checkpoint
from toolkit.training.eprop import (
    RSNN,
    EpropConfig,
    RecurrentRule,
    RSNNResult,
    load_rsnn_checkpoint,
    pretrain_rsnn_on_noise,
    save_rsnn_checkpoint,
    train_rsnn,
)
from toolkit.training.metrics import (
    angle_deg,
    effective_dimensionality,
    layer_metrics,
    participation_ratio,
    signal_angles,
    teaching_signals,
    weight_feedback_angles,
)
from toolkit.training.models import Arch, build_model, rule_layers
from toolkit.training.modules import RuleConv2d, RuleLinear, connect_direct_feedback, transport_backward
from toolkit.training.noise import pretrain_on_noise
from toolkit.training.pc import InferenceLearner
from toolkit.training.rulestep import RuleStepper
from toolkit.training.trainer import evaluate, evaluate_loss, fit, make_gradient_step

__all__ = [
    "RSNN",
    "Arch",
    "EpropConfig",
    "InferenceConfig",
    "InferenceLearner",
    "MirrorConfig",
    "ModelKind",
    "NoiseConfig",
    "NoiseDistribution",
    "OptimizerKind",
    "RSNNResult",
    "RecurrentRule",
    "Rule",
    "RuleConv2d",
    "RuleLinear",
    "RuleOptions",
    "RuleStepper",
    "TrainConfig",
    "angle_deg",
    "build_model",
    "connect_direct_feedback",
    "effective_dimensionality",
    "evaluate",
    "evaluate_loss",
    "fit",
    "layer_metrics",
    "load_checkpoint",
    "load_rsnn_checkpoint",
    "make_gradient_step",
    "participation_ratio",
    "pretrain_on_noise",
    "pretrain_rsnn_on_noise",
    "rule_layers",
    "save_checkpoint",
    "save_rsnn_checkpoint",
    "signal_angles",
    "teaching_signals",
    "train_rsnn",
    "transport_backward",
    "weight_feedback_angles",
]
