"""Supervised-to-bandit worlds (envs.supervised): the exact truth equals a fixed classifier's label
accuracy (scikit-learn's ``accuracy_score`` as the independent reference), a rollout of that
classifier agrees with it within its standard error, the step contract, standardisation, and the
argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from bandits.contracts import Decision, Policy
from bandits.engine.rollout import make_rollout
from envs.supervised import (
    expected_reward_table,
    policy_value,
    supervised_env,
    supervised_env_from_arrays,
)


def _classifier(env, seed=0):
    """A logistic regression fitted on a random half of the world's own contexts (so accuracy < 1)."""
    X = np.asarray(env.default_params.contexts, np.float64)
    y = np.asarray(env.default_params.labels)
    half = np.random.default_rng(seed).permutation(len(y))[: len(y) // 2]
    return LogisticRegression(C=0.05, max_iter=2000).fit(X[half], y[half])


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_truth_equals_the_label_accuracy_of_a_fixed_classifier(name, noise):
    env = supervised_env(name, noise=noise)
    clf = _classifier(env)
    X = np.asarray(env.default_params.contexts, np.float64)
    y = np.asarray(env.default_params.labels)
    pred = clf.predict(X)
    acc = accuracy_score(y, pred)
    assert 0.5 < acc < 1.0, acc  # a fixed policy that is neither trivial nor perfect
    onehot = np.eye(env.num_actions)[pred]
    value = policy_value(env.default_params, onehot)
    # reward flips with probability noise: a correct arm earns 1 - noise, a wrong one noise (the
    # noise as stored in the env dtype: float32 0.2 is 0.2 + 3e-9)
    stored = float(env.default_params.noise)
    assert abs(stored - noise) < 1e-8
    np.testing.assert_allclose(value, stored + (1 - 2 * stored) * acc, rtol=0, atol=1e-12)
    # obp's (n, K, 1) action_dist layout gives the same value
    assert policy_value(env.default_params, onehot[..., None]) == value


def _fixed_policy(clf, K, d) -> Policy:
    """The classifier as a deterministic bandit policy (plays its predicted class, never learns)."""
    W, b = jnp.asarray(clf.coef_, jnp.float32), jnp.asarray(clf.intercept_, jnp.float32)

    def select(key, state, context, mask, hparams):
        a = jnp.argmax(W @ context + b).astype(jnp.int32)
        return Decision(a, jax.nn.one_hot(a, K, dtype=jnp.float32))

    return Policy("fixed_classifier", K, d, (), lambda key, hp: jnp.zeros(()), select,
                  lambda s, x, a, r, hp: s)


def test_a_rollout_of_the_fixed_classifier_agrees_with_the_exact_value():
    noise = 0.2
    env = supervised_env("wine", noise=noise)
    clf = _classifier(env)
    value = policy_value(env.default_params, np.eye(env.num_actions)[clf.predict(np.asarray(env.default_params.contexts))])
    S, T = 64, 250
    roll = make_rollout(env, _fixed_policy(clf, env.num_actions, env.context_dim), T)
    traj = jax.jit(jax.vmap(lambda k: roll(k, (), None)))(jax.random.split(jax.random.key(0), S))
    reward = np.asarray(traj.reward, np.float64)
    assert set(np.unique(reward)) <= {0.0, 1.0}
    expected = np.asarray(traj.expected_reward, np.float64)
    assert set(np.round(np.unique(expected), 6)) <= {noise, 1 - noise}
    np.testing.assert_allclose(np.asarray(traj.best_expected_reward), 1 - noise, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(traj.regret), np.asarray(traj.best_expected_reward) - expected, atol=1e-6)
    # every round draws an example uniformly, so the per-round means are unbiased for the value;
    # members are independent: standard errors from the member means
    for x in (reward, expected):
        per_member = x.mean(axis=1)
        se = per_member.std(ddof=1) / np.sqrt(S)
        assert abs(per_member.mean() - value) < 4 * se, (per_member.mean(), value, se)


def test_step_is_step_drawn_of_draw_and_reports_exact_expected_rewards():
    env = supervised_env("iris", noise=0.1)
    p = env.default_params
    obs, state = env.reset(jax.random.key(1), p)
    np.testing.assert_array_equal(np.asarray(obs.context), np.asarray(p.contexts[state.index]))
    assert obs.mask.shape == (3,) and bool(obs.mask.all())
    for t in range(20):
        key = jax.random.key(100 + t)
        a = jnp.int32(t % 3)
        st = env.step(key, state, a, p)
        st2 = env.step_drawn(env.draw(key, p), state, a, p)
        for u, v in zip(jax.tree.leaves(st), jax.tree.leaves(st2), strict=True):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
        label = int(p.labels[state.index])
        assert int(st.info["label"]) == label
        want = np.where(np.arange(3) == label, 0.9, 0.1)
        np.testing.assert_allclose(np.asarray(st.expected_rewards), want, rtol=1e-6)
        np.testing.assert_allclose(float(st.expected_reward), want[t % 3], rtol=1e-6)
        np.testing.assert_allclose(expected_reward_table(p)[int(state.index)], want, rtol=1e-6)
        state = st.state
    assert int(state.t) == 20


def test_contexts_are_standardised_with_an_optional_intercept():
    X = np.column_stack([np.arange(10.0), 5 * np.arange(10.0) ** 2, np.full(10, 3.0)])
    y = np.array(["b", "a"] * 5)
    env = supervised_env_from_arrays(X, y, intercept=True, dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    c = np.asarray(env.default_params.contexts, np.float64)
    assert env.context_dim == 4 and env.num_actions == 2
    np.testing.assert_allclose(c[:, :2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(c[:, :2].std(axis=0), 1, atol=1e-6)
    np.testing.assert_array_equal(c[:, 2], 0)  # a constant column carries no information
    np.testing.assert_array_equal(c[:, 3], 1)  # the intercept
    np.testing.assert_array_equal(np.asarray(env.default_params.labels), [1, 0] * 5)  # sorted classes


@pytest.mark.parametrize("name, K, d, n", [("iris", 3, 4, 150), ("wine", 3, 13, 178),
                                          ("breast_cancer", 2, 30, 569), ("digits", 10, 64, 1797)])
def test_bundled_datasets(name, K, d, n):
    env = supervised_env(name)
    assert (env.name, env.num_actions, env.context_dim) == (f"supervised/{name}", K, d)
    assert env.default_params.contexts.shape == (n, d)
    small = supervised_env(name, max_rows=100, seed=3)
    assert small.default_params.contexts.shape == (100, d)


def test_covtype_is_used_only_from_the_cache(monkeypatch):
    def not_cached(download_if_missing=True):
        assert download_if_missing is False  # never downloads
        raise OSError("Data not found and `download_if_missing` is False")

    monkeypatch.setattr(sklearn.datasets, "fetch_covtype", not_cached)
    with pytest.raises(ValueError, match="name: 'covtype' is used only when already in the scikit-learn data cache"):
        supervised_env("covtype")


@pytest.mark.parametrize("call, match", [
    (lambda: supervised_env("mnist"), "name: expected one of"),
    (lambda: supervised_env("iris", noise=0.5), r"noise: expected a reward flip probability in \[0, 0.5\), got 0.5"),
    (lambda: supervised_env("iris", max_rows=1), "max_rows: expected an integer >= 2 or None, got 1"),
    (lambda: supervised_env_from_arrays(np.ones((4, 2)), [0, 1, 0]), "labels: expected 4 labels"),
    (lambda: supervised_env_from_arrays(np.ones((4, 2)), [1, 1, 1, 1]), "labels: expected at least 2 classes"),
    (lambda: supervised_env_from_arrays(np.ones(4), [0, 1, 0, 1]), r"features: expected a non-empty \(n, p\) array"),
    (lambda: supervised_env_from_arrays(np.array([[0.0], [np.nan]]), [0, 1]), "features: expected finite values"),
    (lambda: policy_value(supervised_env("iris").default_params, np.ones((150, 2)) / 2),
     r"action_dist: expected shape \(150, 3\)"),
])
def test_arguments_are_checked_eagerly(call, match):
    with pytest.raises(ValueError, match=match):
        call()
