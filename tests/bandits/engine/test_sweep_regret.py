"""LinUCB and LinTS on the linear-Gaussian world: regret far below uniform random's, sublinear.

One sweep (16 seeds, a random world per seed, T = 10,000) with checkpoints at 2,500 and 10,000.
Sublinear growth is tested on the per-round slopes: ``s1 = R(2500) / 2500`` (early) and
``s2 = (R(10000) - R(2500)) / 7500`` (late). Uniform random's regret is linear (``s1 ~ s2``); a
learning policy's late slope must be significantly smaller than its early slope (paired over
seeds, 4 standard errors) and a small fraction of it.
"""

from __future__ import annotations

import numpy as np
import pytest

from bandits.engine.sweep import sweep
from bandits.policies import make
from envs import synthetic as S

K, D, T, SEEDS = 5, 5, 10_000, 16


@pytest.fixture(scope="module")
def results():
    env = S.linear_gaussian(K, D, noise_sd=0.1)
    pols = {
        "linucb": make("linucb", num_actions=K, context_dim=D),
        # the Monte Carlo sample count only affects the reported probs, not the choices
        "lints": make("lints", num_actions=K, context_dim=D, num_samples=2),
        "random": make("random", num_actions=K, context_dim=D),
    }
    df = sweep(env, pols, SEEDS, grid={"lints": {"v": [0.1]}}, horizon=T, checkpoints=[2500, T],
               env_params=lambda k: S.sample_params(env, k), chunk_size=SEEDS)
    return {name: g.sort_values("seed") for name, g in df.groupby("policy")}


def _se(x):
    return np.std(x, ddof=1) / np.sqrt(len(x))


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_regret_far_below_uniform_random(results, name):
    pol = results[name]["cum_regret"].to_numpy()
    rnd = results["random"]["cum_regret"].to_numpy()
    # same seeds = same worlds and members (CRN): paired difference
    diff = rnd - pol
    assert diff.mean() > 4 * _se(diff)
    assert pol.mean() < 0.1 * rnd.mean()


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_regret_grows_sublinearly(results, name):
    g = results[name]
    r1, r2 = g["regret@2500"].to_numpy(), g[f"regret@{T}"].to_numpy()
    s1, s2 = r1 / 2500, (r2 - r1) / 7500
    d = s1 - s2
    assert d.mean() > 4 * _se(d)
    assert s2.mean() < 0.5 * s1.mean()


def test_uniform_random_regret_is_linear(results):
    g = results["random"]
    r1, r2 = g["regret@2500"].to_numpy(), g[f"regret@{T}"].to_numpy()
    d = r1 / 2500 - (r2 - r1) / 7500
    assert abs(d.mean()) < 4 * _se(d)
