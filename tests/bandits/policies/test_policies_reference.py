"""Core policies against independent float64 numpy references (tests/reference/numpy_policies.py).

The JAX policy plays its own actions on a fixed table of contexts, masks and rewards; the numpy
reference replays the same actions and rewards and recomputes, every round, the full probability
vector from scratch (direct solves, exact quadrature for Thompson sampling).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from bandits.policies import make
from tests.reference import numpy_policies as R

K, D, T = 5, 4, 300


def _problem(seed: int, T: int = T, K: int = K, d: int = D, bernoulli: bool = False):
    """Contexts (T,d), masks (T,K) with >= 1 available action, reward table (T,K)."""
    rng = np.random.default_rng(seed)
    ctx = rng.normal(size=(T, d))
    ctx[:, 0] = 1.0  # intercept: a realistic, worse-conditioned design
    masks = rng.random((T, K)) < 0.8
    masks[np.arange(T), rng.integers(0, K, T)] = True
    if bernoulli:
        p = rng.uniform(0.2, 0.8, K)
        rewards = (rng.random((T, K)) < p).astype(np.float64)
    else:
        theta = rng.normal(size=(K, d))
        rewards = ctx @ theta.T + 0.3 * rng.normal(size=(T, K))
    return ctx, masks, rewards


@functools.cache
def _runner(policy):
    """Jitted scan: the policy plays T rounds of a fixed table; returns (actions, probs, state)."""

    def run(key, hparams, ctx, masks, rewards):
        state = policy.init(jax.random.fold_in(key, 10**6), hparams)

        def body(st, inp):
            t, x, m, r = inp
            dec = policy.select(jax.random.fold_in(key, t), st, x, m, hparams)
            st = policy.update(st, x, dec.action, r[dec.action], hparams)
            return st, (dec.action, dec.probs)

        st, (a, p) = jax.lax.scan(body, state, (jnp.arange(ctx.shape[0]), ctx, masks, rewards))
        return a, p, st

    return jax.jit(run)


def _play(policy, hparams, ctx, masks, rewards, seed=0):
    dtype = jnp.float64 if jax.config.jax_enable_x64 and _is64(policy) else jnp.float32
    a, p, st = _runner(policy)(jax.random.key(seed), hparams, jnp.asarray(ctx, dtype), jnp.asarray(masks),
                               jnp.asarray(rewards, dtype))
    return np.asarray(a), np.asarray(p, np.float64), st


def _is64(policy):
    st = jax.eval_shape(policy.init, jax.random.key(0), policy.default_hparams)
    return any(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(st))


def _replay(ref, ctx, masks, rewards, actions):
    out = np.zeros((len(actions), masks.shape[1]))
    for t, a in enumerate(actions):
        out[t] = ref.probs(ctx[t], masks[t])
        ref.update(ctx[t], a, rewards[t, a])
    return out


def _check_deterministic(actions, probs, ref_probs, masks, atol):
    """probs match; played actions are available and among the reference's maximisers; on tie-free
    rounds (reference puts all greedy mass on one arm) the actions are identical."""
    np.testing.assert_allclose(probs, ref_probs, atol=atol, rtol=0)
    assert np.all(masks[np.arange(len(actions)), actions])
    assert np.all(ref_probs[np.arange(len(actions)), actions] > 0)
    tie_free = ref_probs.max(axis=1) > 1 - 1e-12
    np.testing.assert_array_equal(actions[tie_free], ref_probs[tie_free].argmax(axis=1))
    return tie_free


def test_linucb_matches_reference():
    ctx, masks, rewards = _problem(1)
    pol = make("linucb", num_actions=K, context_dim=D)
    hp = pol.hparams(alpha=0.7, lam=0.5)
    a, p, st = _play(pol, hp, ctx, masks, rewards)
    ref = R.LinUCBRef(K, D, alpha=0.7, lam=0.5)
    tie_free = _check_deterministic(a, p, _replay(ref, ctx, masks, rewards, a), masks, atol=1e-6)
    assert tie_free.mean() > 0.95  # only the first, symmetric rounds tie
    # state: the recursion equals the direct solves
    theta_ref = np.stack([np.linalg.solve(A, b) for A, b in zip(ref.A, ref.b, strict=True)])
    np.testing.assert_allclose(np.asarray(st.theta), theta_ref, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(np.asarray(st.cov), np.linalg.inv(ref.A), rtol=2e-4, atol=2e-5)


def test_linucb_float64_leg_matches_reference_tightly():
    ctx, masks, rewards = _problem(2)
    with jax.enable_x64(True):
        pol = make("linucb", num_actions=K, context_dim=D, dtype=jnp.float64)
        a, p, st = _play(pol, pol.hparams(alpha=1.3), ctx, masks, rewards)
        assert st.cov.dtype == jnp.float64 and p.dtype == np.float64
    ref = R.LinUCBRef(K, D, alpha=1.3)
    _check_deterministic(a, p, _replay(ref, ctx, masks, rewards, a), masks, atol=1e-12)
    np.testing.assert_allclose(np.asarray(st.cov), np.linalg.inv(ref.A), rtol=1e-10, atol=1e-12)


def test_lin_epsilon_greedy_matches_reference():
    ctx, masks, rewards = _problem(3)
    pol = make("lin_epsilon_greedy", num_actions=K, context_dim=D)
    hp = pol.hparams(epsilon=0.2, lam=2.0)
    a, p, st = _play(pol, hp, ctx, masks, rewards)
    ref = R.LinEpsilonGreedyRef(K, D, epsilon=0.2, lam=2.0)
    rp = _replay(ref, ctx, masks, rewards, a)
    np.testing.assert_allclose(p, rp, atol=1e-6, rtol=0)
    assert np.all(rp[np.arange(T), a] > 0)
    # exploration happens at the stated rate: actions off the greedy arm ~ Binomial
    greedy = rp.argmax(axis=1)
    p_off = 1 - rp[np.arange(T), greedy]
    off = (a != greedy).sum()
    assert abs(off - p_off.sum()) < 5 * np.sqrt(np.sum(p_off * (1 - p_off)))


def test_epsilon_greedy_matches_reference():
    ctx, masks, rewards = _problem(4, bernoulli=True)
    pol = make("epsilon_greedy", num_actions=K, context_dim=D)
    hp = pol.hparams(epsilon=0.15, initial_value=0.5)
    a, p, _ = _play(pol, hp, ctx, masks, rewards)
    rp = _replay(R.EpsilonGreedyRef(K, 0.15, 0.5), ctx, masks, rewards, a)
    np.testing.assert_allclose(p, rp, atol=1e-6, rtol=0)
    assert np.all(rp[np.arange(T), a] > 0)


def test_ucb1_matches_reference():
    ctx, masks, rewards = _problem(5, bernoulli=True)
    pol = make("ucb1", num_actions=K, context_dim=D)
    a, p, _ = _play(pol, pol.hparams(alpha=0.8), ctx, masks, rewards)
    rp = _replay(R.UCB1Ref(K, 0.8), ctx, masks, rewards, a)
    _check_deterministic(a, p, rp, masks, atol=1e-6)


def _ts_checks(actions, probs, ref_probs, M):
    """Statistical agreement of Monte Carlo probs (M draws per round) with exact probabilities.

    * every entry: Hoeffding, P(|p_hat - p| > eps) <= 2 exp(-2 M eps^2); eps set so that the
      chance of any false alarm over all entries is < 1e-6;
    * per arm, summed over rounds: sum (p_hat - p) has variance sum p (1 - p) / M: |z| < 5;
    * actions: sum_t (1{A_t = a} - p_t(a)) has variance sum p (1 - p): |z| < 5 for each arm.
    """
    n = probs.size
    eps = np.sqrt(np.log(2 * n / 1e-6) / (2 * M))
    assert np.max(np.abs(probs - ref_probs)) < eps
    var = np.sum(ref_probs * (1 - ref_probs), axis=0)
    ok = var > 0
    z_probs = np.sum(probs - ref_probs, axis=0)[ok] / np.sqrt(var[ok] / M)
    assert np.all(np.abs(z_probs) < 5), z_probs
    onehot = np.eye(ref_probs.shape[1])[actions]
    z_act = np.sum(onehot - ref_probs, axis=0)[ok] / np.sqrt(var[ok])
    assert np.all(np.abs(z_act) < 5), z_act
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_lints_probabilities_match_exact_quadrature():
    M = 200
    ctx, masks, rewards = _problem(6, T=200)
    pol = make("lints", num_actions=K, context_dim=D, num_samples=M)
    hp = pol.hparams(v=0.5, lam=1.0)
    a, p, _ = _play(pol, hp, ctx, masks, rewards)
    assert np.all(p[~masks] == 0)
    rp = _replay(R.LinTSRef(K, D, v=0.5, lam=1.0), ctx, masks, rewards, a)
    _ts_checks(a, p, rp, M)


def test_lints_with_zero_scale_is_greedy_on_the_ridge_mean():
    ctx, masks, rewards = _problem(7)
    pol = make("lints", num_actions=K, context_dim=D, num_samples=8)
    a, p, _ = _play(pol, pol.hparams(v=0.0), ctx, masks, rewards)
    ref = R.LinEpsilonGreedyRef(K, D, epsilon=0.0, lam=1.0)
    _check_deterministic(a, p, _replay(ref, ctx, masks, rewards, a), masks, atol=1e-6)


def test_bernoulli_ts_probabilities_match_exact_quadrature():
    M = 200
    ctx, masks, rewards = _problem(8, T=200, bernoulli=True)
    a0 = np.array([1.0, 2.0, 0.5 + 1, 3.0, 1.0])
    b0 = np.array([1.0, 1.0, 2.0, 4.0, 1.5])
    pol = make("bernoulli_ts", num_actions=K, context_dim=D, alpha0=a0, beta0=b0, num_samples=M)
    a, p, st = _play(pol, pol.default_hparams, ctx, masks, rewards)
    assert np.all(p[~masks] == 0)
    ref = R.BernoulliTSRef(a0, b0)
    rp = _replay(ref, ctx, masks, rewards, a)
    _ts_checks(a, p, rp, M)
    np.testing.assert_allclose(np.asarray(st.alpha), ref.a, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(st.beta), ref.b, rtol=1e-6)


def test_ts_single_sample_reports_the_played_action():
    """num_samples=1: probs is the one-hot of the played argmax (the exact conditional propensity).
    (The Monte Carlo estimator is shared by bernoulli_ts and lints: bandits.policies.thompson.ts_decision.)"""
    ctx, masks, rewards = _problem(9, T=50, bernoulli=True)
    pol = make("lints", num_actions=K, context_dim=D, num_samples=1)
    a, p, _ = _play(pol, pol.default_hparams, ctx, masks, rewards)
    np.testing.assert_array_equal(p, np.eye(K)[a])
