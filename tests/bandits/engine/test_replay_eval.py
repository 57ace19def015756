"""Replay (bandits/engine/replay.py, bandits/estimators/replay.py): truth within SE, exact streaming semantics, clear errors.

References: the true value of a fixed policy from a float64 numpy Monte Carlo over fresh contexts
(the env's closed-form click probabilities), online rollouts of a learner, and a numpy loop of the
replay algorithm for a deterministic learner.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs, split_ties_argmax
from bandits.engine.replay import replay_evaluate
from bandits.engine.rollout import rollout, to_logged_data
from bandits.estimators.replay import replay_estimator
from bandits.policies import make
from envs.synthetic import logistic_bernoulli

K, D, N = 5, 3, 20_000


class NoHP(NamedTuple):
    pass


class SoftmaxHP(NamedTuple):
    beta: float = 3.0


W = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.5, 0.0], [0.3, -0.3, 0.8]])


def fixed_softmax_policy() -> Policy:
    """A fixed (non-learning) randomised policy: probs = softmax(beta * W x) over available actions."""
    w = jnp.asarray(W, jnp.float32)

    def init(key, hp):
        return jnp.zeros((), jnp.int32)

    def select(key, state, x, mask, hp):
        s = jnp.where(mask, hp.beta * (w @ x), -jnp.inf)
        p = jax.nn.softmax(s)
        return Decision(sample_from_probs(key, p), p)

    def update(state, x, a, r, hp):
        return state

    return Policy("fixed_softmax", K, D, SoftmaxHP(), init, select, update)


def greedy_means_policy() -> Policy:
    """Deterministic learner: optimistic running means (1 + sum) / (1 + count), first maximiser."""

    def init(key, hp):
        return (jnp.zeros((K,), jnp.float32), jnp.zeros((K,), jnp.float32))

    def select(key, state, x, mask, hp):
        s, c = state
        a, p = split_ties_argmax((1 + s) / (1 + c), mask)
        return Decision(a, p)

    def update(state, x, a, r, hp):
        s, c = state
        return (s.at[a].add(r), c.at[a].add(1.0))

    return Policy("greedy_means", K, 1, NoHP(), init, select, update)


@pytest.fixture(scope="module")
def world():
    env = logistic_bernoulli(K, D, scale=2.0, base_rate=0.2, seed=4)
    tr = rollout(env, make("random", num_actions=K, context_dim=D), jax.random.key(0), horizon=N, log=True)
    data = to_logged_data(tr)
    return env, data


def true_value_fixed_softmax(env, beta=3.0, n=400_000, seed=0):
    """float64 Monte Carlo over fresh sphere contexts of sum_a pi(a|x) mu(x, a); returns (value, se)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, D))
    x = z / np.linalg.norm(z, axis=1, keepdims=True)
    th = np.asarray(env.default_params.theta, np.float64)
    b = np.asarray(env.default_params.bias, np.float64)
    mu = 1 / (1 + np.exp(-(x @ th.T + b)))
    s = beta * x @ W.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    v = (p * mu).sum(axis=1)
    return float(v.mean()), float(v.std() / np.sqrt(n))


def test_replay_of_fixed_policy_agrees_with_true_value(world):
    env, data = world
    assert data.pscore.min() == pytest.approx(1 / K, rel=1e-6) and data.pscore.max() == pytest.approx(1 / K, rel=1e-6)
    truth, truth_se = true_value_fixed_softmax(env)
    res = replay_evaluate(fixed_softmax_policy(), data, key=1)
    assert res.n_rounds == N and res.matched.shape == (N,)
    # matches: Binomial(N, 1/K) for any policy under a uniform logger
    assert abs(res.n_matched - N / K) < 4 * np.sqrt(N * (1 / K) * (1 - 1 / K))
    np.testing.assert_array_equal(res.matched, res.chosen == data.action)
    assert abs(res.value - truth) < 3.5 * np.hypot(res.se, truth_se), (res.value, truth, res.se)
    # the classic estimator on the policy's action distribution
    x = data.context
    s = 3.0 * x @ W.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    est = replay_estimator(data, p[:, :, None])
    assert est.n_effective == pytest.approx(N / K, rel=0.05)
    assert abs(est.value - truth) < 3.5 * np.hypot(est.se, truth_se), (est.value, truth, est.se)
    assert est.se < res.se  # Rao-Blackwellised: uses every row with weight pi(a_i | x_i)


