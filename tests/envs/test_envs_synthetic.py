"""Synthetic environments against numpy closed forms and their stated distributions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.contracts import Env, EnvStep
from envs import synthetic as S

N_KEYS = 4000  # draws for the distribution checks


def _keys(n, seed=0):
    return jax.random.split(jax.random.key(seed), n)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def lin_world():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(4, 3))
    bias = rng.normal(size=4)
    return theta, bias


def test_linear_expected_rewards_match_numpy_closed_form(lin_world):
    theta, bias = lin_world
    params = S.linear_gaussian_params(theta, bias, noise_sd=0.5)
    env = S.linear_gaussian(4, 3, params=params)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    obs, st = reset(_keys(64), env.default_params)
    actions = jnp.arange(64, dtype=jnp.int32) % 4
    out = step(_keys(64, 1), st, actions, env.default_params)
    x = np.asarray(obs.context, np.float64)
    mu = x @ theta.T + bias  # (n, K) float64 closed form
    np.testing.assert_allclose(out.expected_rewards, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.expected_reward, mu[np.arange(64), np.asarray(actions)], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.best_expected_reward, mu.max(axis=1), rtol=1e-5, atol=1e-5)
    assert out.reward.dtype == jnp.float32 and out.obs.context.shape == (64, 3)
    assert bool(jnp.all(out.obs.mask))


def test_logistic_expected_rewards_match_numpy_closed_form(lin_world):
    theta, bias = lin_world
    env = S.logistic_bernoulli(4, 3, params=S.logistic_bernoulli_params(theta, bias))
    obs, st = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(_keys(32), env.default_params)
    out = jax.jit(jax.vmap(env.step, in_axes=(0, 0, None, None)), static_argnums=2)(_keys(32, 2), st, 1, env.default_params)
    mu = _sigmoid(np.asarray(obs.context, np.float64) @ theta.T + bias)
    np.testing.assert_allclose(out.expected_rewards, mu, rtol=1e-5, atol=1e-6)
    assert set(np.unique(np.asarray(out.reward))) <= {0.0, 1.0}


def test_linear_reward_noise_has_stated_mean_and_sd():
    sd = 0.7
    env = S.linear_gaussian(3, 2, params=S.linear_gaussian_params(np.eye(3, 2), noise_sd=sd))
    _, st = jax.jit(env.reset)(jax.random.key(0), env.default_params)
    out = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))(_keys(N_KEYS), st, 2, env.default_params)
    resid = np.asarray(out.reward, np.float64) - np.asarray(out.expected_reward, np.float64)
    se_mean = sd / np.sqrt(N_KEYS)
    assert abs(resid.mean()) < 4 * se_mean
    # sd of the sample sd of a normal sample ~ sd / sqrt(2n)
    assert abs(resid.std() - sd) < 4 * sd / np.sqrt(2 * N_KEYS)


@pytest.mark.parametrize("env_fn", ["logistic", "arms"])
def test_bernoulli_rewards_have_expected_mean(env_fn):
    if env_fn == "arms":
        env = S.bernoulli_arms(probs=[0.05, 0.3, 0.8])
    else:
        env = S.logistic_bernoulli(3, 2, params=S.logistic_bernoulli_params([[1.0, 0], [0, 2.0], [-1, 1]],
                                                                            [-1.0, 0.0, 0.5]))
    _, st = jax.jit(env.reset)(jax.random.key(0), env.default_params)
    for a in range(3):
        out = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))(_keys(N_KEYS, a), st, a, env.default_params)
        p = np.asarray(out.expected_reward, np.float64)
        r = np.asarray(out.reward, np.float64)
        se = np.sqrt(np.mean(p * (1 - p)) / N_KEYS)
        assert abs(r.mean() - p.mean()) < 4 * se + 1e-12


def test_bernoulli_arms_context_is_constant_one():
    env = S.bernoulli_arms(probs=[0.2, 0.6])
    obs, st = jax.jit(env.reset)(jax.random.key(3), env.default_params)
    assert env.context_dim == 1 and obs.context.shape == (1,) and float(obs.context[0]) == 1.0
    out = jax.jit(env.step)(jax.random.key(4), st, jnp.int32(0), env.default_params)
    assert float(out.obs.context[0]) == 1.0
    np.testing.assert_allclose(out.expected_rewards, [0.2, 0.6], rtol=1e-7)
    assert float(out.best_expected_reward) == pytest.approx(0.6)


def test_sphere_contexts_have_unit_norm_and_gaussian_contexts_covariance_identity_over_d():
    d = 5
    xs = jax.jit(jax.vmap(lambda k: S.sample_context(k, d, "sphere")))(_keys(N_KEYS))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(xs, np.float64), axis=1), 1.0, atol=1e-5)
    # uniform on the sphere: E x = 0, E x x^T = I / d
    g = np.asarray(jax.jit(jax.vmap(lambda k: S.sample_context(k, d, "gaussian")))(_keys(N_KEYS, 1)), np.float64)
    for arr in (np.asarray(xs, np.float64), g):
        cov = arr.T @ arr / N_KEYS
        # entries of the sample second moment: sd <= sqrt(E x_i^4 / n) <= sqrt(3/d^2/n)
        tol = 5 * np.sqrt(3.0 / d**2 / N_KEYS)
        np.testing.assert_allclose(cov, np.eye(d) / d, atol=tol)
        assert np.all(np.abs(arr.mean(0)) < 5 * np.sqrt(1.0 / d / N_KEYS))


def test_next_context_and_noise_do_not_depend_on_the_action():
    """Common random numbers at the env level: for a fixed key, the next observation is the same
    whatever the action, and each action's reward is the same function of the key."""
    env = S.linear_gaussian(4, 3, noise_sd=1.0)
    _, st = jax.jit(env.reset)(jax.random.key(0), env.default_params)
    step = jax.jit(env.step)
    outs = [step(jax.random.key(9), st, jnp.int32(a), env.default_params) for a in range(4)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o.obs.context, outs[0].obs.context)
        np.testing.assert_array_equal(o.expected_rewards, outs[0].expected_rewards)
    rewards = np.array([float(o.reward) for o in outs])
    assert len(set(rewards)) == 4  # distinct per-action noise
    again = step(jax.random.key(9), st, jnp.int32(2), env.default_params)
    assert float(again.reward) == rewards[2]


