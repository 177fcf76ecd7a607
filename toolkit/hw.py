"""Hardware configs: the chip limits in ``hw_configs/*.yaml`` as frozen typed objects.

A config is loaded once (``load_hw("loihi2")`` or a path) and passed down to the
compiler passes; nothing else reads the YAML. Every number in the YAML files cites
its public source in a comment next to it.
"""

from __future__ import annotations

import enum
import functools
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
    """Fixed-point ranges of the CUBA LIF neuron (Lava ``PyLifModelBitAcc``)."""

    threshold_bits: int = bounded(lo=1, hi=24)
    state_bits: int = bounded(lo=8, hi=32)
    bias_mant_bits: int = bounded(lo=2, hi=24)
    bias_exp_max: int = bounded(lo=0, hi=15)
    decay_bits: int = bounded(lo=1, hi=16)

    @property
    def vth_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def bias_mant_max(self) -> int:
        return (1 << (self.bias_mant_bits - 1)) - 1


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
