"""Named components: one registry type for models, losses, presets, data sets, metrics and
extractors.

A :class:`Registry` holds :class:`Entry` objects in registration order (the order
``gankit list`` shows). An entry carries the registered object (``factory``: a builder, a
loss, a preset function, ...), a one-line description, the per-component options it reads
(option name -> one-line help) and an optional ``check(cfg)`` hook through which the
component rejects options it cannot honour. Lookups of unknown names and failed checks
raise plain :class:`ValueError`: the config layer turns them into user errors, so that
components never depend on how the command line reports mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Entry(Generic[T]):
    """One registered component."""

    name: str
    factory: T
    description: str
    options: Mapping[str, str] = field(default_factory=dict)  # option name -> one-line help
    check: Callable[[Any], None] | None = None  # raises ValueError for options it rejects

    def validate(self, cfg: Any) -> None:
        """Run the component's own option check (``cfg``: its config section), if any."""
        if self.check is not None:
            self.check(cfg)


class Registry(Generic[T]):
    """Entries of one kind ("model", "loss", ...) by name, in registration order.

    ``registry[name]`` is the registered object itself (what a plain dict of components
    used to hold); :meth:`get` gives the whole :class:`Entry`. Both raise ``ValueError``
    naming the choices for an unknown name.
    """

    def __init__(self, kind: str, entries: Iterable[Entry[T]] = ()):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        for entry in entries:
            self._add_entry(entry)

    def _add_entry(self, entry: Entry[T]) -> Entry[T]:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def add(self, name: str, factory: T, description: str,
            options: Mapping[str, str] | None = None,
            check: Callable[[Any], None] | None = None) -> Entry[T]:
        """Register ``factory`` under ``name``; a name can be registered once."""
        return self._add_entry(Entry(name, factory, description, dict(options or {}), check))

    def register(self, name: str, description: str, options: Mapping[str, str] | None = None,
                 check: Callable[[Any], None] | None = None) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; returns the decorated object unchanged."""
        def wrap(factory: T) -> T:
            self.add(name, factory, description, options, check)
            return factory
        return wrap

    def get(self, name: str) -> Entry[T]:
        """The entry called ``name``; an unknown name raises ``ValueError`` listing the
        choices."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: "
                             f"{', '.join(sorted(self._entries))}") from None

    def check(self, name: str, cfg: Any) -> None:
        """Let component ``name`` validate its options in ``cfg`` (its config section)."""
        self.get(name).validate(cfg)

    def __getitem__(self, name: str) -> T:
        return self.get(name).factory

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def keys(self) -> list[str]:
        return self.names()

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def values(self) -> list[T]:
        return [entry.factory for entry in self._entries.values()]

    def items(self) -> list[tuple[str, T]]:
        return [(name, entry.factory) for name, entry in self._entries.items()]

    def describe(self) -> list[tuple[str, str]]:
        """(name, description) rows for listings, in registration order."""
        return [(entry.name, entry.description) for entry in self._entries.values()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
