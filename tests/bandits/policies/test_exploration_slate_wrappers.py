"""Slate marginals vs 10^5 sampled slates; PBM-weighted slate updates; batched and delayed wrappers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import make
from bandits.policies.slate import topk_slot_probs
from bandits.policies.wrappers import batched, delayed

N_SLATES = 100_000


def _trained_slate_state(pol, K, d, steps=40, seed=0):
    rng = np.random.default_rng(seed)
    h = jax.tree.map(jnp.asarray, pol.default_hparams)
    s = pol.init(jax.random.key(0), h)
    upd = jax.jit(pol.update)
    for _ in range(steps):
        x = rng.normal(size=d).astype(np.float32)
        a = rng.permutation(K)[: pol.len_list].astype(np.int32)
        r = (rng.random(pol.len_list) < 0.3).astype(np.float32)
        s = upd(s, x, a, r, h)
    return s, h


@pytest.mark.parametrize("name", ["slate_linucb", "slate_epsilon_greedy", "slate_lints"])
def test_slate_marginals_match_sampled_frequencies(name):
    K, d, L = 6, 3, 3
    kw = {"n_mc": 32} if name == "slate_lints" else {}
    pol = make(name, num_actions=K, context_dim=d, len_list=L, position_weights=[1.0, 0.6, 0.3], **kw)
    s, h = _trained_slate_state(pol, K, d)
    if name == "slate_linucb":  # create an exact tie between two items so tie-splitting is exercised
        s = s._replace(cov_tri=s.cov_tri.at[4].set(s.cov_tri[1]), theta=s.theta.at[4].set(s.theta[1]))
    x = jnp.asarray([0.5, -0.3, 0.8], jnp.float32)
    mask = jnp.array([True, True, False, True, True, True])
    keys = jax.random.split(jax.random.key(7), N_SLATES)
    sel = jax.jit(jax.vmap(lambda k: pol.select(k, s, x, mask, h)))
    dec = sel(keys)
    acts = np.asarray(dec.action)  # (n, L)
    assert acts.shape == (N_SLATES, L)
    assert np.all([len(set(row)) == L for row in acts[:2000]])  # distinct items in a slate
    assert not np.any(acts == 2)  # masked item never shown
    emp = np.stack([np.bincount(acts[:, slot], minlength=K) for slot in range(L)], axis=1) / N_SLATES
    probs = np.asarray(dec.probs, np.float64)
    if name == "slate_lints":
        # MC probabilities differ per key (n_mc independent draws each); E[probs] is the exact
        # marginal, so compare the average over keys; its own MC error adds 1/n_mc to the variance
        p = probs.mean(axis=0)
        se = np.sqrt(p * (1 - p) / N_SLATES * (1 + 1 / 32))
    else:
        assert np.all(probs == probs[0][None])  # exact probabilities: identical for every key
        p = probs[0]
        se = np.sqrt(p * (1 - p) / N_SLATES)
    np.testing.assert_allclose(p.sum(axis=0), np.ones(L), atol=1e-5)
    assert np.all(p[2] == 0)
    bad = np.abs(emp - p) > 3 * se + 1e-7
    assert not bad.any(), (emp, p)
    if name == "slate_linucb":
        tied = np.nonzero((p > 0.49) & (p < 0.51))
        assert len(tied[0]) >= 2  # the tied pair shares two slots evenly


def test_topk_slot_probs_ties_closed_form():
    scores = jnp.array([3.0, 1.0, 3.0, 3.0, 0.0])
    mask = jnp.array([True, True, True, True, True])
    p = np.asarray(topk_slot_probs(scores, mask, 4))
    expect = np.zeros((5, 4))
    for a in (0, 2, 3):
        expect[a, :3] = 1 / 3
    expect[1, 3] = 1.0
    np.testing.assert_allclose(p, expect)


def test_slate_update_is_position_weighted_ridge():
    K, d, L = 4, 2, 2
    kappa = np.array([1.0, 0.5])
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        pol = make("slate_linucb", num_actions=K, context_dim=d, len_list=L, position_weights=kappa,
                   dtype=jnp.float64)
        h = jax.tree.map(jnp.asarray, pol.default_hparams)
        s = pol.init(jax.random.key(0), h)
        upd = jax.jit(pol.update)
        G = np.stack([np.eye(d)] * K)
        g = np.zeros((K, d))
        for _ in range(30):
            x = rng.normal(size=d)
            a = rng.permutation(K)[:L]
            r = rng.random(L)
            s = upd(s, jnp.asarray(x), jnp.asarray(a), jnp.asarray(r), h)
            for slot in range(L):
                G[a[slot]] += kappa[slot] ** 2 * np.outer(x, x)
                g[a[slot]] += kappa[slot] * r[slot] * x
        np.testing.assert_allclose(np.asarray(s.A), G, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(s.b), g, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- wrappers


def _counts_policy(K, dtype=jnp.float64):
    """Beta-Bernoulli TS without discount: its state is plain success / failure counts."""
    return make("discounted_ts", num_actions=K, context_dim=1, dtype=dtype, n_mc=8)


def _run(pol, h, A, R):
    s0 = pol.init(jax.random.key(1), h)

    def body(s, row):
        a, r = row
        s = pol.update(s, jnp.ones(1, jnp.float64), a, r, h)
        return s, s

    _, states = jax.jit(lambda s0, a, r: jax.lax.scan(body, s0, (a, r)))(s0, jnp.asarray(A, jnp.int32),
                                                                          jnp.asarray(R, jnp.float64))
    return states


def test_batched_refreshes_every_B_updates():
    K, T, B = 3, 50, 7
    rng = np.random.default_rng(4)
    A, R = rng.integers(0, K, T), rng.integers(0, 2, T).astype(float)
    with jax.enable_x64(True):
        pol = batched(_counts_policy(K), update_every=B)
        states = _run(pol, jax.tree.map(jnp.asarray, pol.hparams(gamma=1.0)), A, R)
        # a new B is a traced value: same compiled function, different refresh period
        states3 = _run(pol, jax.tree.map(jnp.asarray, pol.hparams(gamma=1.0, update_every=3.0)), A, R)
    for t in range(T):  # after update t (0-based), select sees the first floor((t+1)/B)*B rows
        n_seen = ((t + 1) // B) * B
        S_ref = np.bincount(A[:n_seen], weights=R[:n_seen], minlength=K)
        np.testing.assert_allclose(np.asarray(states.frozen.S[t]), S_ref)
        np.testing.assert_allclose(np.asarray(states.live.S[t]), np.bincount(A[: t + 1], weights=R[: t + 1], minlength=K))
        n3 = ((t + 1) // 3) * 3
        np.testing.assert_allclose(np.asarray(states3.frozen.S[t]), np.bincount(A[:n3], weights=R[:n3], minlength=K))


@pytest.mark.parametrize("mode", ["fixed", "uniform", "geometric"])
def test_delayed_applies_feedback_when_due(mode):
    K, T, D = 3, 60, 6
    rng = np.random.default_rng(5)
    A, R = rng.integers(0, K, T), rng.integers(0, 2, T).astype(float)
    with jax.enable_x64(True):
        pol = delayed(_counts_policy(K), max_delay=D, mode=mode, delay=4.0 if mode == "fixed" else 2.0,
                      dtype=jnp.float64)
        states = _run(pol, jax.tree.map(jnp.asarray, pol.hparams(gamma=1.0)), A, R)
    due = np.array([int(states.due[t][t % (D + 1)]) for t in range(T)])  # due round of each row
    delays = due - np.arange(T)
    assert delays.min() >= 0 and delays.max() <= D
    if mode == "fixed":
        assert np.all(delays == 4)
    for t in range(T):
        arrived = due <= t
        S_ref = np.bincount(A[arrived], weights=R[arrived], minlength=K)
        F_ref = np.bincount(A[arrived], weights=1 - R[arrived], minlength=K)
        np.testing.assert_allclose(np.asarray(states.inner.S[t]), S_ref)
        np.testing.assert_allclose(np.asarray(states.inner.F[t]), F_ref)


@pytest.mark.parametrize("mode", ["uniform", "geometric"])
def test_delayed_applies_arrivals_oldest_first_per_member_under_vmap(mode):
    """With discounting the inner updates do not commute: a round's arrivals must be applied oldest
    first. Three members under vmap (different delay draws, so different numbers of arrivals per
    round) against a float64 numpy replay of each member's own due rounds."""
    K, T, D, g = 3, 40, 4, 0.8
    rng = np.random.default_rng(6)
    A, R = rng.integers(0, K, (3, T)), rng.integers(0, 2, (3, T)).astype(float)
    with jax.enable_x64(True):
        pol = delayed(_counts_policy(K), max_delay=D, mode=mode, delay=2.0, dtype=jnp.float64)
        h = jax.tree.map(jnp.asarray, pol.hparams(gamma=g))

        def run(key, a, r):
            def body(s, row):
                s = pol.update(s, jnp.ones(1, jnp.float64), row[0], row[1], h)
                return s, s
            return jax.lax.scan(body, pol.init(key, h), (a, r))[1]

        states = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(3), 3), jnp.asarray(A, jnp.int32),
                                        jnp.asarray(R, jnp.float64))
    counts = []
    for m in range(3):
        due = np.array([int(states.due[m, t][t % (D + 1)]) for t in range(T)])
        S = np.zeros(K)
        for t in range(T):
            for row in np.flatnonzero(due == t):  # ascending generation round: oldest first
                S = g * S
                S[A[m, row]] += R[m, row]
            np.testing.assert_allclose(np.asarray(states.inner.S[m, t]), S, rtol=1e-12)
        counts.append(np.bincount(due[due < T], minlength=T)[:T])
    assert max(c.max() for c in counts) >= 2  # some rounds did apply several arrivals


