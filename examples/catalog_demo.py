"""A living catalog in action (the figures in docs/environments.md).

On ``screentest/Catalog-v0``'s default env, random, LinUCB, LinTS and hybrid LinUCB run side by
side; prints one JSON line with regret, cold-start first-impression delays and impressions outside
any title's window (must be 0)::

    python -m examples.catalog_demo [horizon] [seeds]
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from bandits.engine.rollout import make_rollout
from bandits.policies import make
from envs.gym import catalog_env


def demo(horizon: int = 1000, seeds: int = 16) -> dict:
    """Figures for docs/environments.md: on ``screentest/Catalog-v0``'s default env (40 titles:
    20 movies, 10 series, 5 games, 5 live events over ``horizon`` rounds; logistic-Bernoulli
    members, d = 5, response weights driven by the title features), run random, LinUCB, LinTS and
    hybrid LinUCB (given the catalog's item features) for ``seeds`` members each (one vmapped scan per
    policy) and report mean total regret, the median delay from a cold-start title's arrival to
    its first impression, and the impressions outside any title's window (must be 0)."""

    env = catalog_env(horizon=horizon)
    cat = jax.tree.map(np.asarray, env.default_params.catalog)
    t = np.arange(horizon)[:, None]
    avail = cat.present & (cat.arrive <= t) & (t < cat.depart)
    new = np.flatnonzero(cat.present & (cat.arrive > 0))
    out: dict[str, Any] = {"horizon": horizon, "seeds": seeds, "titles": int(cat.present.sum()),
                           "cold_start_titles": int(new.size)}
    for name in ("random", "linucb", "lints", "hybrid_linucb"):
        extra = {"item_features": cat.features} if name == "hybrid_linucb" else {}
        pol = make(name, num_actions=env.num_actions, context_dim=env.context_dim, **extra)
        run = jax.jit(jax.vmap(make_rollout(env, pol, horizon), in_axes=(0, None)))
        tr = run(jax.random.split(jax.random.key(0), seeds), pol.default_hparams)
        act = np.asarray(tr.action)  # (seeds, T)
        outside = int(sum((~avail[np.arange(horizon), a]).sum() for a in act))
        delays = []
        for a in act:
            for k in new:
                shown = np.flatnonzero(a == k)
                if shown.size:
                    delays.append(int(shown[0] - cat.arrive[k]))
        reg = np.asarray(tr.regret).sum(axis=1)
        out[name] = {
            "total_regret": [round(float(reg.mean()), 2), round(float(reg.std(ddof=1) / np.sqrt(seeds)), 2)],
            "mean_reward": round(float(np.asarray(tr.reward).mean()), 4),
            "cold_start_first_impression_delay_median": float(np.median(delays)) if delays else None,
            "impressions_outside_window": outside,
        }
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(demo(*(int(a) for a in sys.argv[1:3]))))
