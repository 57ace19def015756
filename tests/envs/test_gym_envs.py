"""Gymnasium adapter (envs/gym.py) and registration (envs/__init__.py).

check_env (Gymnasium's own contract) for every registered id with no warnings; the vmap vector
env against independent single envs seeded seed + i, across an autoreset; episode semantics.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.catalog import available
from envs.gym import ScreentestEnv, ScreentestVectorEnv, catalog_env
from envs.synthetic import logistic_bernoulli

# small sizes per id: check_env steps a few times, so compile time dominates. Member-v0 is the
# default OBD fit with the CV penalty search skipped (fixed penalties): the contract is the same.
SMALL = {
    "screentest/Member-v0": dict(penalties=(30.0, 300.0), refit_full=False),
    "screentest/LinearGaussian-v0": dict(num_actions=4, context_dim=3),
    "screentest/LogisticBernoulli-v0": dict(num_actions=4, context_dim=3),
    "screentest/BernoulliBandit-v0": dict(num_actions=4),
    "screentest/Catalog-v0": dict(num_movies=3, num_series=2, num_games=1, num_live_events=2, context_dim=3),
}


EP = 40  # episode length (= the catalog's horizon) shared by the tests, so compiled envs are reused


def test_registered_ids():
    ids = {i for i in gymnasium.registry if i.startswith("screentest/")}
    assert ids == set(envs.GYM_IDS) == set(SMALL)
    for i in ids:
        spec = gymnasium.spec(i)
        assert isinstance(spec.entry_point, str) and spec.entry_point.startswith("envs.gym:")
        assert isinstance(spec.vector_entry_point, str)


def test_import_envs_does_not_import_jax():
    code = "import sys, envs, gymnasium; print('jax' in sys.modules, 'screentest/Member-v0' in gymnasium.registry)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(envs.__file__).parent.parent))
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("env_id", sorted(SMALL))
def test_check_env_every_registered_id(env_id):
    env = gymnasium.make(env_id, episode_length=EP, **SMALL[env_id])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    msgs = [str(w.message) for w in caught if "gymnasium" in str(w.filename) or "WARN" in str(w.message)]
    assert msgs == [], msgs
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    a = env.action_space.sample()
    obs, r, term, trunc, info = env.step(a)
    assert isinstance(r, float) and term is False and trunc is False
    assert info["regret"] >= -1e-6
    assert info["regret"] == pytest.approx(info["best_expected_reward"] - info["expected_reward"])
    np.testing.assert_array_equal(info["action_mask"], obs["action_mask"])
    env.close()


def test_episode_truncation_and_errors():
    env = ScreentestEnv(envs.gym._synthetic("logistic_bernoulli", SMALL["screentest/LogisticBernoulli-v0"]), episode_length=3, context_bounds=(-1, 1))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=1)
    truncs = [env.step(1)[3] for _ in range(3)]
    assert truncs == [False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset()
    with pytest.raises(ValueError, match=r"action: expected an element of Discrete\(4\)"):
        env.step(4)
    with pytest.raises(ValueError, match="episode_length"):
        ScreentestEnv(logistic_bernoulli(4, 3), episode_length=0)
    with pytest.raises(TypeError, match="env: expected an bandits.contracts.Env"):
        ScreentestEnv("LogisticBernoulli")
    with pytest.raises(ValueError, match="num_envs"):
        ScreentestVectorEnv(logistic_bernoulli(4, 3), num_envs=0)


def test_catalog_gym_mask_follows_windows():
    env = gymnasium.make("screentest/Catalog-v0", episode_length=EP, **SMALL["screentest/Catalog-v0"])
    cat = env.unwrapped.params.catalog
    arrive, depart, present = (np.asarray(a) for a in (cat.arrive, cat.depart, cat.present))
    assert np.any(arrive > 0) and np.any(depart < EP)  # the window test is not vacuous
    np.testing.assert_array_equal(np.asarray(available(cat, 0)), present & (arrive == 0))
    obs, _ = env.reset(seed=3)
    for t in range(EP):
        avail_t = present & (arrive <= t) & (t < depart)
        np.testing.assert_array_equal(obs["action_mask"].astype(bool), avail_t)
        avail = np.flatnonzero(obs["action_mask"])
        obs, r, term, trunc, info = env.step(int(avail[t % avail.size]))
        assert r in (0.0, 1.0)
        assert trunc == (t == EP - 1)


def _run_single(env_fn, seed, actions, episode_length):
    """Single env seeded ``seed``; emulates NEXT_STEP autoreset (reset, ignore that step's action)."""
    env = env_fn()
    obs, _ = env.reset(seed=seed)
    rows, pending = [], False
    for a in actions:
        if pending:
            obs, _ = env.reset()
            rows.append((obs["context"], obs["action_mask"], 0.0, False, 0.0))
            pending = False
            continue
        obs, r, term, trunc, info = env.step(a)
        rows.append((obs["context"], obs["action_mask"], r, trunc, info["expected_reward"]))
        pending = trunc
    return rows


@pytest.mark.parametrize("which", ["logistic", "catalog"])
def test_vector_env_matches_single_envs(which):
    n, ep, steps, seed = 3, 4, 11, 10
    if which == "logistic":
        base = envs.gym._synthetic("logistic_bernoulli", SMALL["screentest/LogisticBernoulli-v0"])
    else:
        base = catalog_env(horizon=EP, **SMALL["screentest/Catalog-v0"])  # same Env as the tests above
    venv = ScreentestVectorEnv(base, n, episode_length=ep)
    k = base.num_actions
    rng = np.random.default_rng(0)
    acts = rng.integers(0, k, size=(steps, n))
    obs, _ = venv.reset(seed=seed)
    assert venv.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
    vrows = []
    for t in range(steps):
        if which == "catalog":  # keep to available titles
            acts[t] = [np.flatnonzero(obs["action_mask"][i])[acts[t, i] % obs["action_mask"][i].sum()] for i in range(n)]
        obs, r, term, trunc, info = venv.step(acts[t])
        assert venv.observation_space.contains(obs)
        vrows.append((obs["context"], obs["action_mask"], r, trunc, info["expected_reward"]))
        assert not term.any()
    for i in range(n):
        single = _run_single(lambda: ScreentestEnv(base, episode_length=ep), seed + i, acts[:, i].tolist(), ep)
        for t in range(steps):
            np.testing.assert_allclose(vrows[t][0][i], single[t][0], rtol=1e-6, atol=1e-7)
            np.testing.assert_array_equal(vrows[t][1][i], single[t][1])
            assert vrows[t][2][i] == pytest.approx(single[t][2])
            assert bool(vrows[t][3][i]) == single[t][3]
            assert vrows[t][4][i] == pytest.approx(single[t][4], rel=1e-6, abs=1e-7)
    # truncation every ep steps, then one autoreset step
    np.testing.assert_array_equal([bool(row[3][0]) for row in vrows], [t % (ep + 1) == ep - 1 for t in range(steps)])


def test_make_vec_uses_jax_vector_env_and_reset_mask():
    venv = gymnasium.make_vec("screentest/LogisticBernoulli-v0", num_envs=4, episode_length=5,
                              num_actions=4, context_dim=3)
    assert isinstance(venv, ScreentestVectorEnv) and venv.num_envs == 4
    obs, _ = venv.reset(seed=0)
    assert obs["context"].shape == (4, 3) and obs["action_mask"].shape == (4, 4)
    obs2, *_ = venv.step(np.array([0, 1, 2, 3]))
    obs3, _ = venv.reset(options={"reset_mask": np.array([True, False, False, False])})
    np.testing.assert_array_equal(obs3["context"][1:], obs2["context"][1:])
    assert not np.allclose(obs3["context"][0], obs2["context"][0])
    with pytest.raises(ValueError, match="actions: expected integers in"):
        venv.step(np.array([0, 1, 2, 9]))
