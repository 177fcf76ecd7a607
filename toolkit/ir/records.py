"""Records: the typed, frozen facts compiler passes leave on a graph for later passes and reports.

A pass that establishes a fact returns a graph carrying a record of it (``Graph.with_record``);
a pass that needs the fact reads the record (``Graph.record``), and a pipeline checks the order
of its passes from what each one declares it needs and provides (``compilers.passes.common``).
At most one record of each type sits on a graph. Record fields are JSON values, deep-frozen
(mappings become read-only, lists tuples), so a record cannot be changed after it is made.

Every record type is registered by class name for the file format (``RECORD_TYPES``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from toolkit.errors import GraphError, RegistryError

__all__ = [
    "RECORD_TYPES",
    "Balance",
    "BiasesFolded",
    "Converted",
    "CoreMapping",
    "PassLog",
    "Quantization",
    "Ranges",
    "Readout",
    "Record",
    "Timesteps",
    "freeze",
    "register_record",
    "thaw",
]

R = TypeVar("R", bound="Record")

#: record class name -> class (the file format's ``type`` of a record)
RECORD_TYPES: dict[str, type[Record]] = {}


def register_record(cls: type[R]) -> type[R]:
    if cls.__name__ in RECORD_TYPES:
        raise RegistryError(f"record type {cls.__name__} is already registered")
    RECORD_TYPES[cls.__name__] = cls
    return cls


def freeze(value: Any) -> Any:
    """A deep read-only copy of a JSON value: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return freeze(value.tolist())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise GraphError(f"a record holds JSON values only, got {type(value).__name__}")


def thaw(value: Any) -> Any:
    """The plain JSON value (dicts and lists) of a frozen one."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Base of all records."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, freeze(getattr(self, f.name)))

    def to_json(self) -> dict[str, Any]:
        return {f.name: thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        return cls(**data)


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class PassLog(Record):
    """The passes that made this graph, in the order they ran."""

    passes: tuple[str, ...] = ()


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Timesteps(Record):
    """Timesteps per sample the network was compiled for (the default of every backend)."""

    steps: int


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class BiasesFolded(Record):
    """Synapses carry no biases: each was moved into the neuron group it feeds (``fold_biases``)."""


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Balance(Record):
    """``balance_thresholds``: every group's λ (the ``percentile`` of its positive activations on
    ``calibration_samples`` samples), by group name; activations are now in units of λ."""

    percentile: float
    scales: Mapping[str, float]
    calibration_samples: int


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Readout(Record):
    """``calibrate_readout``: logits z became floor + (z − lo) · scale."""

    lo: float
    hi: float
    scale: float
    floor: float | None = None


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Ranges(Record):
    """``measure_ranges``: per neuron group, the largest |input| (``pre_max``, the sum of its synapses) and
    |output| (``act_max``) on calibration data, in the float units of the graph at that point."""

    pre_max: Mapping[str, float]
    act_max: Mapping[str, float]


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Converted(Record):
    """The float units became spiking neurons in conversion ``mode`` (``rate`` or ``sdn``)."""

    mode: str


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class Quantization(Record):
    """``quantize``: the chip (``hw``) and one report per neuron group (errors, exponents, clipping)."""

    hw: str
    layers: tuple[Mapping[str, Any], ...]


@register_record
@dataclass(frozen=True, slots=True, kw_only=True)
class CoreMapping(Record):
    """``map_cores``: cores and chips per neuron group (``compilers.passes.mapping.Placement.to_json``)."""

    placement: Mapping[str, Any]