def test_random_world_from_key_and_from_arrays():
    k = jax.random.key(5)
    p1 = S.sample_linear_gaussian_params(k, 6, 4, noise_sd=0.2)
    p2 = S.sample_linear_gaussian_params(k, 6, 4, noise_sd=0.2)
    np.testing.assert_array_equal(p1.theta, p2.theta)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(p1.theta), axis=1), 1.0, atol=1e-6)
    env64 = S.linear_gaussian(6, 4)
    worlds = jax.jit(jax.vmap(lambda kk: S.sample_params(env64, kk)))(_keys(3))
    assert worlds.theta.shape == (3, 6, 4)
    assert not np.allclose(worlds.theta[0], worlds.theta[1])
    env = S.linear_gaussian(6, 4, params=p1)
    np.testing.assert_array_equal(env.default_params.theta, p1.theta)
    lb = S.sample_logistic_bernoulli_params(k, 3, 2, scale=2.0, base_rate=0.2)
    np.testing.assert_allclose(lb.bias, np.log(0.2 / 0.8), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(lb.theta), axis=1), 2.0, rtol=1e-5)
    assert S.bernoulli_arms(7, seed=1).default_params.probs.shape == (7,)
    assert isinstance(S.bernoulli_arms(3), Env)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: S.linear_gaussian(0, 3), "num_actions: expected an integer >= 1, got 0"),
        (lambda: S.linear_gaussian(3, 0), "context_dim: expected an integer >= 1, got 0"),
        (lambda: S.logistic_bernoulli(2.5, 3), "num_actions"),
        (lambda: S.bernoulli_arms(-1), "num_actions"),
        (lambda: S.linear_gaussian(3, 2, noise_sd=-1.0), "noise_sd: expected a finite number >= 0"),
        (lambda: S.linear_gaussian(3, 2, context_dist="cube"), "context_dist: expected one of"),
        (lambda: S.linear_gaussian_params(np.ones(3)), r"theta: expected shape \(num_actions >= 1"),
        (lambda: S.linear_gaussian_params(np.ones((2, 3)), bias=np.ones(3)), r"bias: expected shape \(2,\)"),
        (lambda: S.linear_gaussian(3, 2, params=S.linear_gaussian_params(np.ones((2, 2)))), "params.theta"),
        (lambda: S.bernoulli_arms(probs=[0.5, 1.5]), r"probs: expected values in \[0, 1\]"),
        (lambda: S.bernoulli_arms(3, probs=[0.5, 0.5]), "num_actions: expected 2"),
        (lambda: S.logistic_bernoulli(2, 2, base_rate=1.0), "base_rate"),
        (lambda: S.linear_gaussian(2, 2, dtype=jnp.int32), "dtype: expected a floating dtype"),
        (lambda: S.linear_gaussian_params([[np.nan]]), "theta: expected finite values"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_float64_leg_matches_closed_form(lin_world):
    theta, bias = lin_world
    with jax.enable_x64(True):
        env = S.linear_gaussian(4, 3, params=S.linear_gaussian_params(theta, bias, 0.1, dtype=jnp.float64),
                                dtype=jnp.float64)
        obs, st = jax.jit(env.reset)(jax.random.key(1), env.default_params)
        out: EnvStep = jax.jit(env.step)(jax.random.key(2), st, jnp.int32(3), env.default_params)
        assert out.reward.dtype == jnp.float64 and obs.context.dtype == jnp.float64
        np.testing.assert_allclose(out.expected_rewards, np.asarray(obs.context) @ theta.T + bias, rtol=1e-13)
    with pytest.raises(ValueError, match="float64 requested but jax_enable_x64 is off"):
        S.linear_gaussian(2, 2, dtype=jnp.float64)


@pytest.mark.parametrize("make_env", [
    lambda: S.linear_gaussian(5, 4, noise_sd=0.7),
    lambda: S.linear_gaussian(5, 4, context_dist="gaussian"),
    lambda: S.logistic_bernoulli(5, 4),
    lambda: S.bernoulli_arms(5),
], ids=["linear", "linear-gaussian-ctx", "logistic", "bernoulli-arms"])
def test_step_equals_step_drawn_of_draw_bit_for_bit(make_env):
    """The split step (exogenous draws, then the state/action-dependent rest) is the same function:
    the rollout draws blocks of rounds at once and must reproduce round-by-round stepping exactly."""
    env = make_env()
    assert env.draw is not None and env.step_drawn is not None
    p = env.default_params
    keys = jax.random.split(jax.random.key(11), 256)
    acts = jnp.asarray(np.random.default_rng(0).integers(0, env.num_actions, 256), jnp.int32)
    _, st0 = env.reset(jax.random.key(3), p)

    def both(k, a):
        return env.step(k, st0, a, p), env.step_drawn(env.draw(k, p), st0, a, p)

    jboth = jax.jit(both)
    one_by_one = [jboth(k, a) for k, a in zip(keys[:4], acts[:4], strict=True)]
    batched = jax.jit(jax.vmap(both))(keys, acts)
    for direct, split in [*one_by_one, batched]:
        for x, y in zip(jax.tree.leaves(direct), jax.tree.leaves(split), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # and the draws do not depend on the state or the action: one draw serves every action
    d0 = env.draw(keys[0], p)
    r = jnp.stack([env.step(keys[0], st0, jnp.int32(a), p).reward for a in range(env.num_actions)])
    r_split = jnp.stack([env.step_drawn(d0, st0, jnp.int32(a), p).reward for a in range(env.num_actions)])
    np.testing.assert_array_equal(np.asarray(r), np.asarray(r_split))
