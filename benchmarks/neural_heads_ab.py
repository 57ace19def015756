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
import time

import numpy as np

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
    ap.add_argument("--world", choices=("workload", "linear"), default="workload")
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--horizon", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--arms", type=int, default=80, help="--world linear only")
    ap.add_argument("--dim", type=int, default=21, help="--world linear only")
    ap.add_argument("--penalties", default="300,3000", help="--world workload: MAIN,INTERACTION L2 strengths")
    a = ap.parse_args(argv)
    for name in ("seeds", "horizon", "repeats", "arms", "dim"):
        if getattr(a, name) < 1:
            ap.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    if not os.path.isfile(a.old):
        ap.error(f"--old: expected an existing file, got {a.old!r}")

    from bandits.engine.sweep import sweep
    from bandits.policies import make

    old = _load_old(a.old)
    if a.world == "workload":
        from benchmarks.workload import build_world

        env = build_world(80, 1, [float(v) for v in a.penalties.split(",")])[0]
    else:
        from envs.synthetic import linear_gaussian

        env = linear_gaussian(a.arms, a.dim, noise_sd=0.1)
    K, d = env.num_actions, env.context_dim
    runs = {"linucb": make("linucb", num_actions=K, context_dim=d)}
    for n in POLICIES:
        runs[f"{n}@old"] = getattr(old, n)(K, d)
        runs[f"{n}@new"] = make(n, num_actions=K, context_dim=d)

    def run(label):
        t0 = time.perf_counter()
        df = sweep(env, {label: runs[label]}, a.seeds, horizon=a.horizon, checkpoints=None)
        return time.perf_counter() - t0, df

    first = {label: run(label)[1] for label in runs}  # compile (and run once)
    times = {label: [] for label in runs}
    for _ in range(a.repeats):
        for label in runs:
            times[label].append(run(label)[0])
    lin_best, lin_med = min(times["linucb"]), float(np.median(times["linucb"]))
    same = {}
    for n in POLICIES:
        o, w = first[f"{n}@old"], first[f"{n}@new"]
        same[n] = {"regret_old": float(o["cum_regret"].mean()), "regret_new": float(w["cum_regret"].mean()),
                   "same_regret": bool(np.array_equal(o["cum_regret"].to_numpy(), w["cum_regret"].to_numpy()))}
    out = {
        "world": a.world, "arms": K, "dim": d, "seeds": a.seeds, "horizon": a.horizon, "repeats": a.repeats,
        "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "agreement": same,
        "variants": {label: {"best_s": min(v), "median_s": float(np.median(v)),
                             "x_linucb_best": lin_best / min(v), "x_linucb_median": lin_med / float(np.median(v))}
                     for label, v in times.items()},
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
