"""bandits.core.argmax_random_ties: the maximiser among available actions, ties split uniformly."""

import jax
import jax.numpy as jnp
import numpy as np

from bandits.core import argmax_random_ties

KEYS = jax.random.split(jax.random.key(7), 30_000)


def _choices(scores, mask):
    f = jax.jit(jax.vmap(argmax_random_ties, in_axes=(0, None, None)))
    return np.asarray(f(KEYS, jnp.asarray(scores, jnp.float32), jnp.asarray(mask)))


def test_ties_are_split_uniformly_and_masked_actions_never_win():
    scores = [1.0, 3.0, 3.0, 0.5, 3.0, 3.0]
    mask = [True, True, True, True, True, False]  # action 5 ties but is unavailable
    c = _choices(scores, mask)
    assert set(np.unique(c)) == {1, 2, 4}
    n = len(c)
    for a in (1, 2, 4):  # each 1/3; 4 standard errors
        assert abs(np.mean(c == a) - 1 / 3) < 4 * np.sqrt((1 / 3) * (2 / 3) / n)


def test_unique_maximiser_and_no_available_action():
    assert set(np.unique(_choices([0.1, 0.9, 0.3], [True, True, True]))) == {1}
    assert set(np.unique(_choices([0.1, 0.9, 0.3], [True, False, True]))) == {2}
    assert set(np.unique(_choices([0.1, 0.9, 0.3], [False, False, False]))) == {2}  # K - 1
    assert set(np.unique(_choices([-np.inf, -np.inf], [True, True]))) == {0, 1}


def test_matches_a_direct_reference_under_vmap_with_mixed_members():
    """Members with and without ties in one vmapped call: a unique maximiser is returned as is, and a
    tie is broken by the smallest of the uniforms drawn from ``fold_in(key, 0)`` (a numpy replay)."""
    rng = np.random.default_rng(3)
    M, K = 400, 9
    scores = rng.integers(0, 4, (M, K)).astype(np.float32)  # many ties
    scores[::3] += rng.random((M // 3 + 1, K)).astype(np.float32)[: len(scores[::3])]  # some without ties
    mask = rng.random((M, K)) < 0.8
    keys = KEYS[:M]
    got = np.asarray(jax.jit(jax.vmap(argmax_random_ties))(keys, jnp.asarray(scores), jnp.asarray(mask)))
    u = np.asarray(jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0), (K,), jnp.float32))(keys))
    for m in range(M):
        masked = np.where(mask[m], scores[m], -np.inf)
        best = np.flatnonzero(mask[m] & (masked >= masked.max()))
        if best.size == 0:
            assert got[m] == K - 1
        elif best.size == 1:
            assert got[m] == best[0]
        else:
            assert got[m] == best[np.argmin(u[m, best])]
