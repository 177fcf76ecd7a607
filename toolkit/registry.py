"""``TypeRegistry``: behaviour registered per class, the one way node types plug into the toolkit.

Every table that says what to do with a node type (its structural check, reference model, Lava
lowering, quantiser, core-mapping cost, float evaluation, netx writer, ...) is a ``TypeRegistry``.
Two rules hold for all of them:

* a lookup falls back along the class's method resolution order, so a subclass of a registered
  node type gets its parent's behaviour until it registers its own;
* registering the same class twice in one registry raises ``RegistryError``: a second
  registration would silently replace the first.

``docs/extending.md`` lists every registry a new node type needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from toolkit.errors import RegistryError

__all__ = ["TypeRegistry"]

V = TypeVar("V")
F = TypeVar("F")


class TypeRegistry(Generic[V]):
    """Values keyed by class. ``what`` names the registry in messages ("Lava lowering", ...)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._table: dict[type, V] = {}

    def add(self, cls: type, value: V) -> None:
        """Register ``value`` for ``cls``; raises ``RegistryError`` if ``cls`` already has one."""
        if cls in self._table:
            raise RegistryError(f"{self.what}: {cls.__name__} is already registered "
                                f"({self._table[cls]!r}); a type is registered once per registry")
        self._table[cls] = value

    def register(self, *types: type) -> Callable[[F], F]:
        """Decorator: register the decorated object for every class in ``types``."""
        def deco(obj: F) -> F:
            for t in types:
                self.add(t, obj)  # type: ignore[arg-type]
            return obj
        return deco

    def lookup(self, cls: type) -> V | None:
        """The value of ``cls`` or of its nearest registered base class; None if there is none."""
        for base in cls.__mro__:
            if base in self._table:
                return self._table[base]
        return None

    def of(self, obj: Any) -> V | None:
        """``lookup(type(obj))``."""
        return self.lookup(type(obj))

    def supported(self) -> str:
        """The registered class names, sorted and comma-separated (for error messages)."""
        return ", ".join(sorted(t.__name__ for t in self._table))

    def __contains__(self, cls: object) -> bool:
        return isinstance(cls, type) and self.lookup(cls) is not None

    def __iter__(self) -> Iterator[type]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"TypeRegistry({self.what!r}: {self.supported()})"
