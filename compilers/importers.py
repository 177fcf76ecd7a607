"""``nfa import``: networks written by other tools become compiled network folders of ours.

A reader says whether it recognises a file *by its content* (``sniff``; NIR and lava-dl netx files are both
HDF5, told apart by what is inside, never by the file name) and turns it into a quantised IR graph that the
reference simulator and the Lava lowering run as they run our own compiled networks, with a report of what the
conversion did (discretisation, quantisation, what was approximated). Readers register in ``READERS``; the first
whose ``sniff`` accepts the file reads it. A file no reader recognises is refused naming the formats that exist.

The imported network is checked (``toolkit.ir.graph_problems``) and mapped onto cores for the chosen hardware
config like any compiled network, then written with ``compilers.netdir.save_network``, so ``nfa run``,
``nfa verify``, ``nfa inspect`` and ``nfa export`` take it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit import ir
from toolkit.errors import ConfigError, IRFormatError

__all__ = ["READERS", "ImportOptions", "Imported", "Reader", "import_network", "read_network", "register_reader"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    """What a reader may need beyond the file. ``dt``: the time step in seconds at which continuous-time
    dynamics (NIR's τ) are discretised; ``timesteps``: steps per sample to record in the network (None: the
    reader's default or the file's own); ``hw``: the hardware config name or path to check and map against."""

    dt: float = 1e-3
    timesteps: int | None = None
    hw: str = "loihi2"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Imported:
    """A reader's result: the quantised graph and the facts for ``compile.json`` (format, source, the
    discretisation and quantisation applied, anything approximated)."""

    graph: ir.Graph
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reader:
    name: str                                          #: format name, e.g. "nir", "netx"
    sniff: Callable[[Path], bool]                      #: True if the file's content is this format
    read: Callable[[Path, ImportOptions], Imported]    #: the file as a quantised graph
    options: tuple[str, ...] = ()                      #: the ``ImportOptions.extra`` keys it reads (others refused)


#: every reader, tried in order
READERS: list[Reader] = []


def register_reader(reader: Reader) -> Reader:
    if any(r.name == reader.name for r in READERS):
        raise ValueError(f"a reader named {reader.name!r} is already registered")
    READERS.append(reader)
    return reader


def _load_builtin_readers() -> None:
    """Import the modules that register the built-in readers (kept lazy: they import h5py and nir)."""
    import importlib

    for module in _BUILTIN:
        importlib.import_module(module)


#: modules whose import registers a reader (one per line)
_BUILTIN: tuple[str, ...] = (
    "compilers.netx_import",
    "compilers.nir_io",
)


def read_network(path: str | Path, opts: ImportOptions | None = None) -> Imported:
    """The network in ``path`` as a quantised, checked graph (the first reader that recognises the content)."""
    p = Path(path)
    if not p.is_file():
        raise IRFormatError(f"{p}: no such file")
    _load_builtin_readers()
    opts = opts or ImportOptions()
    for reader in READERS:
        if reader.sniff(p):
            unknown = sorted(set(opts.extra) - set(reader.options))
            if unknown:   # never ignore an option silently: the user would believe it applied
                raise ConfigError(f"{p}: a {reader.name} file takes no {', '.join(unknown)} option (it takes: "
                                  f"{', '.join(reader.options) or 'none'})")
            imported = reader.read(p, opts)
            problems = ir.graph_problems(imported.graph)
            if problems:
                raise IRFormatError(f"{p}: the {reader.name} reader produced an invalid graph: {'; '.join(problems)}")
            return imported
    formats = ", ".join(r.name for r in READERS) or "none registered"
    raise IRFormatError(f"{p}: not a network file this toolkit reads (formats: {formats})")


def import_network(path: str | Path, out_dir: str | Path, opts: ImportOptions | None = None) -> Imported:
    """Read ``path`` and write it as the compiled network folder ``out_dir`` (atomically)."""
    from compilers.netdir import save_network

    imported = read_network(path, opts)
    save_network(out_dir, imported.graph, {"imported_from": str(path), **imported.report})
    return imported
