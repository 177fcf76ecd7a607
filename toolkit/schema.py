"""YAML at the edge: parse a mapping once into frozen, typed dataclasses.

Used by the hardware configs (``toolkit.hw``) and the experiment configs
(``toolkit.config``). Unknown keys are rejected, types and ranges checked, and
every error names the file and the key path, for example::

    hw_configs/loihi2.yaml: core.max_neurons: must be <= 65536 (got 90000)

Range limits live next to the field, in ``field(metadata={"min": ..., "max": ...})``.
Strings become ``Enum`` members by value; lists become tuples.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from toolkit.errors import ConfigError

__all__ = ["bounded", "build", "load_yaml_mapping", "plain"]

T = TypeVar("T")


def bounded(default: Any = dataclasses.MISSING, *, lo: float | None = None,
            hi: float | None = None, doc: str = "") -> Any:
    """A dataclass field with an inclusive numeric range checked by :func:`build`."""
    meta = {"min": lo, "max": hi, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())   # PyYAML's messages span lines
        raise ConfigError(f"{p}:{where} not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def build(cls: type[T], data: Any, *, source: str, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data`` (a mapping), validating as described above."""
    where = f"{source}: {path}" if path else f"{source}:"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"{source}: {key}: unknown key (valid keys here: {', '.join(sorted(fields))})")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: {key}: required key is missing")
            continue
        value = _convert(hints[name], data[name], source=source, path=key)
        _check_range(f, value, source=source, path=key)
        kwargs[name] = value
    return cls(**kwargs)


def _convert(tp: Any, value: Any, *, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(tp, value, source=source, path=path)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source=source, path=path)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(tp, value, source=source, path=path)
    if origin is tuple:
        return _convert_tuple(tp, value, source=source, path=path)
    return _convert_scalar(tp, value, source=source, path=path)


def _convert_union(tp: Any, value: Any, *, source: str, path: str) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return _convert(arg, value, source=source, path=path)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(errors[0] if len(errors) == 1 else f"{source}: {path}: invalid value {value!r}")


def _convert_enum(tp: type[enum.Enum], value: Any, *, source: str, path: str) -> Any:
    try:
        return tp(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in tp)
        raise ConfigError(f"{source}: {path}: must be one of {valid} (got {value!r})") from None


def _convert_tuple(tp: Any, value: Any, *, source: str, path: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{source}: {path}: must be a list, got {type(value).__name__}")
    args = typing.get_args(tp)
    item_tp = args[0] if args else Any
    return tuple(_convert(item_tp, v, source=source, path=f"{path}[{i}]") for i, v in enumerate(value))


def _convert_scalar(tp: Any, value: Any, *, source: str, path: str) -> Any:
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{source}: {path}: must be a finite number (got {value!r})")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{source}: {path}: must be {_article(name)} {name} (got {value!r})")


def _article(name: str) -> str:
    return "an" if name[:1] in "aeiou" else "a"


def _check_range(f: dataclasses.Field[Any], value: Any, *, source: str, path: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"{source}: {path}: must be >= {lo} (got {value})")
    if hi is not None and value > hi:
        raise ConfigError(f"{source}: {path}: must be <= {hi} (got {value})")


def plain(v: Any) -> Any:
    """``v`` with tuples as lists and enums as their values, recursively: the JSON form of a built config
    (``build`` reads it back to an equal object)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, enum.Enum):
        return v.value
    return v
