"""rollout: exact regret against a numpy closed form, logged feedback, common random numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.engine.rollout import Trajectory, member_keys, rollout, seed_key, to_logged_data
from bandits.policies import make
from envs import synthetic as S

K, D, T = 4, 3, 300


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(1)
    theta, bias = rng.normal(size=(K, D)), rng.normal(scale=0.1, size=K)
    env = S.linear_gaussian(K, D, params=S.linear_gaussian_params(theta, bias, noise_sd=0.3))
    return env, theta, bias


@pytest.fixture(scope="module")
def policies():
    return {"linucb": make("linucb", num_actions=K, context_dim=D),
            "random": make("random", num_actions=K, context_dim=D)}


@pytest.fixture(scope="module")
def trajs(world, policies):
    env = world[0]
    return {n: rollout(env, p, seed_key(7), horizon=T, log=True) for n, p in policies.items()}


def test_regret_is_exact_against_numpy_closed_form(world, trajs):
    env, theta, bias = world
    for tr in trajs.values():
        x = np.asarray(tr.context, np.float64)
        mu = x @ theta.T + bias  # (T, K) float64
        a = np.asarray(tr.action)
        np.testing.assert_allclose(tr.expected_reward, mu[np.arange(T), a], atol=2e-5)
        np.testing.assert_allclose(tr.best_expected_reward, mu.max(1), atol=2e-5)
        np.testing.assert_allclose(tr.regret, mu.max(1) - mu[np.arange(T), a], atol=4e-5)
        assert np.all(np.asarray(tr.regret) >= 0)
        # realised reward = mean + noise_sd * standard normal: residuals look like N(0, 0.3^2)
        resid = np.asarray(tr.reward, np.float64) - mu[np.arange(T), a]
        assert abs(resid.mean()) < 4 * 0.3 / np.sqrt(T)


def test_logged_feedback_pscore_is_probability_of_chosen_action(trajs):
    for tr in trajs.values():
        assert tr.context.shape == (T, D) and tr.probs.shape == (T, K) and tr.pscore.shape == (T,)
        np.testing.assert_array_equal(tr.pscore, np.asarray(tr.probs)[np.arange(T), np.asarray(tr.action)])
        np.testing.assert_allclose(np.asarray(tr.probs).sum(1), 1.0, atol=1e-6)
        assert np.all(np.asarray(tr.pscore) > 0)
    np.testing.assert_allclose(trajs["random"].pscore, 1.0 / K)


def test_to_logged_data_uses_obp_vocabulary(trajs):
    ld = to_logged_data(trajs["random"])
    if isinstance(ld, dict):  # bandits.data not importable
        assert ld["n_rounds"] == T
        return
    assert ld.n_rounds == T and ld.n_actions == K and ld.len_list == 1 and ld.position is None
    assert ld.context.dtype == np.float64 and ld.action.dtype == np.int64
    np.testing.assert_array_equal(ld.action, np.asarray(trajs["random"].action))
    np.testing.assert_allclose(ld.pscore, 1.0 / K)
    with pytest.raises(ValueError, match="traj: expected a trajectory from rollout"):
        to_logged_data(Trajectory(*[jnp.zeros(3)] * 5))


def test_common_random_numbers_two_policies_meet_the_same_members(trajs):
    a, b = trajs["linucb"], trajs["random"]
    np.testing.assert_array_equal(a.context, b.context)
    np.testing.assert_array_equal(a.best_expected_reward, b.best_expected_reward)
    same = np.asarray(a.action) == np.asarray(b.action)
    assert same.sum() > 10  # the two policies agree on some rounds ...
    # ... and there they got exactly the same reward (noise drawn for every action each round)
    np.testing.assert_array_equal(np.asarray(a.reward)[same], np.asarray(b.reward)[same])
    assert not np.array_equal(np.asarray(a.reward)[~same], np.asarray(b.reward)[~same])


def test_default_jax_key_gives_the_same_stream(world, policies, trajs):
    """``rollout(seed)`` uses the fused threefry impl: the same random bits as ``jax.random.key``."""
    t2 = rollout(world[0], policies["random"], jax.random.key(7), horizon=T, log=True)
    t1 = trajs["random"]
    np.testing.assert_array_equal(t1.action, t2.action)
    # same random bits; the float transforms of them may fuse differently (1 ulp)
    np.testing.assert_allclose(t1.context, t2.context, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t1.reward, t2.reward, rtol=1e-6, atol=1e-6)


def test_member_keys_are_distinct_streams():
    ks = member_keys(seed_key(0))
    data = np.stack([np.asarray(jax.random.key_data(k)) for k in ks])
    assert len({tuple(r) for r in data}) == 5


def test_linucb_learns_on_the_linear_world(world, policies, trajs):
    # the second half of the run has much lower regret than uniform random (per-round SE based)
    lin, rnd = np.asarray(trajs["linucb"].regret[T // 2:]), np.asarray(trajs["random"].regret[T // 2:])
    se = np.sqrt(lin.var() / lin.size + rnd.var() / rnd.size)
    assert rnd.mean() - lin.mean() > 4 * se


def test_random_world_per_member_from_callable(world, policies):
    env = world[0]
    fn = lambda k: S.sample_params(env, k)  # noqa: E731
    tr = rollout(env, policies["random"], 3, env_params=fn, horizon=50, log=True)
    keys = member_keys(seed_key(3))
    p = S.sample_params(env, keys.env_params)
    mu = np.asarray(tr.context, np.float64) @ np.asarray(p.theta, np.float64).T
    np.testing.assert_allclose(tr.best_expected_reward, mu.max(1), atol=2e-5)


def test_bernoulli_arms_rollout_exact_regret():
    env = S.bernoulli_arms(probs=[0.1, 0.5, 0.7])
    tr = rollout(env, make("random", num_actions=3), 0, horizon=200)
    np.testing.assert_allclose(tr.regret, 0.7 - np.array([0.1, 0.5, 0.7])[np.asarray(tr.action)], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(horizon=0), ValueError, "horizon: expected an integer >= 1, got 0"),
        (dict(policy_k=5), ValueError, "policy: num_actions=5 does not match env"),
        (dict(policy_d=7), ValueError, "policy: context_dim=7 does not match env"),
        (dict(hparams={"alpha": -1.0}), ValueError, "hparams.alpha"),
        (dict(hparams={"beta": 1.0}), TypeError, "unknown hyperparameter"),
        (dict(hparams=(1.0, 2.0)), TypeError, "hparams: expected LinUCBHParams"),
    ],
)
def test_bad_input_raises_clear_errors(world, kwargs, exc, match):
    env = world[0]
    k = kwargs.pop("policy_k", K)
    d = kwargs.pop("policy_d", D)
    pol = make("linucb", num_actions=k, context_dim=d)
    with pytest.raises(exc, match=match):
        rollout(env, pol, 0, **{"horizon": 10, **kwargs})
    with pytest.raises(TypeError, match="env: expected an bandits.contracts.Env"):
        rollout("env", pol, 0, horizon=10)


def test_float64_leg_exact_regret_and_learning(world):
    """float64 env + policy: regret equals the float64 closed form to round-off, LinUCB learns.
    (float64 draws use 64-bit random words, so the members differ from the float32 run's.)"""
    _, theta, bias = world
    with jax.enable_x64(True):
        env64 = S.linear_gaussian(K, D, params=S.linear_gaussian_params(theta, bias, 0.3, dtype=jnp.float64),
                                  dtype=jnp.float64)
        pol64 = make("linucb", num_actions=K, context_dim=D, dtype=jnp.float64)
        tr = rollout(env64, pol64, 11, horizon=T, log=True)
        assert tr.reward.dtype == jnp.float64 and tr.probs.dtype == jnp.float64
        x = np.asarray(tr.context)
        a = np.asarray(tr.action)
        mu = x @ theta.T + bias
        np.testing.assert_allclose(tr.regret, mu.max(1) - mu[np.arange(T), a], rtol=0, atol=1e-12)
        late = np.asarray(tr.regret[T // 2:])
        gaps = mu.max(1, keepdims=True) - mu  # uniform random's expected regret per round
        rnd = gaps.mean(1)[T // 2:]
        assert rnd.mean() - late.mean() > 4 * np.sqrt(late.var() / late.size + rnd.var() / rnd.size)


@pytest.mark.slow
def test_results_do_not_depend_on_the_block_of_precomputed_rounds(world):
    """Keys and exogenous draws are computed ``block`` rounds at a time; block sizes >= 2 (7 leaves a
    partial block at T = 300, as does the default) give the same bits. ``block=1`` (round by round)
    lets XLA drop the one-round inner loop and fuse ``mu + sd * z`` into a multiply-add: rewards then
    agree to float32 rounding (and the actions here are the same). An environment without
    draw/step_drawn (stepped round by round) is the same world."""
    from bandits.engine.rollout import DEFAULT_BLOCK

    linear, logistic = world[0], S.logistic_bernoulli(K, D)
    no_draw = linear._replace(draw=None, step_drawn=None)
    cases = {("linear", "linucb"): (1, 7, DEFAULT_BLOCK), ("linear", "lints"): (7, DEFAULT_BLOCK),
             ("logistic", "linucb"): (7, DEFAULT_BLOCK), ("no_draw", "linucb"): (DEFAULT_BLOCK,)}
    envs = {"linear": linear, "logistic": logistic, "no_draw": no_draw}
    fields = ("reward", "expected_reward", "action", "context", "pscore", "probs")
    runs = {}
    for (env_name, name), blocks in cases.items():
        pol = make(name, num_actions=K, context_dim=D)
        for block in blocks:
            runs[env_name, name, block] = rollout(envs[env_name], pol, seed_key(5), horizon=T, log=True, block=block)
        ref = runs[env_name, name, DEFAULT_BLOCK]
        for block in blocks:
            tr = runs[env_name, name, block]
            for field in fields:
                got, want = np.asarray(getattr(tr, field)), np.asarray(getattr(ref, field))
                if block == 1 and field == "reward":
                    np.testing.assert_allclose(got, want, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(want).max())
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{env_name} {name} block={block} {field}")
    split, whole = runs["linear", "linucb", DEFAULT_BLOCK], runs["no_draw", "linucb", DEFAULT_BLOCK]
    np.testing.assert_array_equal(np.asarray(whole.context), np.asarray(split.context))
    np.testing.assert_array_equal(np.asarray(whole.action), np.asarray(split.action))
    np.testing.assert_allclose(np.asarray(whole.reward), np.asarray(split.reward), rtol=0,
                               atol=4 * np.finfo(np.float32).eps * np.abs(np.asarray(split.reward)).max())
