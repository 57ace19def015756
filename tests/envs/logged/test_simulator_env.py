"""MemberSimulator env against independent float64 numpy references (synthetic response model)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.logged import MemberSimulator, make_member_env, member_distribution, policy_value
from envs.logged.response import ResponseModel

K, D, L, N_CTX = 6, 3, 3, 12


def _model(calibration="platt", seed=0):
    rng = np.random.default_rng(seed)
    return ResponseModel(
        item_bias=-2.0 + 0.8 * rng.standard_normal(K), member_weights=0.7 * rng.standard_normal((D, K)),
        position_effect=np.array([0.0, -0.4, -0.9]), calibration=calibration, platt=(0.9, -0.2),
        iso_x=np.zeros(2), iso_y=np.zeros(2), base_rate=0.1, penalties={},
    )


def _contexts(seed=1):
    return np.random.default_rng(seed).standard_normal((N_CTX, D))


def _ref_q(model, x, temperature=1.0, noise=0.0, mask=None, slots=None):
    """float64 numpy loop: q[a, l] for one member (independent of the JAX code)."""
    pos = model.position_effect if slots is None else model.position_effect[slots]
    mask = np.ones(K, bool) if mask is None else mask
    q = np.zeros((K, len(pos)))
    a_, b_ = model.platt
    for l_, g in enumerate(pos):
        ell = np.array([a_ * (model.item_bias[a] + x @ model.member_weights[:, a] + g) + b_ for a in range(K)])
        c = ell[mask].mean()
        for a in range(K):
            lt = c + (ell[a] - c) / temperature
            q[a, l_] = (1 - noise) / (1 + np.exp(-lt)) + noise * model.base_rate
    return q


@pytest.fixture(scope="module")
def env():
    return make_member_env(_model(), _contexts())


@pytest.fixture(scope="module")
def jstep(env):
    return jax.jit(env.step)


def test_expected_rewards_match_numpy_reference_with_knobs(env, jstep):
    model, X = _model(), _contexts()
    sim = MemberSimulator(env=env, model=model, report=None, contexts=X)
    mask = np.array([True, True, False, True, True, True])
    params = sim.with_knobs(temperature=0.6, noise=0.15, item_mask=mask)
    for i in range(4):
        state = type(env.reset(jax.random.key(0), params)[1])(jnp.int32(i), jnp.int32(0))
        st = jstep(jax.random.key(i), state, jnp.array([0, 1, 3]), params)
        ref = _ref_q(model, X[i], temperature=0.6, noise=0.15, mask=mask)
        np.testing.assert_allclose(np.asarray(st.expected_rewards), ref, rtol=2e-5, atol=1e-7)
        np.testing.assert_allclose(float(st.expected_reward), ref[0, 0] + ref[1, 1] + ref[3, 2], rtol=2e-5)
        assert st.reward.shape == (L,) and set(np.unique(np.asarray(st.reward))) <= {0.0, 1.0}
        assert int(st.info["member"]) == i


def test_best_expected_reward_is_the_brute_force_best_slate(env, jstep):
    model, X = _model(), _contexts()
    sim = MemberSimulator(env=env, model=model, report=None, contexts=X)
    rng = np.random.default_rng(3)
    for trial in range(6):
        mask = rng.random(K) < 0.7
        mask[rng.choice(K, 3, replace=False)] = True
        params = sim.with_knobs(item_mask=mask, temperature=float(rng.choice([0.3, 1.0, 2.5])))
        i = trial % N_CTX
        state = type(env.reset(jax.random.key(0), params)[1])(jnp.int32(i), jnp.int32(0))
        st = jstep(jax.random.key(trial), state, jnp.array([0, 1, 2]), params)
        q = np.asarray(st.expected_rewards, np.float64)
        avail = np.flatnonzero(mask)
        brute = max(q[a, 0] + q[b, 1] + q[c, 2] for a, b, c in itertools.permutations(avail, 3))
        np.testing.assert_allclose(float(st.best_expected_reward), brute, rtol=1e-5)


def test_realised_clicks_match_expected_rewards(env):
    """Mean of (clicks - expected clicks) over many independent rounds is 0 within 4 SE."""
    params = env.default_params

    def play(carry, t):
        state, key = carry
        k = jax.random.fold_in(key, t)
        act = (jnp.arange(L) + t) % K
        st = env.step(k, state, act, params)
        return (st.state, key), (jnp.sum(st.reward), st.expected_reward, st.expected_reward * (L - st.expected_reward))

    obs, state = env.reset(jax.random.key(5), params)
    n = 20_000
    _, (r, e, _) = jax.jit(lambda s: jax.lax.scan(play, (s, jax.random.key(6)), jnp.arange(n)))(state)
    diff = np.asarray(r, np.float64) - np.asarray(e, np.float64)
    se = diff.std(ddof=1) / np.sqrt(n)
    assert abs(diff.mean()) < 4 * se, (diff.mean(), se)


def test_member_draws_follow_the_shifted_population():
    model, X = _model(), _contexts()
    env = make_member_env(model, X, member_weights=np.arange(1, N_CTX + 1, dtype=float))
    sim = MemberSimulator(env=env, model=model, report=None, contexts=X)
    params = sim.with_knobs(shift=0.8)
    probs = member_distribution(params)
    # independent reference: weights * exp(0.8 * standardised mean calibrated logit)
    P = np.clip(model.expected_matrix(X), 1e-9, 1 - 1e-9)
    eng = np.mean(np.log(P) - np.log1p(-P), axis=(1, 2))
    ref = np.arange(1, N_CTX + 1) * np.exp(0.8 * (eng - eng.mean()) / eng.std())
    np.testing.assert_allclose(probs, ref / ref.sum(), rtol=1e-5)
    n = 40_000
    keys = jax.random.split(jax.random.key(7), n)
    members = np.asarray(jax.jit(jax.vmap(lambda k: env.reset(k, params)[1].member))(keys))
    freq = np.bincount(members, minlength=N_CTX) / n
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 4.5 * se), (freq, probs)


def test_temperature_and_noise_semantics(env):
    model, X = _model(), _contexts()
    sim = MemberSimulator(env=env, model=model, report=None, contexts=X)
    from envs.logged import expected_reward_matrix

    spreads = []
    for tau in (0.5, 1.0, 4.0, 1e6):
        Q = np.asarray(expected_reward_matrix(env, sim.with_knobs(temperature=tau)), np.float64)
        spreads.append(Q.std(axis=1).mean())
        # the member's mean calibrated logit over items is unchanged by the temperature
        ell = np.log(Q) - np.log1p(-Q)
        Q1 = np.asarray(expected_reward_matrix(env), np.float64)
        ell1 = np.log(Q1) - np.log1p(-Q1)
        np.testing.assert_allclose(ell.mean(axis=1), ell1.mean(axis=1), rtol=1e-4, atol=1e-4)
    assert spreads[0] > spreads[1] > spreads[2] > spreads[3] and spreads[3] < 1e-5
    Qn = np.asarray(expected_reward_matrix(env, sim.with_knobs(noise=1.0)))
    np.testing.assert_allclose(Qn, model.base_rate, rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        sim.with_knobs(temperature=0.0)
    with pytest.raises(ValueError, match="noise"):
        sim.with_knobs(noise=1.5)


def test_new_knob_values_do_not_retrace(env):
    traces = []

    def f(key, state, params):
        traces.append(1)
        return env.step(key, state, jnp.array([0, 1, 2]), params).expected_reward

    jf = jax.jit(f)
    obs, state = env.reset(jax.random.key(0), env.default_params)
    sim = MemberSimulator(env=env, model=_model(), report=None, contexts=_contexts())
    for tau, noise, shift in ((1.0, 0.0, 0.0), (0.3, 0.2, 1.0), (2.0, 0.5, -1.0)):
        jf(jax.random.key(1), state, sim.with_knobs(temperature=tau, noise=noise, shift=shift)).block_until_ready()
    assert len(traces) == 1
    # and vmap over a grid of temperatures
    params = env.default_params
    grid = params._replace(temperature=jnp.array([0.5, 1.0, 2.0], jnp.float32))
    axes = params._replace(**{k: None for k in params._fields})._replace(temperature=0)
    out = jax.vmap(lambda p: env.step(jax.random.key(1), state, jnp.array([0, 1, 2]), p).expected_reward,
                   in_axes=(axes,))(grid)
    assert out.shape == (3,)


def test_single_slot_mode_uses_the_chosen_slot():
    model, X = _model(), _contexts()
    env1 = make_member_env(model, X, len_list=1, slot=2)
    assert env1.len_list == 1
    state = type(env1.reset(jax.random.key(0), env1.default_params)[1])(jnp.int32(3), jnp.int32(0))
    st = jax.jit(env1.step)(jax.random.key(2), state, jnp.int32(4), env1.default_params)
    ref = _ref_q(model, X[3], slots=[2])[:, 0]
    assert st.expected_rewards.shape == (K,) and st.reward.shape == ()
    np.testing.assert_allclose(np.asarray(st.expected_rewards), ref, rtol=2e-5)
    np.testing.assert_allclose(float(st.best_expected_reward), ref.max(), rtol=2e-5)
    np.testing.assert_allclose(float(st.expected_reward), ref[4], rtol=2e-5)


def test_policy_value_is_the_weighted_sum_over_members(env):
    model, X = _model(), _contexts()
    rng = np.random.default_rng(9)
    pi = rng.dirichlet(np.ones(K), size=(N_CTX, L)).transpose(0, 2, 1)  # (n, K, L)
    ref = 0.0
    for i in range(N_CTX):
        q = _ref_q(model, X[i])
        ref += np.sum(pi[i] * q) / L / N_CTX
    np.testing.assert_allclose(policy_value(env, pi), ref, rtol=1e-5)
    uni = np.full((K, L), 1.0 / K)
    np.testing.assert_allclose(policy_value(env, uni), np.mean([_ref_q(model, x).mean() for x in X]), rtol=1e-5)
    with pytest.raises(ValueError, match="action_dist"):
        policy_value(env, np.ones((N_CTX + 1, K, L)))


def test_float64_leg():
    model, X = _model(), _contexts()
    with jax.enable_x64(True):
        env64 = make_member_env(model, X, dtype=jnp.float64)
        state = type(env64.reset(jax.random.key(0), env64.default_params)[1])(jnp.int32(2), jnp.int32(0))
        st = jax.jit(env64.step)(jax.random.key(0), state, jnp.array([5, 0, 1]), env64.default_params)
        assert st.expected_rewards.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(st.expected_rewards), _ref_q(model, X[2]), rtol=1e-12)


def test_constructor_errors_name_the_argument():
    model, X = _model(), _contexts()
    with pytest.raises(ValueError, match="contexts"):
        make_member_env(model, X[:, :2])
    with pytest.raises(ValueError, match="len_list"):
        make_member_env(model, X, len_list=2)
    with pytest.raises(ValueError, match="slot"):
        make_member_env(model, X, len_list=1, slot=3)
    with pytest.raises(ValueError, match="item_mask"):
        make_member_env(model, X, item_mask=np.array([True, True, False, False, False, False]))
    with pytest.raises(ValueError, match="member_weights"):
        make_member_env(model, X, member_weights=-np.ones(N_CTX))


def test_add_intercept_appends_a_constant_feature():
    model, X = _model(), _contexts()
    env = make_member_env(model, X, add_intercept=True)
    obs, _ = env.reset(jax.random.key(0), env.default_params)
    assert env.context_dim == D + 1 and obs.context.shape == (D + 1,) and float(obs.context[-1]) == 1.0


def test_uniform_slate_policy_marginals_are_exact():
    """The OBD random logger used by the sim-to-real check: distinct items, P(item in slot) = 1/n_avail."""
    from bandits.policies.random import uniform_slate_policy

    pol = uniform_slate_policy(K, L, D)
    mask = jnp.array([True, True, False, True, True, True])
    n = 20_000
    keys = jax.random.split(jax.random.key(11), n)
    dec = jax.jit(jax.vmap(lambda k: pol.select(k, pol.init(k, pol.default_hparams), jnp.zeros(D), mask,
                                                pol.default_hparams)))(keys)
    acts = np.asarray(dec.action)
    assert np.all([len(set(r)) == L for r in acts[:500]]) and not np.any(acts == 2)
    np.testing.assert_allclose(np.asarray(dec.probs[0]), np.where(np.asarray(mask), 0.2, 0.0)[:, None] * np.ones((1, L)))
    freq = np.stack([np.bincount(acts[:, slot], minlength=K) / n for slot in range(L)], axis=1)
    se = np.sqrt(0.2 * 0.8 / n)
    assert np.all(np.abs(freq[np.asarray(mask)] - 0.2) < 4.5 * se), freq
