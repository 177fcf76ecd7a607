"""Hardware configs: the chip limits in ``hw_configs/*.yaml`` as frozen typed objects.

A config is loaded once (``load_hw("loihi2")`` or a path) and passed down to the
compiler passes; nothing else reads the YAML. Every number in the YAML files cites
its public source in a comment next to it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.schema import bounded, build, load_yaml_mapping

__all__ = [
    "BoardLimits",
    "ChipLimits",
    "CoreLimits",
    "EnergyBasis",
    "EnergyModel",
    "HardwareConfig",
    "LearningFactorBits",
    "LearningLimits",
    "NeuronFormat",
    "SynapseFormat",
    "SynapseMemory",
    "available_hw",
    "hw_config_dir",
    "load_hw",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChipLimits:
    """One chip: how many neuro-cores it has."""

    neuro_cores: int = bounded(lo=1, hi=4096)


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardLimits:
    """The largest system the compiler may map onto (chips on one board)."""

    name: str
    chips: int = bounded(lo=1, hi=16384)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreLimits:
    """Per-core resources: neurons (compartments), synaptic memory, axons."""

    max_neurons: int = bounded(lo=1, hi=65536)
    max_synapse_memory_bits: int = bounded(lo=1, hi=1 << 24)
    max_fan_in_axons: int = bounded(lo=1, hi=1 << 20)
    max_fan_out_axons: int = bounded(lo=1, hi=1 << 20)
    synapse_overhead_bits: int = bounded(0, lo=0, hi=64)


@dataclass(frozen=True, slots=True, kw_only=True)
class SynapseFormat:
    """Weights: a signed mantissa of ``weight_bits`` bits times 2**exponent."""

    weight_bits: int = bounded(lo=1, hi=8)
    weight_exp_min: int = bounded(lo=-16, hi=0)
    weight_exp_max: int = bounded(lo=0, hi=16)
    graded_spikes: bool
    max_message_bits: int = bounded(0, lo=0, hi=32)
    accumulator_bits: int = bounded(lo=8, hi=32)


@dataclass(frozen=True, slots=True, kw_only=True)
class NeuronFormat:
    """Fixed-point ranges of the CUBA LIF neuron (Lava ``PyLifModelBitAcc``), and of the adaptive-threshold
    neuron (``ir.LoihiALIF``) where the chip can run one (``adaptation_bits``; None: it cannot)."""

    threshold_bits: int = bounded(lo=1, hi=24)
    state_bits: int = bounded(lo=8, hi=32)
    bias_mant_bits: int = bounded(lo=2, hi=24)
    bias_exp_max: int = bounded(lo=0, hi=15)
    decay_bits: int = bounded(lo=1, hi=16)
    adaptation_bits: int | None = bounded(None, lo=1, hi=24, doc="unsigned width of an ALIF's threshold increment")

    @property
    def vth_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def bias_mant_max(self) -> int:
        return (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def adaptation_max(self) -> int | None:
        """The largest ALIF threshold increment (``LoihiALIF.beta``); None if the chip has no ALIF neuron."""
        return None if self.adaptation_bits is None else (1 << self.adaptation_bits) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SynapseMemory:
    """How a core stores its synapses (nengo-loihi's ``SynapseConfig.bits_per_axon`` for Loihi 1).

    Each input axon of a core owns synapse lists of at most ``synapses_per_list`` entries
    (0: one list of any length); a list costs ``list_header_bits`` plus its entries and is
    rounded up to whole ``word_bits`` words. A dense list holds one weight per neuron of the
    core; a sparse list holds only nonzero weights, each with a compartment index of
    ``index_bits_min``..``index_bits_max`` bits (``index_bits_max`` = 0: no sparse format).
    The defaults describe a bare weight matrix: weight bits per synapse and nothing else.
    """

    word_bits: int = bounded(1, lo=1, hi=1024)
    list_header_bits: int = bounded(0, lo=0, hi=1024)
    synapses_per_list: int = bounded(0, lo=0, hi=1 << 20)
    index_bits_min: int = bounded(0, lo=0, hi=32)
    index_bits_max: int = bounded(0, lo=0, hi=32)


@dataclass(frozen=True, slots=True, kw_only=True)
class LearningFactorBits:
    """Width in bits the learning engine counts for each factor of a product (Lava ``FACTOR_TO_WIDTH_DICT``).

    Keys are the rule symbols, with ``const`` for a constant factor (Lava's ``C``). A factor's value is
    saturated to ``-2**width .. 2**width - 1`` before it is multiplied in.
    """

    x0: int = bounded(lo=1, hi=16)
    y0: int = bounded(lo=1, hi=16)
    x1: int = bounded(lo=1, hi=16)
    x2: int = bounded(lo=1, hi=16)
    y1: int = bounded(lo=1, hi=16)
    y2: int = bounded(lo=1, hi=16)
    y3: int = bounded(lo=1, hi=16)
    w: int = bounded(lo=1, hi=16)
    d: int = bounded(lo=1, hi=16)
    t: int = bounded(lo=1, hi=16)
    const: int = bounded(lo=1, hi=16)

    def of(self, symbol: str) -> int:
        """The width of factor ``symbol`` (``x0`` ... ``t``, or ``C``/``const`` for a constant)."""
        name = "const" if symbol == "C" else symbol
        if name not in _FACTOR_SYMBOLS:
            raise KeyError(f"unknown learning-rule factor {symbol!r} (factors: {', '.join(_FACTOR_SYMBOLS)}, C)")
        return int(getattr(self, name))


_FACTOR_SYMBOLS = ("x0", "y0", "x1", "x2", "y1", "y2", "y3", "w", "d", "t", "const")


@dataclass(frozen=True, slots=True, kw_only=True)
class LearningLimits:
    """The on-chip learning engine: sum-of-products rules ``dw``/``dd``/``dt`` over traces (Lava's fixed-point model).

    A product is ``scale * dependency * factor * ...`` with dependency ``x0``, ``y0`` or ``uK``
    (K = decimation exponent: the product runs every 2**K epochs). Its scale is
    ``m * 2**e`` with ``m`` in ``scale_mant_min..scale_mant_max`` after even mantissas are folded into
    the exponent (Lava does this before its check) and ``e`` in ``scale_exp_min..scale_exp_max``.
    The product of the factors is right-shifted by :meth:`product_shift` before the scale exponent is
    applied and the result saturates to the ``accumulator_bits`` + sign accumulator.

    Traces (x1, x2 pre; y1, y2, y3 post) are unsigned ``trace_bits`` integers (0..``trace_max``). A
    trace's impulse is ``int + frac / 2**trace_impulse_frac_bits`` with ``int`` in
    ``0..trace_impulse_int_max``; its decay constant tau must be in ``trace_tau_min..trace_tau_max``
    when the trace is used (tau = 0 leaves the trace at 0 after every step). Synaptic variables:
    weight ``w`` (mixed sign), tag ``t`` (signed), delay ``d`` (unsigned), each within its range.
    ``t_epoch`` is in ``t_epoch_min..t_epoch_max`` (the within-epoch spike time is an
    ``epoch_time_bits`` field, 0 meaning no spike). ``max_products_per_rule`` and
    ``max_factors_per_product`` are None where no limit is known or enforced.
    """

    scale_mant_min: int = bounded(lo=-128, hi=0)
    scale_mant_max: int = bounded(lo=0, hi=127)
    scale_exp_min: int = bounded(lo=-32, hi=0)
    scale_exp_max: int = bounded(lo=0, hi=32)
    shift_mant_bits: int = bounded(lo=0, hi=16, doc="width the product shift counts for the scale mantissa")
    accumulator_bits: int = bounded(lo=1, hi=32, doc="unsigned width of the synaptic-variable accumulator")
    factor_bits: LearningFactorBits
    trace_bits: int = bounded(lo=1, hi=16)
    trace_impulse_int_max: int = bounded(lo=0, hi=65535)
    trace_impulse_frac_bits: int = bounded(lo=0, hi=16)
    trace_tau_min: int = bounded(lo=0, hi=65535)
    trace_tau_max: int = bounded(lo=1, hi=65535)
    weight_min: int = bounded(lo=-65536, hi=0)
    weight_max: int = bounded(lo=0, hi=65535)
    tag_min: int = bounded(lo=-65536, hi=0)
    tag_max: int = bounded(lo=0, hi=65535)
    delay_min: int = bounded(lo=0, hi=65535)
    delay_max: int = bounded(lo=0, hi=65535)
    t_epoch_min: int = bounded(lo=1, hi=65535)
    t_epoch_max: int = bounded(lo=1, hi=65535)
    epoch_time_bits: int = bounded(lo=1, hi=16)
    decimate_exp_min: int = bounded(lo=0, hi=31)
    decimate_exp_max: int = bounded(lo=0, hi=31)
    max_products_per_rule: int | None = bounded(lo=1, hi=65535)
    max_factors_per_product: int | None = bounded(lo=1, hi=65535)

    @property
    def trace_max(self) -> int:
        return (1 << self.trace_bits) - 1

    @property
    def trace_impulse_max(self) -> float:
        """The largest impulse: the integer maximum plus the largest fraction."""
        frac = (1 << self.trace_impulse_frac_bits) - 1
        return self.trace_impulse_int_max + frac / (1 << self.trace_impulse_frac_bits)

    def product_shift(self, factors: Iterable[str]) -> int:
        """Right shift of a product: max(0, Σ factor widths + ``shift_mant_bits`` − ``accumulator_bits``).

        ``factors`` are the product's factors without its dependency (``x0``/``y0``/``uK``); a second
        ``x0`` or ``y0`` in a product is a factor (Lava ``LearningRuleApplierBitApprox.apply``).
        """
        widths = sum(self.factor_bits.of(f) for f in factors)
        return max(0, widths + self.shift_mant_bits - self.accumulator_bits)


class EnergyBasis(enum.Enum):
    """What the per-operation figures of an ``EnergyModel`` are."""

    PRE_SILICON = "pre_silicon"  #: the chip's own published figures, from pre-silicon simulation
    STAND_IN = "stand_in"        #: another chip's figures: none are published for this chip


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyModel:
    """Published per-operation costs, for *modelled* (never measured) latency and energy figures.

    ``source`` is the one-line citation printed next to every figure computed from them.
    """

    basis: EnergyBasis
    source: str
    synop_pj: float = bounded(lo=0.0, doc="one spike or message reaching one stored synapse")
    neuron_update_pj: float = bounded(lo=0.0, doc="one neuron (compartment) update in one time step")
    spike_pj: float = bounded(lo=0.0, doc="one spike message delivered to one destination core")
    synop_ns: float = bounded(lo=0.0)
    neuron_update_ns: float = bounded(lo=0.0)
    barrier_sync_ns: float = bounded(lo=0.0, doc="end-of-time-step synchronisation of one chip")


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareConfig:
    """Everything the compiler needs to know about one chip generation and board."""

    name: str
    generation: int = bounded(lo=1, hi=3)
    chip: ChipLimits
    board: BoardLimits
    core: CoreLimits
    synapse: SynapseFormat
    neuron: NeuronFormat
    synapse_memory: SynapseMemory = field(default_factory=SynapseMemory)
    energy: EnergyModel | None = None
    learning: LearningLimits | None = None
    source: str = ""

    @property
    def max_cores(self) -> int:
        return self.chip.neuro_cores * self.board.chips


def hw_config_dir() -> Path:
    """The ``hw_configs/`` folder shipped beside the packages."""
    return Path(__file__).resolve().parent.parent / "hw_configs"


def available_hw() -> list[str]:
    return sorted(p.stem for p in hw_config_dir().glob("*.yaml"))


@functools.lru_cache(maxsize=16)
def load_hw(name_or_path: str | Path) -> HardwareConfig:
    """Load ``loihi2``, ``loihi1`` or a path to a YAML file; cached per argument."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = hw_config_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown hardware config {str(name_or_path)!r}: "
                              f"choose one of {', '.join(available_hw())} or give a path to a .yaml file")
    data = load_yaml_mapping(path)
    cfg = build(HardwareConfig, data, source=str(path))
    _check_consistency(cfg, str(path))
    return _with_source(cfg, str(path))


def _with_source(cfg: HardwareConfig, source: str) -> HardwareConfig:
    from dataclasses import replace
    return replace(cfg, source=source)


def _check_consistency(cfg: HardwareConfig, source: str) -> None:
    syn = cfg.synapse
    if syn.graded_spikes and syn.max_message_bits == 0:
        raise ConfigError(f"{source}: synapse.max_message_bits: must be > 0 when graded_spikes is true")
    mem = cfg.synapse_memory
    if mem.index_bits_max < mem.index_bits_min:
        raise ConfigError(f"{source}: synapse_memory.index_bits_max: must be >= index_bits_min "
                          f"({mem.index_bits_min}), got {mem.index_bits_max}")
    if not syn.graded_spikes and syn.max_message_bits != 0:
        raise ConfigError(f"{source}: synapse.max_message_bits: must be 0 when graded_spikes is false "
                          f"(got {syn.max_message_bits})")
    if cfg.learning is not None:
        _check_learning(cfg.learning, source)


def _check_learning(lrn: LearningLimits, source: str) -> None:
    for lo, hi in (("scale_mant_min", "scale_mant_max"), ("scale_exp_min", "scale_exp_max"),
                   ("trace_tau_min", "trace_tau_max"), ("weight_min", "weight_max"), ("tag_min", "tag_max"),
                   ("delay_min", "delay_max"), ("t_epoch_min", "t_epoch_max"),
                   ("decimate_exp_min", "decimate_exp_max")):
        if getattr(lrn, hi) < getattr(lrn, lo):
            raise ConfigError(f"{source}: learning.{hi}: must be >= {lo} ({getattr(lrn, lo)}), "
                              f"got {getattr(lrn, hi)}")
    if lrn.trace_impulse_int_max > lrn.trace_max:
        raise ConfigError(f"{source}: learning.trace_impulse_int_max: must be <= 2**trace_bits - 1 "
                          f"({lrn.trace_max}), got {lrn.trace_impulse_int_max}")
    epoch_time_max = (1 << lrn.epoch_time_bits) - 1
    if lrn.t_epoch_max > epoch_time_max:
        raise ConfigError(f"{source}: learning.t_epoch_max: must be <= 2**epoch_time_bits - 1 "
                          f"({epoch_time_max}), got {lrn.t_epoch_max}")