def test_delay_distributions_have_the_stated_means():
    """Uniform{0..4} has mean 2; geometric with mean 2 truncated at D=30 has mean ~2 (tail mass < 1e-5)."""
    K, T, D = 2, 400, 30
    for mode, delay, mean, var in (("uniform", 4.0, 2.0, 2.0), ("geometric", 2.0, 2.0, 6.0)):
        with jax.enable_x64(True):
            pol = delayed(_counts_policy(K), max_delay=D, mode=mode, delay=delay, dtype=jnp.float64)
            states = _run(pol, jax.tree.map(jnp.asarray, pol.hparams(gamma=1.0)), np.zeros(T, int), np.zeros(T))
        ds = np.array([int(states.due[t][t % (D + 1)]) - t for t in range(T)])
        assert abs(ds.mean() - mean) < 4 * np.sqrt(var / len(ds)), (mode, ds.mean())


def test_wrappers_keep_slate_layout_and_hparams():
    pol = make("slate_lints", num_actions=5, context_dim=2, len_list=2, n_mc=16)
    for w in (batched(pol, 3), delayed(pol, max_delay=2, delay=1.0)):
        assert w.len_list == 2
        h = jax.tree.map(jnp.asarray, w.default_hparams)

        def one_round(h, w=w):
            s = w.init(jax.random.key(0), h)
            dec = w.select(jax.random.key(1), s, jnp.ones(2), jnp.ones(5, bool), h)
            return dec, w.update(s, jnp.ones(2), dec.action, jnp.ones(2), h)

        dec, _ = jax.jit(one_round)(h)
        assert dec.action.shape == (2,) and dec.probs.shape == (5, 2)
    with pytest.raises(ValueError, match="clash"):
        batched(batched(pol, 2), 3)


