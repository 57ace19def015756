"""IdentityLRU: bounded size, identity (not equality) semantics, entries keep their objects alive,
no stale hit once an object has died and its id is reused."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from bandits.caching import IdentityLRU


class Obj:
    """An unhashable, weak-referenceable object compared by value (so == and ``is`` differ)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return isinstance(other, Obj) and other.v == self.v


def counting_build(calls, value):
    def build():
        calls.append(value)
        return value
    return build


def test_hit_and_miss_by_identity_and_key():
    c = IdentityLRU(maxsize=8)
    a, b = Obj(1), Obj(1)  # equal, not identical
    calls = []
    assert c.get(counting_build(calls, "a"), a, key=3) == "a"
    assert c.get(counting_build(calls, "a2"), a, key=3) == "a"  # hit: not rebuilt
    assert c.get(counting_build(calls, "b"), b, key=3) == "b"  # an equal object is another entry
    assert c.get(counting_build(calls, "a4"), a, key=4) == "a4"  # another key is another entry
    assert c.get(counting_build(calls, "ab"), a, b) == "ab"  # several objects, order matters
    assert c.get(counting_build(calls, "ba"), b, a) == "ba"
    assert calls == ["a", "b", "a4", "ab", "ba"]
    assert c.peek(a, key=3) == "a" and c.peek(b, a) == "ba" and c.peek(a, key=5) is None


def test_value_keys_without_objects():
    c = IdentityLRU(maxsize=2)
    calls = []
    assert c.get(counting_build(calls, 1), key=("env", 3)) == 1
    assert c.get(counting_build(calls, 2), key=("env", 3)) == 1
    with pytest.raises(TypeError):
        c.get(counting_build(calls, 3), key={"unhashable": 1})
    assert calls == [1]


def test_bound_respected_and_least_recently_used_evicted():
    c = IdentityLRU(maxsize=3)
    objs = [Obj(i) for i in range(5)]
    for i in range(3):
        c.get(lambda i=i: i, objs[i])
    c.get(lambda: -1, objs[0])  # touch 0: now 1 is the least recently used
    c.get(lambda: 3, objs[3])
    assert len(c) == 3
    assert c.peek(objs[1]) is None and c.peek(objs[0]) == 0 and c.peek(objs[2]) == 2 and c.peek(objs[3]) == 3
    for i in range(50):
        c.get(lambda i=i: i, key=i)
        assert len(c) <= 3
    c.clear()
    assert len(c) == 0 and c.peek(objs[0]) is None


def test_entries_keep_objects_alive_until_evicted():
    c = IdentityLRU(maxsize=1)
    o = Obj(0)
    ref = weakref.ref(o)
    c.get(lambda: "v", o)
    del o
    gc.collect()
    assert ref() is not None  # held by the cache: its id cannot be reused while the entry lives
    c.get(lambda: "w", key="other")  # evicts it
    gc.collect()
    assert ref() is None


def test_no_stale_hit_when_a_dead_objects_id_is_reused():
    c = IdentityLRU(maxsize=1)
    old = Obj(0)
    old_id = id(old)
    c.get(lambda: "old", old)
    c.get(lambda: "x", key="evict")
    del old
    gc.collect()
    # CPython reuses freed memory for a same-sized object: allocate (and hold) objects until one
    # gets the dead object's id
    held = []
    for _ in range(100_000):
        new = Obj(0)
        if id(new) == old_id:
            break
        held.append(new)
    else:
        pytest.skip("the allocator never reused the id")
    assert c.get(lambda: "new", new) == "new"


def test_bad_maxsize():
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="maxsize: expected an integer >= 1"):
            IdentityLRU(bad)


def test_arrays_as_objects():
    # the cached objects may be arrays or NamedTuples of arrays (not hashable by value)
    c = IdentityLRU(maxsize=2)
    x = np.zeros(3)
    assert c.get(lambda: 1, x) == 1 and c.get(lambda: 2, x) == 1 and c.get(lambda: 3, x.copy()) == 3
