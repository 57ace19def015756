"""A slate round's two kernels: the batched ridge update of the shown items and the top-L draw."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import make
from bandits.policies._linalg import ridge_init, ridge_update
from bandits.policies.slate import ridge_update_slate, topk_sample


def test_batched_slate_update_equals_sequential_rank_one_steps_float64():
    """Distinct items: one gather / update / scatter gives the rows of L sequential Sherman-Morrison
    steps, and both match the explicit ridge solve (numpy float64); untouched items stay bitwise."""
    K, d, L = 7, 4, 3
    rng = np.random.default_rng(11)
    with jax.enable_x64(True):
        s_b = s_q = ridge_init(K, d, 2.0, jnp.float64)
        upd = jax.jit(ridge_update_slate)
        G = np.stack([2.0 * np.eye(d)] * K)
        g = np.zeros((K, d))
        for _ in range(25):
            xs = rng.normal(size=(L, d))
            a = rng.permutation(K)[:L]
            r = rng.random(L)
            before = np.asarray(s_b.cov_tri)
            s_b = upd(s_b, jnp.asarray(xs), jnp.asarray(a), jnp.asarray(r))
            for slot in range(L):
                s_q = ridge_update(s_q, jnp.asarray(xs[slot]), a[slot], jnp.asarray(r[slot]))
                G[a[slot]] += np.outer(xs[slot], xs[slot])
                g[a[slot]] += r[slot] * xs[slot]
            rest = np.setdiff1d(np.arange(K), a)
            assert np.array_equal(np.asarray(s_b.cov_tri)[rest], before[rest])
        np.testing.assert_allclose(np.asarray(s_b.cov_tri), np.asarray(s_q.cov_tri), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(np.asarray(s_b.theta), np.asarray(s_q.theta), rtol=1e-11, atol=1e-14)
        np.testing.assert_array_equal(np.asarray(s_b.counts), np.asarray(s_q.counts))
        np.testing.assert_allclose(np.asarray(s_b.cov), np.linalg.inv(G), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(np.asarray(s_b.theta), np.linalg.solve(G, g[..., None])[..., 0], rtol=1e-9,
                                   atol=1e-12)


def test_repeated_item_is_refused_eagerly_and_poisoned_under_jit():
    K, d, L = 5, 3, 3
    pol = make("slate_linucb", num_actions=K, context_dim=d, len_list=L)
    h = jax.tree.map(jnp.asarray, pol.default_hparams)
    s = pol.init(jax.random.key(0), h)
    x, r = jnp.ones(d), jnp.ones(L)
    with pytest.raises(ValueError, match=r"action: expected 3 distinct items.*got \[1, 4, 1\]"):
        pol.update(s, x, np.array([1, 4, 1]), r, h)
    s2 = jax.jit(pol.update)(s, x, jnp.array([1, 4, 1]), r, h)
    assert np.all(np.isnan(np.asarray(s2.cov_tri[1]))) and np.all(np.isnan(np.asarray(s2.theta[1])))
    assert np.all(np.isfinite(np.asarray(s2.cov_tri[4]))) and not np.array_equal(s2.cov_tri[4], s.cov_tri[4])
    rest = np.array([0, 2, 3])
    assert np.array_equal(np.asarray(s2.cov_tri)[rest], np.asarray(s.cov_tri)[rest])
    probs = np.asarray(jax.jit(pol.select)(jax.random.key(1), s2, x, jnp.ones(K, bool), h).probs)
    assert np.all(np.isnan(probs[1])) and np.all(np.isnan(probs.sum(axis=0)))


@pytest.mark.parametrize("K", [9, 70_000])  # tie keys with the index in the low bits; float uniforms above 2**16
def test_tied_items_come_in_uniformly_random_order(K):
    """Four items tied at the top, one just below, L = 3: each of the 4*3*2 ordered triples of the
    tied items has probability 1/24 (multinomial frequencies within 4.5 standard errors), the
    masked item never appears, and with fewer available items than slots the unavailable ones
    come last."""
    L, n = 3, 24_000 if K < 1000 else 1_200
    scores = np.zeros(K, np.float32)
    tied = np.array([1, 3, 4, 7])
    scores[tied] = 2.0
    scores[5] = 1.5
    scores[2] = 9.0  # best score but unavailable
    mask = np.ones(K, bool)
    mask[2] = False
    draw = jax.jit(lambda keys: jax.lax.map(lambda k: topk_sample(k, jnp.asarray(scores), jnp.asarray(mask), L),
                                            keys, batch_size=200))
    acts = np.asarray(draw(jax.random.split(jax.random.key(5), n)))
    assert acts.shape == (n, L) and acts.dtype == np.int32
    assert np.all(np.isin(acts, tied))
    triples = {t: i for i, t in enumerate(itertools.permutations(tied.tolist(), L))}
    freq = np.bincount([triples[tuple(row)] for row in acts.tolist()], minlength=len(triples)) / n
    p = 1 / len(triples)
    assert np.all(np.abs(freq - p) < 4.5 * np.sqrt(p * (1 - p) / n)), freq
    few = np.zeros(K, bool)
    few[[0, 6]] = True  # two available items for three slots
    out = np.asarray(jax.jit(topk_sample, static_argnums=3)(jax.random.key(2), jnp.asarray(scores),
                                                             jnp.asarray(few), L))
    assert sorted(out[:2].tolist()) == [0, 6] and out[2] not in (0, 6) and len(set(out.tolist())) == L
