"""Off-policy learners (bandits.learners): learned policies beat the logging policy in truth, are
policies like any other (probabilities, masks, greedy ties, the engine's rollout, OPE), a grid of
hyperparameters is one compile, and the float64 leg agrees with float32 and with a numpy
reference of the objective."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.data import LoggedData
from bandits.estimators import policy_action_dist
from bandits.learners import LearnerHParams, learned_policy, train_policies, train_policy
from bandits.learners import opl as O

K, D = 8, 4


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class World:
    """Logistic rewards; a logger that prefers the worse actions (softmax(-3 q))."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.theta = rng.normal(size=(D, K)) * 1.5
        self.b = rng.normal(size=K) - 0.5
        self.test_x = np.random.default_rng(seed + 100).normal(size=(20_000, D))

    def q(self, x):
        return 1.0 / (1.0 + np.exp(-(x @ self.theta + self.b)))

    def log(self, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, D))
        Q = self.q(x)
        pb = _softmax(-3.0 * Q)
        a = (pb.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
        r = rng.binomial(1, Q[np.arange(n), a]).astype(float)
        return LoggedData(context=x, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=K)

    def value(self, params, temperature=1.0):
        """Exact value on the test contexts, the policy's forward pass written in numpy."""
        p = {k: np.asarray(v, np.float64) for k, v in params.items()}
        z = (self.test_x - p["mu"]) / p["sd"]
        s = z @ p["W"] + p["b"] if "W" in p else np.tanh(z @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        if temperature == 0:
            pi = (s == s.max(axis=1, keepdims=True)).astype(float)
            pi /= pi.sum(axis=1, keepdims=True)
        else:
            pi = _softmax(s / temperature)
        return float((pi * self.q(self.test_x)).sum(axis=1).mean())

    def logging_value(self):
        Q = self.q(self.test_x)
        return float((_softmax(-3.0 * Q) * Q).sum(axis=1).mean())


@pytest.mark.parametrize("objective,model", [("ipw", "linear"), ("snipw", "linear"), ("dr", "linear"), ("dr", "mlp")])
def test_learned_policies_beat_the_logging_policy_in_truth(objective, model):
    """True value (exact expected rewards on 20,000 fresh contexts; its Monte-Carlo SE is about
    0.002) of the learned policy against the logger's and the uniform policy's."""
    w = World()
    res = train_policy(w.log(3000, seed=1), objective=objective, model=model, hidden=16, steps=200)
    v, v_greedy = w.value(res.params), w.value(res.params, temperature=0.0)
    logged = w.logging_value()
    uniform = float(w.q(w.test_x).mean())
    assert v > logged + 0.1 and v > uniform + 0.05, (v, logged, uniform)
    assert v_greedy >= v - 0.01  # the greedy form of a learned softmax is no worse, up to noise
    assert res.objective[-1] > res.objective[0]


def test_a_learned_policy_is_a_policy_like_any_other():
    from bandits.engine.rollout import rollout
    from envs.synthetic import logistic_bernoulli

    w = World()
    res = train_policy(w.log(1000, seed=2), objective="snipw", steps=50)
    pol = res.policy
    state = pol.init(jax.random.key(0), pol.default_hparams)
    x = jnp.asarray(w.test_x[0], jnp.float32)
    mask = jnp.array([True] * (K - 2) + [False] * 2)
    dec = pol.select(jax.random.key(1), state, x, mask, pol.default_hparams)
    assert dec.probs.shape == (K,) and float(dec.probs.sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(dec.probs[-2:].sum()) == 0.0 and bool(mask[int(dec.action)])
    # temperature 0: greedy, ties split evenly (all-equal scores: uniform over the available actions)
    flat = learned_policy({"W": np.zeros((D, K)), "b": np.zeros(K), "mu": np.zeros(D), "sd": np.ones(D)}, K, D)
    g = flat.select(jax.random.key(0), flat.init(None, None), x, mask, flat.hparams(temperature=0.0))
    np.testing.assert_allclose(np.asarray(g.probs), np.r_[np.full(K - 2, 1 / (K - 2)), 0, 0], rtol=1e-6)
    # vmapped select, the engine's rollout in a world of the same shape, frozen updates
    probs = jax.vmap(lambda c: pol.select(jax.random.key(0), state, c, jnp.ones(K, bool), pol.default_hparams).probs)(
        jnp.asarray(w.test_x[:16], jnp.float32))
    np.testing.assert_allclose(np.asarray(probs).sum(axis=1), 1.0, atol=1e-6)
    traj = rollout(logistic_bernoulli(num_actions=K, context_dim=D), pol, 0, horizon=200)
    assert np.isfinite(np.asarray(traj.reward)).all() and np.asarray(traj.reward).shape[0] == 200
    assert pol.update(state, x, 0, 1.0, pol.default_hparams) is state
    # OPE's action_dist is the same forward pass
    ad = policy_action_dist(pol, state, pol.default_hparams, w.test_x[:500], jax.random.key(0))
    p = {k: np.asarray(v, np.float64) for k, v in res.params.items()}
    ref = _softmax(((w.test_x[:500] - p["mu"]) / p["sd"]) @ p["W"] + p["b"])
    np.testing.assert_allclose(ad[:, :, 0], ref, rtol=1e-4, atol=1e-6)


def test_a_grid_of_hyperparameters_is_one_compile_and_matches_single_runs():
    w = World()
    data = w.log(800, seed=3)
    O._build_trainer.cache_clear()
    grid = LearnerHParams(learning_rate=np.array([0.02, 0.05, 0.1]), l2=np.array([1e-3, 1e-3, 1e-2]),
                          lambda_=np.array([np.inf, 20.0, np.inf]))
    many = train_policies(data, grid, objective="ipw", steps=60)
    assert O._build_trainer.cache_info().currsize == 1
    single = [train_policy(data, objective="ipw", steps=60, hparams=LearnerHParams(*(float(v[g]) for v in grid)))
              for g in range(3)]
    jitted = O._build_trainer("ipw", "linear", 32, 60, D, K, jnp.dtype(jnp.float32), False)
    assert jitted._cache_size() == 1  # three hyperparameter values, one compilation
    for a, b in zip(many, single, strict=True):
        np.testing.assert_allclose(np.asarray(a.params["W"]), np.asarray(b.params["W"]), rtol=1e-4, atol=1e-5)


def test_float64_leg_and_the_objective_against_numpy():
    w = World()
    data = w.log(600, seed=4)
    with jax.enable_x64(True):
        r64 = train_policy(data, objective="ipw", steps=100, dtype=jnp.float64,
                           hparams=LearnerHParams(0.05, 1e-3, 10.0))
    r32 = train_policy(data, objective="ipw", steps=100, hparams=LearnerHParams(0.05, 1e-3, 10.0))
    assert r64.params["W"].dtype == jnp.float64 and r32.params["W"].dtype == jnp.float32
    # Adam's normalised steps let float32 round-off move the weights a little; the objective agrees
    np.testing.assert_allclose(r32.objective, r64.objective, rtol=1e-3)
    # the recorded objective at step 0 is the value of the initial (uniform) policy, in numpy float64
    w0 = np.minimum((1.0 / K) / data.pscore, 10.0)
    assert r64.objective[0] == pytest.approx(np.mean(w0 * data.reward), rel=1e-12)
    # and the objective of the final parameters, recomputed in numpy, is the training's own function
    p = {k: np.asarray(v) for k, v in r64.params.items()}
    z = (data.context - p["mu"]) / p["sd"]
    pi = _softmax(z @ p["W"] + p["b"])
    wf = np.minimum(pi[np.arange(data.n_rounds), data.action] / data.pscore, 10.0)
    ref = np.mean(wf * data.reward) - 1e-3 * np.sum(p["W"] ** 2)
    assert ref >= r64.objective[-1] - 1e-9  # Adam increased it on the last step too
    assert ref > r64.objective[0] + 0.1


def test_bad_learner_input_names_the_argument():
    data = World().log(50, seed=5)
    with pytest.raises(ValueError, match=r"objective: expected one of \('ipw', 'snipw', 'dr'\), got 'poem'"):
        train_policy(data, objective="poem")
    with pytest.raises(ValueError, match=r"hparams.learning_rate: expected > 0, got 0.0"):
        train_policy(data, hparams=LearnerHParams(learning_rate=0.0))
    with pytest.raises(ValueError, match=r"estimated_rewards: expected finite values of shape \(n_rounds=50, n_actions=8\)"):
        train_policy(data, objective="dr", estimated_rewards=np.zeros((50, 3)))
    with pytest.raises(ValueError, match=r"hparams: expected fields of one length"):
        train_policies(data, LearnerHParams(np.array([0.1, 0.2]), np.array([0.0]), np.array([1.0, 2.0])))
