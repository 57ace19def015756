"""Fault injection, worlds: invalid actions are refused, never scored. A slate that repeats an item
(probe: the expected reward exceeded the best slate's and regret went negative), float and bool
actions (probe: silently truncated), and a catalog wrapper without a horizon (probe: silently
simulated an empty catalog with zero regret). Each test reproduces the probe first, then checks
the fix against a float64 numpy reference."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401  (registers the screentest/... ids)
from envs.catalog import NEVER, make_catalog, with_catalog
from envs.gym import ScreentestVectorEnv, SlateSpace, member_env
from envs.logged import expected_reward_matrix
from envs.synthetic import bernoulli_arms

FIT = {"penalties": (300.0, 3000.0)}  # skip the penalty search: a fast fit of the OBD sample


@pytest.fixture(scope="module")
def member():
    env, params = member_env(len_list=3, **FIT)
    return env, params


def test_repeated_slate_earns_nothing_for_the_repeats_and_regret_stays_nonnegative(member):
    env, params = member
    Q = np.asarray(expected_reward_matrix(env, params), np.float64)  # (members, K, 3)
    obs, state = env.reset(jax.random.key(0), params)
    i = int(state.member)
    best_item = int(np.argmax(Q[i, :, 0]))
    for slate in ([best_item] * 3, [best_item, best_item, (best_item + 1) % env.num_actions]):
        out = env.step(jax.random.key(1), state, jnp.asarray(slate, jnp.int32), params)
        ref = sum(Q[i, a, s] for s, a in enumerate(slate) if a not in slate[:s])  # first showings only
        assert float(out.expected_reward) == pytest.approx(ref, rel=1e-5)
        assert float(out.best_expected_reward) - float(out.expected_reward) >= -1e-6
        assert float(np.asarray(out.reward)[1]) == 0.0  # no click in a repeated slot


def test_gym_refuses_repeated_slates_and_samples_distinct_ones(member):
    env = gymnasium.make("screentest/Member-v0", episode_length=5, **FIT)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action: a slate shows 3 distinct items, got \[3, 3, 5\] with item 3 repeated"):
        env.step(np.array([3, 3, 5]))
    space = env.action_space
    assert isinstance(space, SlateSpace) and not space.contains(np.array([3, 3, 5]))
    space.seed(1)
    draws = np.stack([space.sample() for _ in range(300)])
    assert all(np.unique(r).size == 3 for r in draws) and space.contains(draws[0])
    env.step(draws[0])  # a sampled slate is accepted
    with pytest.raises(ValueError, match="float or bool"):
        env.step(np.array([1.0, 2.0, 3.0]))


def test_float_and_bool_actions_are_refused_not_truncated():
    env = gymnasium.make("screentest/BernoulliBandit-v0", num_actions=4, episode_length=5)
    env.reset(seed=0)
    for bad in (1.7, np.float32(2.0), True, np.bool_(False)):
        with pytest.raises(ValueError, match=r"action: expected integer item indices in \[0, 4\), got .*float or bool"):
            env.step(bad)
    env.step(np.int64(1))
    env.step(3)


def test_vector_env_names_the_sub_env_with_a_repeated_slate(member):
    env, params = member
    venv = ScreentestVectorEnv(env, 3, params=params, episode_length=4)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions: a slate shows 3 distinct items, got \[7, 1, 7\] \(sub-env 2\)"):
        venv.step(np.array([[0, 1, 2], [3, 4, 5], [7, 1, 7]]))
    with pytest.raises(ValueError, match="float or bool"):
        venv.step(np.zeros((3, 3)))
    assert all(np.unique(r).size == 3 for r in venv.action_space.sample())


def _emptying_catalog(K=3):
    # every title leaves by round 40: the catalog is empty from round 40 on
    return make_catalog(["movie"] * K, arrive=[0, 0, 10], depart=[20, 40, 30])


def test_catalog_wrapper_without_horizon_refuses_a_catalog_that_empties():
    base = bernoulli_arms(probs=[0.2, 0.5, 0.8])
    with pytest.raises(ValueError, match=r"catalog: no title is available from round 40 on; a catalog wrapper "
                                         r"without a horizon .* pass horizon=T"):
        with_catalog(base, _emptying_catalog())
    env = with_catalog(base, _emptying_catalog(), horizon=40)  # 40 rounds: every one has a title
    obs, st = env.reset(jax.random.key(0), env.default_params)
    assert bool(np.asarray(obs.mask).any())
    with pytest.raises(ValueError, match="no title is available in round 40"):
        with_catalog(base, _emptying_catalog(), horizon=41)
    forever = make_catalog(["movie"] * 3, arrive=[0, 5, 9], depart=[NEVER, 8, 12])
    with_catalog(base, forever)  # one title stays: any number of rounds is fine


def test_slate_catalog_needs_a_full_slate_every_round(member):
    env, _ = member  # 3 slots, 80 items
    K = env.num_actions
    depart = np.full(K, 50)
    depart[:2] = NEVER  # only 2 titles stay after round 50: fewer than the 3 slots
    with pytest.raises(ValueError, match=r"only 2 title\(s\) are available, fewer than the 3 slots of a slate from round 50"):
        with_catalog(env, make_catalog(["movie"] * K, arrive=np.zeros(K, int), depart=depart))
