"""Scale guards: planning a sweep or a bake-off costs memory independent of the number of seeds.

Probe: ``sweep(..., seeds=10**9)`` allocated O(seeds) bookkeeping (seed, grid and member arrays)
before any work and died at 7.9 GB."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from bandits.engine import sweep as sw
from bandits.policies import make
from envs.synthetic import bernoulli_arms

ENV = bernoulli_arms(num_actions=3, seed=1)
POL = make("epsilon_greedy", num_actions=3)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_billion_seeds_streams_in_constant_memory():
    chunks, peak = _peak_bytes(lambda: list(itertools.islice(
        sw.sweep_chunks(ENV, {"eg": POL}, 10**9, {"eg": {"epsilon": [0.1, 0.3]}}, horizon=4, checkpoints=None,
                        chunk_size=16), 2)))
    assert peak < 16 * 2**20, f"planning 10**9 seeds used {peak / 2**20:.1f} MiB"
    assert [len(c) for c in chunks] == [16, 16]
    np.testing.assert_array_equal(np.concatenate([c["seed"] for c in chunks]), np.arange(32))
    assert (np.concatenate([c["epsilon"] for c in chunks]) == 0.1).all()
    # the streamed rows equal a small materialised sweep's (same compiled chunk shape)
    ref = sw.sweep(ENV, {"eg": POL}, np.arange(32), {"eg": {"epsilon": [0.1]}}, horizon=4, checkpoints=None,
                   chunk_size=16)
    got = pd.concat(chunks, ignore_index=True)
    np.testing.assert_array_equal(got["cum_regret"], ref["cum_regret"])


def test_sweep_refuses_a_table_that_cannot_fit_before_any_work(monkeypatch):
    monkeypatch.setattr(sw, "_memory_bytes", lambda: 8 * 2**30)
    calls = []
    with pytest.raises(MemoryError, match=r"sweep_chunks"):
        _, peak = _peak_bytes(lambda: sw.sweep(ENV, {"eg": POL}, 10**9, horizon=4, chunk_size=16,
                                               progress=lambda *a: calls.append(a)))
    assert calls == []


def test_seed_ranges_are_lazy_and_equal_explicit_seeds():
    a = sw.sweep(ENV, POL, range(5, 12), horizon=5, checkpoints=None, chunk_size=4)
    b = sw.sweep(ENV, POL, np.arange(5, 12), horizon=5, checkpoints=None, chunk_size=4)
    pd.testing.assert_frame_equal(a, b)
    assert sw.count_rounds(POL, 10**9, horizon=3) == 3 * 10**9
    for bad in (range(0), range(0, 10, 2), range(-1, 3), 2**32 + 1):
        with pytest.raises(ValueError, match="seeds"):
            sw.sweep(ENV, POL, bad, horizon=3)


def test_bakeoff_plans_a_billion_seeds_lazily():
    from experiments.bakeoff import count_chunks, plan_chunks
    from experiments.builders import PolicySpec

    specs = [PolicySpec("a", "random"), PolicySpec("b", "ucb1")]
    first, peak = _peak_bytes(lambda: list(itertools.islice(plan_chunks(specs, 10**9, 7, 50), 3)))
    assert peak < 2**20
    assert [(c.lo, c.hi, c.want_lo, c.want_hi) for c in first] == [(0, 50, 7, 50), (50, 100, 50, 100),
                                                                     (100, 150, 100, 150)]
    assert count_chunks(10**9, 7, 50) == (10**9 + 6) // 50 + 1
    assert count_chunks(30, 0, 50) == 1 and count_chunks(60, 0, 50) == 2 and count_chunks(10, 45, 50) == 2
