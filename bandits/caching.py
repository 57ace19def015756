"""A small bounded cache for built objects: compiled functions, environments, fitted simulators.

JAX programs are compiled per Python object: a jitted rollout belongs to one ``Env`` and one
``Policy`` (NamedTuples that hold arrays, so they are not hashable by value). Caching such
programs by ``id(obj)`` alone is unsafe: once ``obj`` is garbage collected, a new object may get
the same id and silently receive a program built for the old one. :class:`IdentityLRU` keys an
entry by the *identity* of some objects plus an optional hashable value key, and holds a strong
reference to those objects for as long as the entry lives, so an id cannot be reused while its
entry exists. The least recently used entry is dropped once more than ``maxsize`` are held, which
bounds the memory that cached programs (and the objects they keep alive) can take.

Value-keyed caches (``key`` only, no objects) use the same class, for one bounded policy across
the project.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["IdentityLRU"]

V = TypeVar("V")


class IdentityLRU(Generic[V]):
    """A least-recently-used map from ``(identities of objects, value key)`` to built values.

    maxsize: the most entries kept (an integer >= 1); adding one more evicts the least recently
        used entry.

    ``cache.get(build, env, policy, key=(horizon, block))`` returns the value cached for exactly
    these ``env`` and ``policy`` objects (by ``is``, not ``==``) and this ``key`` (by ``==``), or
    calls ``build()`` once, stores and returns its result. Entries keep their objects alive.
    Thread safe: concurrent misses on one key may both build; the first stored value wins.
    """

    def __init__(self, maxsize: int):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize: expected an integer >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, tuple[tuple[object, ...], V]] = OrderedDict()
        self._lock = threading.Lock()

    def _full_key(self, objects: tuple[object, ...], key: Hashable) -> Hashable:
        return (tuple(id(o) for o in objects), key)

    def get(self, build: Callable[[], V], *objects: object, key: Hashable = None) -> V:
        """The cached value for ``objects`` (by identity) and ``key`` (by value), built on a miss.

        build: a zero-argument callable making the value. objects: any objects (hashable or
        not), compared by identity and kept alive with the entry. key: a hashable value
        distinguishing entries for the same objects (static sizes, flags); ``TypeError`` if it
        is not hashable.
        """
        fk = self._full_key(objects, key)
        with self._lock:
            hit = self._data.get(fk)
            if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
                self._data.move_to_end(fk)
                return hit[1]
        value = build()
        with self._lock:
            hit = self._data.get(fk)
            if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
                self._data.move_to_end(fk)
                return hit[1]
            self._data[fk] = (tuple(objects), value)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def peek(self, *objects: object, key: Hashable = None) -> V | None:
        """The cached value for ``objects`` and ``key``, or None; does not build or reorder."""
        with self._lock:
            hit = self._data.get(self._full_key(objects, key))
        if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
            return hit[1]
        return None

    def clear(self) -> None:
        """Drop every entry (and the references to their objects)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"IdentityLRU(maxsize={self.maxsize}, size={len(self)})"
