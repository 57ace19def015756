"""Replay on synthetic uniformly logged data from a known world (the figures in docs/environments.md).

A logistic-Bernoulli env (K=5, d=3), ``n_rows`` rows logged by the uniform policy; replay LinUCB
and compare with its online mean reward over ``n_rows // K`` rounds (8 seeds); replay uniform random
and compare with the log's mean reward. Prints one JSON line::

    python -m examples.replay_demo [n_rows]
"""

from __future__ import annotations

import jax
import numpy as np

from bandits.engine.replay import replay_evaluate


def demo(n_rows: int = 20_000, seed: int = 0) -> dict:
    import time

    from bandits.engine.rollout import rollout, to_logged_data
    from bandits.policies import make
    from envs.synthetic import logistic_bernoulli

    k, d = 5, 3
    env = logistic_bernoulli(k, d, scale=2.0, base_rate=0.2, seed=4)
    rnd = make("random", num_actions=k, context_dim=d)
    data = to_logged_data(rollout(env, rnd, jax.random.key(seed), horizon=n_rows, log=True))
    lin = make("linucb", num_actions=k, context_dim=d)
    replay_evaluate(lin, data.subset(np.arange(100)), key=seed + 1)  # compile
    t0 = time.perf_counter()
    res = replay_evaluate(lin, data, key=seed + 1)
    dt = time.perf_counter() - t0
    online = [float(np.mean(rollout(env, lin, jax.random.key(1000 + s), horizon=n_rows // k).reward)) for s in range(8)]
    r_rand = replay_evaluate(rnd, data, key=seed + 2)
    return {
        "n_rows": n_rows,
        "logged_mean_reward": round(float(data.reward.mean()), 4),
        "random_replay": [round(r_rand.value, 4), round(r_rand.se, 4), r_rand.n_matched],
        "linucb_replay": [round(res.value, 4), round(res.se, 4), res.n_matched],
        "linucb_online_mean_8_seeds": [round(float(np.mean(online)), 4),
                                       round(float(np.std(online, ddof=1) / np.sqrt(len(online))), 4)],
        "replay_rows_per_s": round(n_rows / dt),
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(demo(n)))