@pytest.mark.parametrize("name", ["slate_linucb", "slate_epsilon_greedy"])
def test_slot_marginals_match_enumeration_of_orderings(name):
    """Tiny K: every ordering of the available items enumerated. The greedy part is uniform over the
    orderings whose scores do not increase (ties in random order), the exploring part uniform over
    all orderings; the marginal of (item, slot) is the probability of the orderings putting the item
    there. ``select``'s probs must equal it (float32 round-off)."""
    import itertools

    K, d, L = 5, 2, 3
    pol = make(name, num_actions=K, context_dim=d, len_list=L)
    s, h = _trained_slate_state(pol, K, d, steps=12, seed=3)
    s = s._replace(cov_tri=s.cov_tri.at[3].set(s.cov_tri[0]), theta=s.theta.at[3].set(s.theta[0]))  # a tie
    x = jnp.asarray([0.4, -0.7], jnp.float32)
    mask = np.array([True, True, False, True, True])
    dec = jax.jit(pol.select)(jax.random.key(0), s, x, jnp.asarray(mask), h)
    theta, cov = np.asarray(s.theta, np.float64), np.asarray(s.ridge.cov, np.float64)
    xd = np.asarray(x, np.float64)
    mean = theta @ xd
    if name == "slate_linucb":
        score, eps = mean + np.sqrt(np.einsum("i,kij,j->k", xd, cov, xd)), 0.0
    else:
        score, eps = mean, float(h.epsilon)
    score = np.asarray(jnp.asarray(score, jnp.float32), np.float64)  # the policy ranks float32 scores
    score[3] = score[0]
    avail = np.nonzero(mask)[0]
    perms = list(itertools.permutations(avail))
    greedy = [p for p in perms if all(score[p[i]] >= score[p[i + 1]] for i in range(len(p) - 1))]
    exact = np.zeros((K, L))
    for p in greedy:
        for slot in range(L):
            exact[p[slot], slot] += (1 - eps) / len(greedy)
    for p in perms:
        for slot in range(L):
            exact[p[slot], slot] += eps / len(perms)
    assert len(greedy) == 2  # the tie: two orderings
    np.testing.assert_allclose(np.asarray(dec.probs, np.float64), exact, atol=2e-6)
