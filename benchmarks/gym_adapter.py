"""Steps per second of the Gymnasium adapters (figures in docs/environments.md).

One :class:`envs.gym.ScreentestEnv` and a :class:`envs.gym.ScreentestVectorEnv` on
``screentest/LogisticBernoulli-v0``'s default env; prints one JSON line::

    python -m benchmarks.gym_adapter [num_envs] [steps]
"""

from __future__ import annotations

import numpy as np

from envs.gym import make_logistic_bernoulli, make_vec_logistic_bernoulli


def demo(num_envs: int = 1024, steps: int = 200) -> dict:
    """Steps per second of the Gymnasium adapters on ``screentest/LogisticBernoulli-v0``'s default
    env (K = 10, d = 10): one :class:`ScreentestEnv` and a :class:`ScreentestVectorEnv` of
    ``num_envs`` copies (member-rounds per second), ``steps`` steps after a warm-up."""
    import time

    env = make_logistic_bernoulli(episode_length=10**9)
    env.reset(seed=0)
    for _ in range(5):
        env.step(0)
    t0 = time.perf_counter()
    for i in range(steps):
        env.step(i % env.action_space.n)
    single = steps / (time.perf_counter() - t0)
    venv = make_vec_logistic_bernoulli(num_envs, episode_length=10**9)
    venv.reset(seed=0)
    acts = np.arange(num_envs) % 10
    for _ in range(5):
        venv.step(acts)
    t0 = time.perf_counter()
    for _ in range(steps):
        venv.step(acts)
    vec = steps * num_envs / (time.perf_counter() - t0)
    return {"single_env_steps_per_s": round(single), "vector_env_member_rounds_per_s": round(vec),
            "num_envs": num_envs}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(demo(*(int(a) for a in sys.argv[1:3]))))
