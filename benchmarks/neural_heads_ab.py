"""The neural-linear policies of another copy of ``bandits/policies/neural.py`` beside the current ones, and LinUCB.

Measures what a change of the neural-linear code buys, on one machine at one moment: the module at
``--old`` (for instance ``git show dbfcf43:bandits/policies/neural.py > /tmp/neural_old.py``, the
layout with two separate heads) is loaded under another name, and its ``neural_linear_ts`` /
``neural_linear_ucb`` run beside the registered ones and LinUCB. World: the realistic workload's
member simulator (``benchmarks.workload.build_world``: OBD-fitted, K = 80 items, d = 21, single
slot, fixed L2 strengths ``--penalties``) or, with ``--world linear``, ``envs.synthetic.linear_gaussian``
with ``--arms`` / ``--dim``. Every variant runs through :func:`bandits.engine.sweep.sweep`
(``chunk_size="auto"``), compiled first, then timed in ``--repeats`` interleaved rounds. The JSON
line gives per variant the best and median seconds, the same-run ratio to LinUCB (best over best,
median over median), and per policy each copy's mean cumulative regret on the first (compiling) run
and whether the two copies' per-seed cumulative regrets are bitwise equal.

    python -m benchmarks.neural_heads_ab --old /tmp/neural_old.py --seeds 256 --horizon 150 --repeats 7
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

import numpy as np

from benchmarks.neural_floor import add_world_args, build_env, check_world_args, time_interleaved

POLICIES = ("neural_linear_ts", "neural_linear_ucb")


def _load_old(path: str):
    """Import the module at ``path`` without registering its policies (the registry already has the names)."""
    import bandits.policies.registry as reg

    spec = importlib.util.spec_from_file_location("neural_under_test", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"--old: expected a Python file, got {path!r}")
    mod = importlib.util.module_from_spec(spec)
    orig = reg.register
    reg.register = lambda *a, **k: (lambda f: f)
    try:
        spec.loader.exec_module(mod)
    finally:
        reg.register = orig
    return mod


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="path of the other neural.py")
    add_world_args(ap, repeats=7)
    a = ap.parse_args(argv)
    check_world_args(ap, a)
    if not os.path.isfile(a.old):
        ap.error(f"--old: expected an existing file, got {a.old!r}")

    from bandits.policies import make

    old = _load_old(a.old)
    env = build_env(a)
    K, d = env.num_actions, env.context_dim
    runs = {"linucb": make("linucb", num_actions=K, context_dim=d)}
    for n in POLICIES:
        runs[f"{n}@old"] = getattr(old, n)(K, d)
        runs[f"{n}@new"] = make(n, num_actions=K, context_dim=d)
    first, _, variants = time_interleaved(env, runs, a)
    same = {}
    for n in POLICIES:
        o, w = first[f"{n}@old"], first[f"{n}@new"]
        same[n] = {"regret_old": float(o["cum_regret"].mean()), "regret_new": float(w["cum_regret"].mean()),
                   "same_regret": bool(np.array_equal(o["cum_regret"].to_numpy(), w["cum_regret"].to_numpy()))}
    out = {
        "world": a.world, "arms": K, "dim": d, "seeds": a.seeds, "horizon": a.horizon, "repeats": a.repeats,
        "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "agreement": same, "variants": variants,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
