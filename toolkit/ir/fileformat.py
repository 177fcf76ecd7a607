"""The IR on disk: one zip file holding ``graph.json`` and the arrays as ``.npy``.

``graph.json`` is small and readable (``unzip -p net.nfa graph.json``); version 2::

    {"format": "nfa-ir", "format_version": 2,
     "nodes": [{"type": "Dense", "name": "fc1",
                "fields": {"weight": {"$array": "arrays/fc1/weight.npy", "sha256": "9f2c..."}, "weight_exp": 0,
                           "delay": 0}}, ...],
     "edges": [{"src": "input", "dst": "fc1", "port": "in"}, ...],
     "records": [{"type": "Timesteps", "fields": {"steps": 32}}, ...]}

Node and record types are looked up by class name in their registries (``NODE_TYPES``,
``RECORD_TYPES``); enum fields are written as ``{"$enum": "ResetMode", "value": "zero"}`` and
read back by the field's declared type, so a new node type with enum fields needs nothing here.

Version 1 (every network compiled before graphs could branch) is still read: its edges are
``[src, dst]`` pairs into the ``in`` port, and its untyped ``meta`` dictionary becomes the
records it stands for (``_V1_META``). Arrays are read with ``allow_pickle=False``. Files are
written atomically.

Each array reference carries the SHA-256 of its ``.npy`` bytes (``{"$array": ..., "sha256": ...}``), checked on
load, so a damaged file is refused in one line instead of running with wrong weights (the zip's own CRC-32 is
checked too; files written before digests load without the check).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import types
import typing
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import IRFormatError, ToolkitError
from toolkit.fsutil import atomic_path
from toolkit.ir.core import NODE_TYPES, Edge, Graph, Node
from toolkit.ir.records import (
    RECORD_TYPES,
    Balance,
    BiasesFolded,
    Converted,
    CoreMapping,
    PassLog,
    Quantization,
    Ranges,
    Readout,
    Record,
    Timesteps,
)
from toolkit.learning.rule import Plasticity

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "READABLE_VERSIONS", "load_graph", "save_graph"]

FORMAT_NAME = "nfa-ir"
#: Bumped on any change that an older reader would misread. 2: ports, delays, records.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def save_graph(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (conventionally ``*.nfa``) atomically; return the path."""
    arrays: dict[str, bytes] = {}
    nodes = [_encode_node(n, arrays) for n in graph.nodes]
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "nodes": nodes,
              "edges": [{"src": e.src, "dst": e.dst, "port": e.port} for e in graph.edges],
              "records": [{"type": type(r).__name__, "fields": r.to_json()} for r in graph.records]}
    target = Path(path)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("graph.json", json.dumps(header, indent=1))
        for key, data in arrays.items():
            zf.writestr(key, data)
    return target


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def load_graph(path: str | Path) -> Graph:
    """Read a graph written by :func:`save_graph` (format version 1 or 2); raise ``IRFormatError`` if it cannot."""
    p = Path(path)
    if not p.is_file():
        raise IRFormatError(f"{p}: no such IR file (write one with `nfa compile` or toolkit.ir.save_graph)")
    try:
        zf = zipfile.ZipFile(p)
    except _DAMAGED:
        raise IRFormatError(f"{p}: not an nfa IR file (not a zip archive)") from None
    try:
        with zf:
            header = _read_header(zf, p)
            nodes = tuple(_decode_node(d, zf, p) for d in _list(header, "nodes", p))
    except _DAMAGED as exc:
        raise IRFormatError(f"{p}: the file is damaged ({type(exc).__name__}: {exc}); recompile the network or "
                            "restore it from a copy") from None
    if header["format_version"] == 1:
        edges, records = _v1_edges(header, p), _v1_records(header.get("meta", {}), p)
    else:
        edges = tuple(_decode_edge(e, p) for e in _list(header, "edges", p))
        records = tuple(_decode_record(r, p) for r in _list(header, "records", p))
    return Graph(nodes=nodes, edges=edges, records=records)


#: what reading a damaged zip member raises (a failed CRC-32, a broken deflate stream, a garbled header or flag:
#: zipfile raises NotImplementedError for a compression method or version it does not know, RuntimeError for an
#: encryption flag; every one of these was met by flipping single bits in tests/test_artefacts.py)
_DAMAGED = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError)


def _list(header: dict[str, Any], key: str, p: Path) -> list[Any]:
    value = header.get(key, [])
    if not isinstance(value, list):
        raise IRFormatError(f"{p}: graph.json: {key!r} must be a list, got {type(value).__name__}")
    return value


