"""The IR on disk: one zip file holding ``graph.json`` and the arrays as ``.npy``.

``graph.json`` is small and readable (``unzip -p net.nfa graph.json``)::

    {"format": "nfa-ir", "format_version": 1,
     "nodes": [{"type": "Dense", "name": "fc1",
                "fields": {"weight": {"$array": "arrays/fc1/weight.npy"}, "weight_exp": 0}}, ...],
     "edges": [["input", "fc1"], ...], "meta": {...}}

Arrays are read with ``allow_pickle=False``. Files are written atomically.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import typing
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import IRFormatError
from toolkit.fsutil import atomic_path
from toolkit.ir.core import NODE_TYPES, Graph, Node, ReadoutMode, ResetMode

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_graph", "save_graph"]

FORMAT_NAME = "nfa-ir"
#: Bumped on any change that an older reader would misread.
FORMAT_VERSION = 1

_ENUMS: dict[str, type[enum.Enum]] = {"ResetMode": ResetMode, "ReadoutMode": ReadoutMode}


def _enum_types() -> dict[str, type[enum.Enum]]:
    from toolkit.ir.io import Encoding
    from toolkit.ir.neurons import Activation

    return {**_ENUMS, "Encoding": Encoding, "Activation": Activation}


def save_graph(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (conventionally ``*.nfa``) atomically; return the path."""
    arrays: dict[str, np.ndarray] = {}
    nodes = [_encode_node(n, arrays) for n in graph.nodes]
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "nodes": nodes,
              "edges": [list(e) for e in graph.edges], "meta": _jsonable(dict(graph.meta))}
    target = Path(path)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("graph.json", json.dumps(header, indent=1))
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(key, buf.getvalue())
    return target


def load_graph(path: str | Path) -> Graph:
    """Read a graph written by :func:`save_graph`; raise ``IRFormatError`` if it cannot."""
    p = Path(path)
    if not p.is_file():
        raise IRFormatError(f"{p}: no such IR file (write one with `nfa compile` or toolkit.ir.save_graph)")
    try:
        with zipfile.ZipFile(p) as zf:
            header = _read_header(zf, p)
            nodes = tuple(_decode_node(d, zf, p) for d in header["nodes"])
    except zipfile.BadZipFile:
        raise IRFormatError(f"{p}: not an nfa IR file (not a zip archive)") from None
    return Graph(nodes=nodes, edges=tuple(tuple(e) for e in header["edges"]),
                 meta=header.get("meta", {}))


def _read_header(zf: zipfile.ZipFile, p: Path) -> dict[str, Any]:
    try:
        header = json.loads(zf.read("graph.json"))
    except KeyError:
        raise IRFormatError(f"{p}: not an nfa IR file (no graph.json inside)") from None
    except json.JSONDecodeError as exc:
        raise IRFormatError(f"{p}: graph.json is not valid JSON ({exc.msg})") from None
    if header.get("format") != FORMAT_NAME:
        raise IRFormatError(f"{p}: not an nfa IR file (format is {header.get('format')!r})")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise IRFormatError(f"{p}: IR format_version {version} is not supported by this toolkit "
                            f"(it reads version {FORMAT_VERSION}); recompile the network with this version")
    return header


def _encode_node(node: Node, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    fields = {}
    for f in dataclasses.fields(node):
        if f.name == "name":
            continue
        value = getattr(node, f.name)
        if isinstance(value, np.ndarray):
            key = f"arrays/{node.name}/{f.name}.npy"
            arrays[key] = value
            fields[f.name] = {"$array": key}
        else:
            fields[f.name] = _jsonable(value)
    return {"type": type(node).__name__, "name": node.name, "fields": fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _decode_node(d: dict[str, Any], zf: zipfile.ZipFile, p: Path) -> Node:
    cls = NODE_TYPES.get(d.get("type", ""))
    if cls is None:
        raise IRFormatError(f"{p}: node {d.get('name')!r} has unknown type {d.get('type')!r} "
                            f"(known: {', '.join(sorted(NODE_TYPES))})")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d["fields"]) - valid
    if unknown:
        raise IRFormatError(f"{p}: node {d['name']!r} ({cls.__name__}) has unknown fields {sorted(unknown)}")
    kwargs = {k: _decode_value(v, hints[k], zf, p) for k, v in d["fields"].items()}
    try:
        return cls(name=d["name"], **kwargs)
    except TypeError as exc:
        raise IRFormatError(f"{p}: node {d['name']!r} ({cls.__name__}): {exc}") from None


def _decode_value(v: Any, hint: Any, zf: zipfile.ZipFile, p: Path) -> Any:
    if isinstance(v, dict) and "$array" in v:
        try:
            return np.lib.format.read_array(io.BytesIO(zf.read(v["$array"])), allow_pickle=False)
        except KeyError:
            raise IRFormatError(f"{p}: array {v['$array']} is missing from the file") from None
    if isinstance(v, dict) and "$enum" in v:
        return _enum_types()[v["$enum"]](v["value"])
    if isinstance(v, list) and _is_tuple_hint(hint):
        return tuple(tuple(x) if isinstance(x, list) else x for x in v)
    return v


def _is_tuple_hint(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return True
    return any(typing.get_origin(a) is tuple for a in typing.get_args(hint))
