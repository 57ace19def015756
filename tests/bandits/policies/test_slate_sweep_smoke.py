"""1,000 members of every slate policy in one sweep on the member simulator finish (small horizon).

The member simulator's slate mode with the slate policies is the workload that used to hang (a
LAPACK kernel in the round, see test_policies_lapack_free.py); here 1,000 seeds of each slate
policy run through :func:`bandits.engine.sweep.sweep` on a small hand-built response model and
every row comes back finite.
"""

from __future__ import annotations

import numpy as np
import pytest

from bandits.engine.sweep import sweep
from bandits.policies import make
from envs.logged import make_member_env
from envs.logged.response import ResponseModel

K, D, L = 12, 4, 3


def _slate_simulator():
    rng = np.random.default_rng(0)
    model = ResponseModel(item_bias=rng.normal(-3.0, 0.5, K), member_weights=rng.normal(0, 0.5, (D, K)),
                          position_effect=np.array([0.0, -0.3, -0.6]), calibration="platt", platt=(1.0, 0.0),
                          iso_x=np.zeros(2), iso_y=np.zeros(2), base_rate=0.05, penalties={})
    return make_member_env(model, rng.normal(size=(50, D)), len_list=L)


@pytest.mark.slow
def test_thousand_member_slate_sweeps_finish():
    env = _slate_simulator()
    pols = {n: make(n, num_actions=K, context_dim=D, len_list=L, **kw)
            for n, kw in [("slate_linucb", {}), ("slate_epsilon_greedy", {}), ("slate_lints", {"n_mc": 4}),
                          ("bts", {"n_mc": 4})]}
    df = sweep(env, pols, 1000, horizon=10, checkpoints=None)
    assert len(df) == 4 * 1000
    assert np.all(np.isfinite(df["cum_reward"])) and np.all(np.isfinite(df["cum_regret"]))
    assert np.all(df["cum_regret"] >= -1e-5)  # regret against the exact best slate
    assert set(df.attrs["chunk_size"]) == set(pols)