def _read_header(zf: zipfile.ZipFile, p: Path) -> dict[str, Any]:
    try:
        header = json.loads(zf.read("graph.json"))
    except KeyError:
        raise IRFormatError(f"{p}: not an nfa IR file (no graph.json inside)") from None
    except json.JSONDecodeError as exc:
        raise IRFormatError(f"{p}: graph.json is not valid JSON ({exc.msg})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise IRFormatError(f"{p}: not an nfa IR file (format is "
                            f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("format_version")
    if version not in READABLE_VERSIONS:
        raise IRFormatError(f"{p}: IR format_version {version} is not supported by this toolkit "
                            f"(it reads versions {', '.join(map(str, READABLE_VERSIONS))}); recompile the "
                            "network with this version")
    return header


# ---------------------------------------------------------------------------------------------- nodes


def _encode_node(node: Node, arrays: dict[str, bytes]) -> dict[str, Any]:
    fields = {}
    for f in dataclasses.fields(node):
        if f.name == "name":
            continue
        value = getattr(node, f.name)
        if isinstance(value, np.ndarray):
            key = f"arrays/{node.name}/{f.name}.npy"
            arrays[key] = _npy_bytes(value)
            fields[f.name] = {"$array": key, "sha256": hashlib.sha256(arrays[key]).hexdigest()}
        else:
            fields[f.name] = _jsonable(value)
    return {"type": type(node).__name__, "name": node.name, "fields": fields}


#: value types (not nodes, enums or arrays) a node field may hold, by class name: each has ``to_json`` and a
#: ``from_json`` classmethod
VALUE_TYPES: dict[str, Any] = {"Plasticity": Plasticity}


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if type(value).__name__ in VALUE_TYPES and VALUE_TYPES[type(value).__name__] is type(value):
        return {"$value": type(value).__name__, "data": value.to_json()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode_node(d: Any, zf: zipfile.ZipFile, p: Path) -> Node:
    if not isinstance(d, dict) or not isinstance(d.get("fields"), dict):
        raise IRFormatError(f"{p}: a node entry must be an object with 'type', 'name' and 'fields'")
    cls = NODE_TYPES.get(d.get("type", ""))
    if cls is None:
        raise IRFormatError(f"{p}: node {d.get('name')!r} has unknown type {d.get('type')!r} "
                            f"(known: {', '.join(sorted(NODE_TYPES))})")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d["fields"]) - valid
    if unknown:
        raise IRFormatError(f"{p}: node {d.get('name')!r} ({cls.__name__}) has unknown fields {sorted(unknown)}")
    where = f"{p}: node {d.get('name')!r} ({cls.__name__})"
    kwargs = {k: _decode_value(v, hints[k], zf, f"{where}: {k}") for k, v in d["fields"].items()}
    try:
        return cls(name=d["name"], **kwargs)
    except (TypeError, ValueError) as exc:
        raise IRFormatError(f"{where}: {exc}") from None


def _enum_of(hint: Any) -> type[enum.Enum] | None:
    """The enum class a field's type names (``E`` or ``E | None``), if any."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    return next((t for t in options if isinstance(t, type) and issubclass(t, enum.Enum)), None)


def _decode_object(v: dict[str, Any], where: str) -> Any:
    """A ``{"$value": type, "data": ...}`` field: an object of one of ``VALUE_TYPES``."""
    cls = VALUE_TYPES.get(v["$value"])
    if cls is None:
        raise IRFormatError(f"{where}: unknown value type {v['$value']!r} (known: {', '.join(VALUE_TYPES)})")
    try:
        return cls.from_json(v.get("data", {}))
    except ToolkitError as exc:
        raise IRFormatError(f"{where}: {exc}") from None


def _read_array(v: dict[str, Any], zf: zipfile.ZipFile, where: str) -> np.ndarray:
    """The array ``v["$array"]``, checked against its SHA-256 digest (files written since digests exist)."""
    key = v["$array"]
    damaged = f"{where}: array {key} is corrupted"
    fix = "recompile the network or restore the file from a copy"
    try:
        data = zf.read(key)
    except KeyError:
        raise IRFormatError(f"{where}: array {key} is missing from the file") from None
    except _DAMAGED as exc:
        raise IRFormatError(f"{damaged} (the zip member fails its check: {exc}); {fix}") from None
    digest = v.get("sha256")
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise IRFormatError(f"{damaged}: its bytes do not match the SHA-256 digest written with it; {fix}")
    try:
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise IRFormatError(f"{where}: array {key} cannot be read ({exc})") from None


def _decode_value(v: Any, hint: Any, zf: zipfile.ZipFile, where: str) -> Any:
    if isinstance(v, dict) and "$array" in v:
        return _read_array(v, zf, where)
    if isinstance(v, dict) and "$enum" in v:
        cls = _enum_of(hint)
        if cls is None or cls.__name__ != v["$enum"]:
            raise IRFormatError(f"{where}: an enum {v['$enum']!r} where the field takes {hint}")
        try:
            return cls(v.get("value"))
        except ValueError:
            valid = ", ".join(repr(m.value) for m in cls)
            raise IRFormatError(f"{where}: {v.get('value')!r} is not a {cls.__name__} (valid: {valid})") from None
    if isinstance(v, dict) and "$value" in v:
        return _decode_object(v, where)
    if isinstance(v, list) and _is_tuple_hint(hint):
        return tuple(tuple(x) if isinstance(x, list) else x for x in v)
    return v


def _is_tuple_hint(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return True
    return any(typing.get_origin(a) is tuple for a in typing.get_args(hint))


# ---------------------------------------------------------------------------------------------- edges, records


def _decode_edge(e: Any, p: Path) -> Edge:
    if not isinstance(e, dict) or not isinstance(e.get("src"), str) or not isinstance(e.get("dst"), str):
        raise IRFormatError(f"{p}: an edge must be an object with string 'src' and 'dst' (and 'port'), got {e!r}")
    return Edge(e["src"], e["dst"], str(e.get("port", "in")))


def _decode_record(r: Any, p: Path) -> Record:
    if not isinstance(r, dict) or not isinstance(r.get("fields"), dict):
        raise IRFormatError(f"{p}: a record must be an object with 'type' and 'fields', got {r!r}")
    cls = RECORD_TYPES.get(r.get("type", ""))
    if cls is None:
        raise IRFormatError(f"{p}: unknown record type {r.get('type')!r} (known: {', '.join(sorted(RECORD_TYPES))})")
    try:
        return cls.from_json(r["fields"])
    except (TypeError, ValueError) as exc:
        raise IRFormatError(f"{p}: record {cls.__name__}: {exc}") from None


def _v1_edges(header: dict[str, Any], p: Path) -> tuple[Edge, ...]:
    edges = _list(header, "edges", p)
    if not all(isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in edges):
        raise IRFormatError(f"{p}: a version-1 edge must be a [source, target] pair of node names")
    return tuple(Edge(a, b) for a, b in edges)


def _v1_ranges(v: dict[str, Any]) -> Ranges:
    return Ranges(pre_max={g: r["pre_max"] for g, r in v.items()}, act_max={g: r["act_max"] for g, r in v.items()})


#: version-1 ``meta`` key -> the record it becomes (``hw`` is read with ``quantization``)
_V1_META: dict[str, Callable[[Any, dict[str, Any]], Record | None]] = {
    "passes": lambda v, m: PassLog(passes=tuple(v)),
    "timesteps": lambda v, m: Timesteps(steps=int(v)),
    "mode": lambda v, m: Converted(mode=str(v)),
    "balance": lambda v, m: Balance(**v),
    "readout": lambda v, m: Readout(**v),
    "ranges": lambda v, m: _v1_ranges(v),
    "quantization": lambda v, m: Quantization(hw=str(m.get("hw", "")), layers=tuple(v)),
    "mapping": lambda v, m: CoreMapping(placement=v),
    "hw": lambda v, m: None,
}


def _v1_records(meta: Any, p: Path) -> tuple[Record, ...]:
    if not isinstance(meta, dict):
        raise IRFormatError(f"{p}: a version-1 'meta' must be an object")
    unknown = sorted(set(meta) - set(_V1_META))
    if unknown:
        raise IRFormatError(f"{p}: version-1 meta has unknown keys {unknown} (known: {', '.join(sorted(_V1_META))})")
    records = []
    for key, value in meta.items():
        try:
            rec = _V1_META[key](value, meta)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise IRFormatError(f"{p}: version-1 meta {key!r} cannot be read ({exc})") from None
        if rec is not None:
            records.append(rec)
    if "fold_biases" in meta.get("passes", []):
        records.append(BiasesFolded())
    return tuple(records)
