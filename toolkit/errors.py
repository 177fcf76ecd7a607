"""The toolkit's error hierarchy: every error a user can cause is one of these.

Each class also subclasses the builtin a caller would naturally catch
(``ConfigError`` is a ``ValueError``), so generic handlers keep working.
Messages say where (file, key path, layer), what was wrong, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "GraphError",
    "HardwareLimitError",
    "IRFormatError",
    "LoweringError",
    "QuantizationError",
    "RegistryError",
    "ToolkitError",
]


class ToolkitError(Exception):
    """Base class of every error raised on purpose by this toolkit."""


class ConfigError(ToolkitError, ValueError):
    """A YAML config (hardware or experiment) is malformed or out of range."""


class DataError(ToolkitError, ValueError):
    """A dataset file exists but cannot be used (wrong format, shapes, labels)."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are missing; the message says how to obtain them."""


class CheckpointError(ToolkitError, ValueError):
    """A model checkpoint is missing, corrupt or of an unknown format."""


class GraphError(ToolkitError, ValueError):
    """An IR graph is structurally invalid (see ``toolkit.ir.check_graph``)."""


class IRFormatError(ToolkitError, ValueError):
    """An IR file cannot be read: not our format, or an unsupported version."""


class QuantizationError(ToolkitError, ValueError):
    """A value cannot be represented in the chip's fixed-point formats."""


class LoweringError(ToolkitError, TypeError):
    """A node type has no lowering for the requested backend."""


class HardwareLimitError(ToolkitError, ValueError):
    """A network does not fit the cores, chips or board of a hardware config."""


class BackendUnavailableError(ToolkitError, RuntimeError):
    """A backend's software or hardware is not present on this machine."""


class RegistryError(ToolkitError, ValueError):
    """A type is registered twice in one registry (``toolkit.registry.TypeRegistry``)."""
