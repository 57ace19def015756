"""policy_action_dist against a per-row loop of ``policy.select`` (the independent reference)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.estimators import evaluate, policy_action_dist
from bandits.policies import make

K, D, N = 4, 3, 21  # N not a multiple of the block size: exercises padding


@pytest.fixture(scope="module")
def trained_linucb():
    pol = make("linucb", num_actions=K, context_dim=D)
    hp = pol.default_hparams
    state = pol.init(jax.random.key(0), hp)
    rng = np.random.default_rng(0)
    update = jax.jit(pol.update)
    for _ in range(30):
        x = rng.normal(size=D).astype(np.float32)
        a = int(rng.integers(K))
        state = update(state, jnp.asarray(x), jnp.asarray(a, jnp.int32), jnp.asarray(float(x[a % D] > 0)), hp)
    ctx = rng.normal(size=(N, D))
    return pol, state, hp, ctx


def test_matches_row_by_row_select(trained_linucb):
    pol, state, hp, ctx = trained_linucb
    key = jax.random.key(3)
    ad = policy_action_dist(pol, state, hp, ctx, key, block_size=16)
    assert ad.shape == (N, K, 1) and ad.dtype == np.float64
    mask = jnp.ones(K, bool)
    select = jax.jit(pol.select)  # per row, no vmap: an independent path to the same probabilities
    for i in range(N):
        ref = select(jax.random.fold_in(key, i), state, jnp.asarray(ctx[i], jnp.float32), mask, hp).probs
        np.testing.assert_allclose(ad[i, :, 0], np.asarray(ref, np.float64) / float(np.sum(ref)), atol=1e-6)
    np.testing.assert_allclose(ad.sum(axis=1), 1.0, atol=1e-12)


def test_mask_and_random_policy():
    pol = make("random", num_actions=K, context_dim=D)
    state = pol.init(jax.random.key(0), pol.default_hparams)
    ctx = np.zeros((5, D))
    mask = np.array([[True, True, False, False]] * 3 + [[True, True, True, True]] * 2)
    ad = policy_action_dist(pol, state, pol.default_hparams, ctx, jax.random.key(1), mask=mask)
    np.testing.assert_allclose(ad[:3, :, 0], [[0.5, 0.5, 0, 0]] * 3)
    np.testing.assert_allclose(ad[3:, :, 0], 0.25)


def test_slate_policy_and_per_row_false_broadcast():
    pol = make("slate_epsilon_greedy", num_actions=6, context_dim=2, len_list=2)
    state = pol.init(jax.random.key(0), pol.default_hparams)
    ctx = np.ones((10, 2))
    ad = policy_action_dist(pol, state, pol.default_hparams, ctx, jax.random.key(2), per_row=False)
    assert ad.shape == (10, 6, 2)
    assert not ad.flags.writeable  # a broadcast view of row 0
    np.testing.assert_allclose(ad[0], ad[9])
    np.testing.assert_allclose(ad.sum(axis=1), 1.0, atol=1e-12)


def test_end_to_end_uniform_logs_recover_greedy_value():
    """A LinUCB's action_dist evaluated by IPW on uniform logs with known rewards."""
    rng = np.random.default_rng(1)
    pol = make("linucb", num_actions=K, context_dim=D)
    hp = pol.hparams(alpha=0.0)  # greedy on the ridge estimate
    state = pol.init(jax.random.key(0), hp)
    n = 4000
    ctx = rng.normal(size=(n, D))
    a = rng.integers(0, K, n)
    theta = rng.normal(size=(K, D))
    r = (ctx @ theta.T)[np.arange(n), a] + rng.normal(scale=0.1, size=n)
    ad = policy_action_dist(pol, state, hp, ctx, jax.random.key(0))
    truth = float(np.mean(np.sum(ad[:, :, 0] * (ctx @ theta.T), axis=1)))
    df = evaluate({"context": ctx, "action": a, "reward": r, "pscore": np.full(n, 1 / K), "n_actions": K},
                  ad, estimators=["ipw", "snipw"], interval="normal").set_index("estimator")
    for name in ("ipw", "snipw"):
        assert abs(df.loc[name, "estimate"] - truth) <= 4 * df.loc[name, "std_err"]


def test_float64_leg(trained_linucb):
    """Under x64 a float64 policy gives the same probabilities as the float32 one (to float32 precision)."""
    pol32, state32, hp32, ctx = trained_linucb
    ad32 = policy_action_dist(pol32, state32, hp32, ctx, jax.random.key(3))
    with jax.enable_x64(True):
        pol = make("linucb", num_actions=K, context_dim=D, dtype=jnp.float64)
        hp = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), pol.default_hparams)
        state = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v,
                             state32)
        ad64 = policy_action_dist(pol, state, hp, ctx, jax.random.key(3))
    assert ad64.dtype == np.float64
    np.testing.assert_allclose(ad64, ad32, atol=1e-5)
