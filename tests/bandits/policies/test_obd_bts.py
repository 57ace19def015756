"""Slate Bernoulli TS (``bts``): sampler, slot probabilities vs exact integrals, policy protocol,
and obp's published OBD figure (IPW of BTS with the site prior on uniform-random logs = 1.198)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from bandits.datasets import load_obd
from bandits.datasets.obd import obd_site_prior
from bandits.policies import make
from bandits.policies.bts import bts_action_dist, compute_batch_action_dist, gamma_sample

ALPHA = np.array([2.0, 5.0, 3.0, 1.5, 0.7])
BETA = np.array([8.0, 6.0, 9.0, 3.0, 2.0])


@functools.lru_cache(maxsize=8)
def _exact(alpha, beta, L, mask):
    return exact_slot_probs(np.array(alpha), np.array(beta), L, None if mask is None else np.array(mask))


def exact_slot_probs(alpha, beta, L, mask=None):
    """P(item a ranked in slot k) for independent Beta draws, by numerical integration (float64).

    slot 0: int f_a prod_{b != a} F_b;  slot 1: sum_{c != a} int f_a (1 - F_c) prod_{b != a, c} F_b.
    """
    K = len(alpha)
    idx = [i for i in range(K) if mask is None or mask[i]]
    out = np.zeros((K, L))
    F = [stats.beta(alpha[i], beta[i]) for i in range(K)]
    for a in idx:
        others = [b for b in idx if b != a]
        out[a, 0] = integrate.quad(lambda x, a=a, others=others: F[a].pdf(x) * np.prod([F[b].cdf(x) for b in others]), 0, 1,
                                   epsabs=1e-12, limit=200)[0]
        if L > 1:
            out[a, 1] = sum(
                integrate.quad(lambda x, a=a, c=c, others=others: F[a].pdf(x) * F[c].sf(x)
                               * np.prod([F[b].cdf(x) for b in others if b != c]), 0, 1, epsabs=1e-12, limit=200)[0]
                for c in others
            )
    return out


def test_gamma_sampler_matches_gamma_distribution():
    n = 20_000
    shapes = np.array([0.3, 1.0, 2.5, 1013.0, 222255.0])  # boost path, edge, small, OBD prior range
    draws = jax.jit(lambda k, a: gamma_sample(k, a, (n, 5)))(jax.random.key(7), jnp.asarray(shapes, jnp.float32))
    x = np.asarray(draws, np.float64)
    for j, a in enumerate(shapes):
        # Kolmogorov-Smirnov at level 1e-3 (critical value ~ 1.95 / sqrt(n)); mean a with SE sqrt(a / n)
        d = stats.kstest(x[:, j], stats.gamma(a).cdf).statistic
        assert d < 1.95 / np.sqrt(n), (a, d)
        assert abs(x[:, j].mean() - a) < 4 * np.sqrt(a / n), a


def test_batched_action_dist_matches_exact_integrals():
    n_sim = 20_000
    mask = np.array([True, True, True, False, True])
    exact = _exact(tuple(ALPHA), tuple(BETA), 2, tuple(mask))
    # n_sim not a multiple of chunk_size exercises the partial last chunk
    est = bts_action_dist(jax.random.key(0), ALPHA, BETA, 2, n_sim=n_sim, mask=mask, chunk_size=7_000)
    assert est.shape == (5, 2) and est.dtype == np.float64
    np.testing.assert_allclose(est.sum(0), 1.0, rtol=1e-12)
    assert np.all(est[3] == 0.0)
    se = np.sqrt(exact * (1 - exact) / n_sim)
    assert np.all(np.abs(est - exact) <= 4.5 * se + 1e-12), (est, exact)
    full = compute_batch_action_dist(jax.random.key(0), ALPHA, BETA, 2, n_sim=n_sim, n_rounds=7, mask=mask,
                                     chunk_size=7_000)
    assert full.shape == (7, 5, 2)
    np.testing.assert_array_equal(full[6], est)  # same key -> same draws
    with pytest.raises(ValueError, match="len_list"):
        bts_action_dist(jax.random.key(0), ALPHA, BETA, 6)
    with pytest.raises(ValueError, match="mask"):
        bts_action_dist(jax.random.key(0), ALPHA, BETA, 2, mask=np.array([True] + [False] * 4))


@pytest.fixture(scope="module")
def slate_policy():
    pol = make("bts", num_actions=5, context_dim=2, len_list=2, alpha=ALPHA, beta=BETA, n_mc=2000)
    traces = []

    def _select(key, state, ctx, mask, hp):
        traces.append(1)
        return pol.select(key, state, ctx, mask, hp)

    return pol, jax.jit(pol.init), jax.jit(_select), jax.jit(pol.update), traces


def test_slate_policy_protocol_probs_and_update(slate_policy):
    pol, init, select, update, traces = slate_policy
    hp = pol.hparams()
    state = init(jax.random.key(0), hp)
    np.testing.assert_allclose(state.alpha, ALPHA, rtol=1e-6)
    mask = jnp.array([True, True, True, False, True])
    dec = select(jax.random.key(1), state, jnp.zeros(2), mask, hp)
    assert dec.action.shape == (2,) and dec.action.dtype == jnp.int32 and dec.probs.shape == (5, 2)
    assert len(set(np.asarray(dec.action).tolist())) == 2 and 3 not in np.asarray(dec.action)
    np.testing.assert_allclose(np.asarray(dec.probs).sum(0), 1.0, rtol=1e-6)
    assert np.all(np.asarray(dec.probs)[3] == 0)
    exact = _exact(tuple(ALPHA), tuple(BETA), 2, tuple(np.asarray(mask).tolist()))
    assert np.all(np.abs(np.asarray(dec.probs) - exact) <= 4.5 * np.sqrt(exact * (1 - exact) / 2000) + 1e-6)
    # a new prior_scale is a traced value: no retrace
    n = len(traces)
    select(jax.random.key(2), init(jax.random.key(0), hp._replace(prior_scale=0.5)), jnp.zeros(2), mask,
           hp._replace(prior_scale=0.5))
    assert len(traces) == n
    # posterior update: alpha += reward, beta += 1 - reward on the shown items only
    new = update(state, jnp.zeros(2), jnp.array([4, 1], jnp.int32), jnp.array([1.0, 0.0]), hp)
    np.testing.assert_allclose(new.alpha, ALPHA + np.array([0, 0, 0, 0, 1]), rtol=1e-6)
    np.testing.assert_allclose(new.beta, BETA + np.array([0, 1, 0, 0, 0]), rtol=1e-6)
    assert int(new.t) == 1


@pytest.mark.parametrize("x64", [False, True])
def test_single_slot_protocol_and_float64_leg(x64):
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        pol = make("bts", num_actions=5, context_dim=3, dtype=dtype, alpha=ALPHA, beta=BETA, n_mc=2000)
        hp = pol.hparams(prior_scale=2.0)
        st = pol.init(jax.random.key(0), hp)
        assert st.alpha.dtype == dtype
        np.testing.assert_allclose(st.beta, 2 * BETA, rtol=1e-6)
        dec = jax.jit(pol.select)(jax.random.key(3), st, jnp.zeros(3), jnp.ones(5, bool), hp)
        assert dec.action.shape == () and dec.probs.shape == (5,) and dec.probs.dtype == dtype
        exact = _exact(tuple(2 * ALPHA), tuple(2 * BETA), 1, None)[:, 0]
        assert np.all(np.abs(np.asarray(dec.probs) - exact) <= 4.5 * np.sqrt(exact * (1 - exact) / 2000) + 1e-9)
        st2 = pol.update(st, jnp.zeros(3), jnp.int32(2), dtype(1.0), hp)
        assert float(st2.alpha[2]) == pytest.approx(2 * ALPHA[2] + 1)


def test_site_prior_and_bad_arguments():
    for campaign, k in (("all", 80), ("men", 34), ("women", 46)):
        a, b = obd_site_prior(campaign)
        assert a.shape == b.shape == (k,) and np.all(a > 0) and np.all(b > 0)
    a, b = obd_site_prior("all")
    assert (a[0], b[0], a[7]) == (47.0, 12198.0, 857.0)  # obp's prior_bts.yaml, first entries
    with pytest.raises(ValueError, match="campaign"):
        obd_site_prior("kids")
    with pytest.raises(ValueError, match="num_actions.*34"):
        make("bts", num_actions=34, campaign="all")
    with pytest.raises(ValueError, match="alpha.*shape"):
        make("bts", num_actions=4, alpha=np.ones(3))
    with pytest.raises(ValueError, match="beta.*> 0"):
        make("bts", num_actions=3, beta=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="len_list"):
        make("bts", num_actions=3, len_list=4)


@pytest.mark.slow
def test_reproduces_obp_published_ipw_of_bts_on_random_logs():
    """obp's README: BernoulliTS(is_zozotown_prior=True, campaign="all") evaluated by IPW on the
    uniform-random logs of campaign "all" with 100,000 simulated draws; estimate / mean click =
    1.1981263. Position-aware IPW: mean(r_i * pi(a_i, pos_i) / pscore_i)."""
    data = load_obd("random", "all")
    alpha, beta = obd_site_prior("all")
    n_sim = 100_000
    pi = bts_action_dist(jax.random.key(12345), alpha, beta, 3, n_sim=n_sim)
    w = data.reward / data.pscore / data.n_rounds
    ratio = float(np.sum(w * pi[data.action, data.position])) / data.reward.mean()
    # Monte Carlo error of the estimate: it is the mean over draws s of g_s = sum_k w_k(slate_s[k])
    # with w_k(a) = sum of w over rows shown a in slot k. Var(g) <= (sum_k sd_k)^2 (Cauchy-Schwarz),
    # sd_k^2 = sum_a pi[a,k] w_k(a)^2 - (sum_a pi[a,k] w_k(a))^2, all from the marginals.
    sd = 0.0
    for k in range(3):
        on = data.position == k
        wk = np.bincount(data.action[on], weights=w[on], minlength=data.n_actions)
        sd += np.sqrt(max(pi[:, k] @ wk**2 - (pi[:, k] @ wk) ** 2, 0.0))
    se = sd / np.sqrt(n_sim) / data.reward.mean()
    # obp's number carries its own Monte Carlo error of the same size: difference sd <= sqrt(2) se
    assert abs(ratio - 1.1981263) <= 3 * np.sqrt(2) * se, (ratio, se)
    assert se < 0.01  # the check is informative: a uniform policy would give 1.0
