"""``Registry``: the one shape of every extension point (backbone schemes, tracing frontends, task
providers, search strategies, mutations, executors).

A name is bound once: registering it again is refused with an error naming both entries, so a plugin
cannot silently replace a built-in (nor a built-in a plugin). An unknown name is refused with the
registered names and a "did you mean". Names keep their registration order (``auto`` tracing tries
frontends in that order).
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import AdaptGraphError, did_you_mean

T = TypeVar("T")


def describe(value: object) -> str:
    """A registered value as a reader finds it: ``module.qualname`` for functions and classes."""
    name = getattr(value, "__qualname__", None)
    return f"{value.__module__}.{name}" if name and getattr(value, "__module__", None) else repr(value)


class Registry(Generic[T]):
    """Names bound once to values of one kind; ``what`` names the kind in errors ("search strategy")."""

    def __init__(self, what: str, error: type[AdaptGraphError]):
        self.what, self.error = what, error
        self._entries: dict[str, T] = {}

    def register(self, name: str, value: T) -> T:
        """Bind ``name`` to ``value``; a name already bound is refused, naming both entries."""
        if name in self._entries:
            old, new = describe(self._entries[name]), describe(value)
            raise self.error(f"{self.what} {name!r} is already registered to {old}; refusing {new}",
                             hint=f"register {new} under another name")
        self._entries[name] = value
        return value

    def lookup(self, name: str) -> T:
        """The value bound to ``name``; an unknown name lists the registered ones."""
        if name not in self._entries:
            raise self.error(f"unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}",
                             hint=did_you_mean(name, self._entries))
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def values(self) -> tuple[T, ...]:
        """The registered values, in registration order."""
        return tuple(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"