def test_replay_streams_like_a_numpy_loop(world):
    """Exact semantics: the policy sees every row, learns only from matched rows, in order."""
    _, data = world
    n = 3000
    sub = data.subset(np.arange(n))
    res = replay_evaluate(greedy_means_policy(), sub, key=0)
    s = np.zeros(K, np.float32)
    c = np.zeros(K, np.float32)
    matched = np.zeros(n, bool)
    for i in range(n):
        mean = (np.float32(1) + s) / (np.float32(1) + c)
        a = int(np.argmax(mean == mean.max()))
        if a == sub.action[i]:
            matched[i] = True
            s[a] += np.float32(sub.reward[i])
            c[a] += 1
    np.testing.assert_array_equal(res.matched, matched)
    assert res.n_matched == matched.sum()
    assert res.value == pytest.approx(sub.reward[matched].mean(), rel=1e-12)


def test_replay_of_learner_matches_its_online_run(world):
    """Li et al.: replaying a learner over N uniform rows ~ running it online for about N/K rounds."""
    env, data = world
    pol = make("linucb", num_actions=K, context_dim=D)
    res = replay_evaluate(pol, data, key=3)
    horizon = N // K
    online = np.array(
        [float(np.mean(rollout(env, pol, jax.random.key(100 + s), horizon=horizon).reward)) for s in range(6)]
    )
    se_online = online.std(ddof=1) / np.sqrt(online.size)
    assert abs(res.value - online.mean()) < 4 * np.hypot(res.se, se_online), (res.value, online)


def test_replay_errors(world):
    _, data = world
    pol = fixed_softmax_policy()
    ps = data.pscore.copy()
    ps[7] = 0.5
    with pytest.raises(ValueError, match=r"data.pscore: replay needs a uniformly random logger.*first row 7"):
        replay_evaluate(pol, data.replace(pscore=ps))
    with pytest.raises(ValueError, match=r"data.pscore"):
        replay_estimator(data.replace(pscore=ps), np.full((N, K, 1), 1 / K))
    with pytest.raises(ValueError, match="len_list=3"):
        replay_evaluate(make("slate_linucb", num_actions=K, context_dim=D), data)
    with pytest.raises(ValueError, match="num_actions=4 does not match data.n_actions=5"):
        replay_evaluate(make("random", num_actions=4), data)
    with pytest.raises(ValueError, match="context_dim=2 does not match"):
        replay_evaluate(make("linucb", num_actions=K, context_dim=2), data)
    with pytest.raises(ValueError, match=r"action_dist: expected shape \(20000, 5, len_list\)"):
        replay_estimator(data, np.full((N, K + 1), 1 / (K + 1)))
    with pytest.raises(ValueError, match="sum to 1"):
        replay_estimator(data, np.full((N, K), 0.3))
    with pytest.raises(TypeError, match="data: expected a bandits.data.LoggedData"):
        replay_evaluate(pol, {"context": 1})


def test_replay_on_obd_sample_uniform_check():
    """The bundled OBD sample: the random logs (pscore 1/80) replay; the BTS logs are refused."""
    obd = pytest.importorskip("bandits.datasets.obd")
    rand = obd.load_obd("random", "all")
    res = replay_evaluate(make("random", num_actions=80), rand, key=0)
    n = rand.n_rounds
    assert abs(res.n_matched - n / 80) < 4 * np.sqrt(n / 80 * (1 - 1 / 80))
    assert res.value == pytest.approx(rand.reward[res.matched].mean())
    with pytest.raises(ValueError, match=r"data.pscore: replay needs a uniformly random logger, pscore == 1/n_actions = 0.0125"):
        replay_evaluate(make("random", num_actions=80), obd.load_obd("bts", "all"))
