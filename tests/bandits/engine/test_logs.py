"""Log generation at scale and offline training (bandits/engine/logs.py).

References: the logging policy re-run round by round in Python (its own select with the same keys)
for the propensities; a plain Python loop of ``update`` for offline training; the world's exact
uniform value for the logged truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.engine.logs import generate_logs, read_logs, read_metadata, train_on_logs
from bandits.engine.rollout import member_keys, seed_key
from bandits.policies import make
from bandits.policies.random import uniform_slate_policy
from envs.known import obd_world
from envs.synthetic import logistic_bernoulli


@pytest.fixture(scope="module")
def world():
    return obd_world(seed=0)


def _replay_pscores(env, policy, logs, seed, n_rounds):
    """The policy's probability of each logged action, recomputed by re-running its own select and
    update over the logged rounds (one member; its documented key streams), in one jitted scan."""
    keys = member_keys(jax.random.fold_in(seed_key(seed), 0))
    hp = jax.tree.map(jnp.asarray, policy.default_hparams)
    mask = jnp.ones(env.num_actions, bool)

    def body(state, row):
        t, x, a, r = row
        dec = policy.select(jax.random.fold_in(keys.policy_round, t), state, x, mask, hp)
        return policy.update(state, x, a, r, hp), dec.probs[a]

    rows = (jnp.arange(n_rounds, dtype=jnp.uint32), jnp.asarray(logs.context[:n_rounds], jnp.float32),
            jnp.asarray(logs.action[:n_rounds], jnp.int32), jnp.asarray(logs.reward[:n_rounds], jnp.float32))
    _, p = jax.jit(lambda s0: jax.lax.scan(body, s0, rows))(policy.init(keys.policy_init, hp))
    return np.asarray(p, np.float64)


@pytest.mark.parametrize("name, kw", [("epsilon_greedy", {}), ("lints", {"num_samples": 16}),
                                      ("linucb", {})])
def test_pscore_is_exactly_the_logging_policys_probability(name, kw):
    env = logistic_bernoulli(num_actions=6, context_dim=4, seed=0)
    policy = make(name, num_actions=6, context_dim=4, **kw)
    s = generate_logs(env, policy, 60, None, members=1, chunk_rounds=32, seed=4)
    logs = s.data
    ref = _replay_pscores(env, policy, logs, 4, 60)
    np.testing.assert_array_equal(logs.pscore, ref)  # exact: the same float32 numbers
    assert logs.position is None and logs.len_list == 1


def test_uniform_slate_logs_and_parquet_round_trip(world, tmp_path):
    env = world.env()
    pol = uniform_slate_policy(80, 3, context_dim=env.context_dim)
    p = tmp_path / "logs.parquet"
    s = generate_logs(env, pol, 3000, p, context_cols=20, action_context=world.action_context, members=64,
                      chunk_rounds=8, seed=1)
    assert s.n_rows == 3000 and s.n_impressions == 1000
    d = read_logs(p)
    assert d.n_rounds == 3000 and d.len_list == 3 and d.n_actions == 80 and d.dim_context == 20
    np.testing.assert_array_equal(d.action_context, world.action_context)
    assert np.all(d.pscore == np.float32(1 / 80)) and np.all(d.position == np.tile([0, 1, 2], 1000))
    # every impression shows three distinct items, each context one of the world's members
    assert np.all(np.diff(np.sort(d.action.reshape(-1, 3), axis=1), axis=1) > 0)
    assert all(np.any(np.all(world.contexts == c, axis=1)) for c in d.context[::97])
    meta = read_metadata(p)
    assert meta["policy"] == "uniform_slate" and meta["len_list"] == 3
    # in-memory logs and a different chunking give the same rows bit for bit
    m = generate_logs(env, pol, 3000, None, context_cols=20, action_context=world.action_context, members=64,
                      chunk_rounds=5, seed=1).data
    for f in ("context", "action", "reward", "pscore", "position"):
        np.testing.assert_array_equal(getattr(m, f), getattr(d, f))
    # rows round up to whole impressions
    assert generate_logs(env, pol, 7, None, members=2, seed=0).n_rows == 9


def test_logged_truth_is_the_worlds_value(world):
    env = world.env()
    pol = uniform_slate_policy(80, 3, context_dim=env.context_dim)
    s = generate_logs(env, pol, 60_000, None, members=500, chunk_rounds=40, seed=2)
    # expected clicks of uniform slates given the member: exact; members are iid from the pool
    per_member = world.click_matrix().mean(axis=(1, 2))
    sd = np.sqrt(np.sum(world.weights * (per_member - 0.0038) ** 2))
    se = sd / np.sqrt(s.n_impressions)
    assert abs(s.value - 0.0038) < 4 * se
    se_click = np.sqrt(0.0038 / s.n_rows)
    assert abs(s.clicks / s.n_rows - 0.0038) < 4 * se_click


def test_train_on_logs_equals_a_loop_of_updates():
    pol = make("linucb", num_actions=5, context_dim=3)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 3))
    a = rng.integers(0, 5, 37)
    r = rng.binomial(1, 0.3, 37).astype(float)
    st = train_on_logs(pol, X, a, r, block=16, seed=0)  # blocks of 16: the last one padded
    hp = jax.tree.map(jnp.asarray, pol.default_hparams)
    ref = pol.init(jax.random.fold_in(seed_key(0), 0), hp)
    for i in range(37):
        ref = pol.update(ref, jnp.asarray(X[i], jnp.float32), jnp.asarray(a[i], jnp.int32),
                         jnp.asarray(r[i], jnp.float32), hp)
    for u, v in zip(jax.tree.leaves(st), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)
    slate = make("slate_epsilon_greedy", num_actions=5, context_dim=3, len_list=2)
    with pytest.raises(ValueError, match="action, reward"):
        train_on_logs(slate, X, a, r)


def test_bad_arguments_name_themselves(world):
    env = world.env(1)
    pol = make("random", num_actions=80)
    with pytest.raises(ValueError, match="n_rows"):
        generate_logs(env, pol, 0)
    with pytest.raises(ValueError, match="context_cols"):
        generate_logs(env, pol, 10, context_cols=99)
    with pytest.raises(ValueError, match="len_list"):
        generate_logs(world.env(3), pol, 10)
