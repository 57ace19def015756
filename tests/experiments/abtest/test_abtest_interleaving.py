"""Team-draft interleaving: textbook reference, JAX/numpy agreement, exact design moments vs brute
force, and rehearsal power / false positives on a synthetic click model."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.abtest.interleaving import (
    design_moments,
    interleaving_test,
    members_needed,
    rehearse,
    team_draft,
    team_draft_jax,
)


def textbook_team_draft(ra, rb, L, coins):
    """Radlinski et al. (2008), Algorithm 2, written as a plain loop."""
    shown, team, na, nb = [], [], 0, 0
    for pos in range(L):
        a_turn = na < nb or (na == nb and coins[pos])
        r = ra if a_turn else rb
        item = next(x for x in r if x not in shown)
        shown.append(int(item))
        team.append(0 if a_turn else 1)
        na, nb = na + a_turn, nb + (not a_turn)
    return shown, team


def _model(seed=0, n=150, K=8, L=3, spread=0.7, level=-3.0):
    rng = np.random.default_rng(seed)
    base = rng.normal(level, spread, (n, K))
    Q = 1 / (1 + np.exp(-(base[:, :, None] + np.array([0.0, -0.3, -0.6])[:L])))
    ra = np.argsort(-base, 1)[:, :L]
    rb = np.broadcast_to(np.argsort(-base.mean(0))[:L], (n, L)).copy()
    return Q, np.full(n, 1.0 / n), ra, rb


def test_team_draft_matches_textbook_loop_and_jax():
    import jax

    rng = np.random.default_rng(1)
    n, K, L = 300, 7, 4
    ra = np.array([rng.permutation(K)[:L] for _ in range(n)])
    rb = np.array([rng.permutation(K)[:L] for _ in range(n)])
    coins = rng.random((n, L)) < 0.5
    slate, team = team_draft(ra, rb, L, coins)
    for i in range(n):
        s, t = textbook_team_draft(ra[i], rb[i], L, coins[i])
        assert slate[i].tolist() == s and team[i].tolist() == t
        assert len(set(s)) == L and abs(t.count(0) - t.count(1)) <= 1
    keys = jax.random.split(jax.random.key(0), 20)

    def one(k, a, b):  # the slate and the coins team_draft_jax flips, in one compiled call
        coins = jax.vmap(lambda p: jax.random.bernoulli(jax.random.fold_in(k, p)))(np.arange(L))
        return (*team_draft_jax(k, a, b, L), coins)

    js, jt, jcoins = jax.jit(jax.vmap(one))(keys, ra[:20], rb[:20])
    jcoins = np.asarray(jcoins)
    s2, t2 = team_draft(ra[:20], rb[:20], L, jcoins)
    np.testing.assert_array_equal(np.asarray(js), s2)
    np.testing.assert_array_equal(np.asarray(jt), t2)


def test_design_moments_match_brute_force_simulation():
    Q, w, ra, rb = _model()
    mom = design_moments(Q, w, ra, rb, sessions=4.0, activity_sigma=0.8)
    rng = np.random.default_rng(2)
    N, L = 40_000, 3
    i = rng.choice(w.size, N, p=w)
    S = rng.poisson(4.0 * np.exp(0.8 * rng.standard_normal(N) - 0.32))
    mem = np.repeat(np.arange(N), S)
    ii = i[mem]
    coins = rng.random((mem.size, L)) < 0.5
    sl, tm = team_draft(ra[ii], rb[ii], L, coins)
    c = (rng.random((mem.size, L)) < Q[ii[:, None], sl, np.arange(L)]).astype(float)
    d = np.bincount(mem, weights=np.where(tm == 0, c, -c).sum(1), minlength=N)
    assert abs(d.mean() - mom["il_mean"]) <= 4 * np.sqrt(mom["il_var"] / N)
    assert d.var() == pytest.approx(mom["il_var"], rel=0.1)
    for name, r in (("a", ra), ("b", rb)):
        cc = rng.random((mem.size, L)) < Q[ii[:, None], r[ii], np.arange(L)]
        x = np.bincount(mem, weights=cc.sum(1), minlength=N)
        assert abs(x.mean() - mom[f"ab_mean_{name}"]) <= 4 * np.sqrt(mom[f"ab_var_{name}"] / N)
        assert x.var() == pytest.approx(mom[f"ab_var_{name}"], rel=0.1)
    # ranker against itself: no preference, exactly
    same = design_moments(Q, w, ra, ra, sessions=4.0, activity_sigma=0.8)
    assert abs(same["il_mean"]) < 1e-12


def test_rehearsal_power_and_false_positives():
    # one session per member and a small difference: sizes large enough for the normal approximation
    Q, w, ra, rb = _model(seed=3, spread=0.4, level=-2.5)
    r = rehearse(Q, w, ra, rb, sessions=1.0, activity_sigma=0.0, reps=300, seed=4)
    se80 = np.sqrt(0.8 * 0.2 / 300)
    se05 = np.sqrt(0.05 * 0.95 / 300)
    assert abs(r["ab_power"] - 0.8) <= 3.5 * se80
    assert abs(r["il_power"] - 0.8) <= 3.5 * se80
    assert r["ab_fpr"] <= 0.05 + 3 * se05 and r["il_fpr"] <= 0.05 + 3 * se05
    assert r["ratio"] > 1
    need = members_needed(r["moments"])
    assert need["il_members"] == r["il_members"]


def test_interleaving_test_and_errors():
    a = np.array([2.0, 0, 1, 0, 3, 1])
    b = np.array([0.0, 0, 1, 1, 0, 0])
    r = interleaving_test(a, b)
    d = a - b
    assert (r["wins_a"], r["wins_b"], r["ties"]) == (3, 1, 2)
    assert r["delta_ab"] == pytest.approx((3 + 1) / 6 - 0.5)
    assert r["z"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(6)))
    with pytest.raises(ValueError, match="credit_b.*shape"):
        interleaving_test(a, b[:3])
    with pytest.raises(ValueError, match="credit_a.*empty"):
        interleaving_test([], [])
    with pytest.raises(ValueError, match="alpha"):
        interleaving_test(a, b, alpha=0.0)
    with pytest.raises(ValueError, match="coins"):
        team_draft(np.zeros((2, 3), int), np.zeros((2, 3), int), 3, np.ones((2, 2), bool))
