"""Runs INSIDE the peers venv (obp 0.5.7, MABWiser), started by benchmarks/throughput.py.

Times obp's and MABWiser's per-round LinUCB / LinTS loops (select, observe, update) on a
linear-Gaussian world drawn with numpy (the same family as envs.synthetic.linear_gaussian:
unit-sphere contexts and arm parameters, Gaussian noise). Prints one JSON line with
``obp_rounds_per_s`` and ``mabwiser_rounds_per_s``. The screentest project never imports this file.

usage: python _throughput_peer.py POLICY ARMS DIM OBP_ROUNDS MABWISER_ROUNDS SEED
"""

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

policy, K, d, n_obp, n_mab, seed = sys.argv[1], *map(int, sys.argv[2:7])
rng = np.random.default_rng(seed)
theta = rng.normal(size=(K, d))
theta /= np.linalg.norm(theta, axis=1, keepdims=True)


def world(n):
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    noise = 0.1 * rng.normal(size=(n, K))
    return x, x @ theta.T + noise


out = {}
try:
    from obp.policy import LinTS, LinUCB

    pol = (LinUCB(dim=d, n_actions=K, epsilon=1.0, random_state=seed) if policy == "linucb"
           else LinTS(dim=d, n_actions=K, random_state=seed))
    xs, rs = world(n_obp)
    t0 = time.perf_counter()
    for t in range(n_obp):
        ctx = xs[t:t + 1]
        a = int(pol.select_action(ctx)[0])
        pol.update_params(action=a, reward=float(rs[t, a]), context=ctx)
    out["obp_rounds_per_s"] = n_obp / (time.perf_counter() - t0)
    out["obp_rounds"] = n_obp
except Exception as e:  # report, do not crash the benchmark
    out["obp_error"] = repr(e)

try:
    from mabwiser.mab import MAB, LearningPolicy

    lp = LearningPolicy.LinUCB(alpha=1.0) if policy == "linucb" else LearningPolicy.LinTS(alpha=1.0)
    mab = MAB(arms=list(range(K)), learning_policy=lp, seed=seed)
    xs, rs = world(n_mab + K)
    # MABWiser needs an initial fit; one round per arm
    mab.fit(decisions=list(range(K)), rewards=[float(rs[i, i]) for i in range(K)], contexts=xs[:K])
    t0 = time.perf_counter()
    for t in range(K, K + n_mab):
        ctx = xs[t:t + 1]
        a = int(mab.predict(ctx))
        mab.partial_fit(decisions=[a], rewards=[float(rs[t, a])], contexts=ctx)
    out["mabwiser_rounds_per_s"] = n_mab / (time.perf_counter() - t0)
    out["mabwiser_rounds"] = n_mab
except Exception as e:
    out["mabwiser_error"] = repr(e)

print(json.dumps(out))
