"""The neural policies of another copy of ``bandits/policies/neural.py`` beside the current ones, and LinUCB.

Measures what a change of the neural code buys, on one machine at one moment: the module at
``--old`` (for instance ``git show dbfcf43:bandits/policies/neural.py > /tmp/neural_old.py``, the
layout with two separate heads) is loaded under another name, with ``--old-mlp`` (a copy of
``bandits/policies/_mlp.py``) as its network module when given, and its ``--policies`` (default: the
neural-linear pair) run beside the registered ones and LinUCB. World: the realistic workload's
member simulator (``benchmarks.workload.build_world``: OBD-fitted, K = 80 items, d = 21, single
slot, fixed L2 strengths ``--penalties``) or, with ``--world linear``, ``envs.synthetic.linear_gaussian``
with ``--arms`` / ``--dim``. Every variant runs through :func:`bandits.engine.sweep.sweep`
(``chunk_size="auto"``), compiled first, then timed in ``--repeats`` interleaved rounds. The JSON
line gives per variant the best and median seconds, the same-run ratio to LinUCB (best over best,
median over median), and per policy each copy's mean cumulative regret on the first (compiling) run,
whether the two copies' per-seed cumulative regrets are bitwise equal, and their largest per-seed
difference (a change that reorders floating-point sums moves it by rounding, and after a first
different action by a whole trajectory's difference).

``--policy-only`` times the policies without the world and the sweep: per variant one compiled
``vmap`` over ``m`` members (``m``: the sweep's automatic chunk for that policy, at most ``--seeds``)
of a ``lax.scan`` of ``select`` and ``update`` over ``--horizon`` rounds of standard-normal
contexts and Bernoulli(0.1) rewards, compiled first, then ``--repeats`` interleaved runs; it
reports microseconds per member-round (best, median), the same-run ratios to LinUCB and, per
policy, the share of equal actions of the two copies. It isolates the policy's own round, which
the world's and the engine's fixed costs dilute in a sweep.

    python -m benchmarks.neural_heads_ab --old /tmp/neural_old.py --seeds 256 --horizon 150 --repeats 7
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

from benchmarks.neural_floor import add_world_args, build_env, check_world_args, time_interleaved

POLICIES = ("neural_linear_ts", "neural_linear_ucb")
ALL = ("neural_linear_ts", "neural_linear_ucb", "neural_epsilon_greedy", "neural_ucb")


def _module(name: str, path: str, option: str):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{option}: expected a Python file, got {path!r}")
    return spec, importlib.util.module_from_spec(spec)


def _load_old(path: str, mlp_path: str | None = None):
    """Import the module at ``path`` without registering its policies (the registry already has the
    names); with ``mlp_path``, that file stands in for ``bandits.policies._mlp`` while it imports."""
    import bandits.policies.registry as reg

    spec, mod = _module("neural_under_test", path, "--old")
    key = "bandits.policies._mlp"
    saved = sys.modules.get(key)
    if mlp_path is not None:
        mspec, mlp = _module("mlp_under_test", mlp_path, "--old-mlp")
        mspec.loader.exec_module(mlp)
        sys.modules[key] = mlp
    orig = reg.register
    reg.register = lambda *a, **k: (lambda f: f)
    try:
        spec.loader.exec_module(mod)
    finally:
        reg.register = orig
        if saved is not None:
            sys.modules[key] = saved
    return mod


def time_policy_only(runs: dict, K: int, d: int, a):
    """``{label: {"members", "best_us", "median_us", "x_linucb_best", "x_linucb_median"}}`` and the
    actions ``{label: (m, horizon)}`` of each policy's policy-only loop (see the module docstring)."""
    import time

    import jax
    import jax.numpy as jnp

    from bandits.engine.sweep import auto_chunk_size

    T = a.horizon

    def compiled(pol):
        hp = pol.default_hparams

        def member(key, ctx, rew):
            st = pol.init(key, jax.tree.map(jnp.asarray, hp))

            def body(st, inp):
                t, x, r = inp
                dec = pol.select(jax.random.fold_in(key, t), st, x, jnp.ones((K,), bool), hp)
                return pol.update(st, x, dec.action, r[dec.action], hp), dec.action

            return jax.lax.scan(body, st, (jnp.arange(T), ctx, rew))[1]

        return jax.jit(jax.vmap(member))

    calls, actions, times = {}, {}, {}
    for label, pol in runs.items():
        m = auto_chunk_size(pol, a.seeds)
        rng = np.random.default_rng(0)  # the same members for every policy at the same m
        args = (jax.random.split(jax.random.key(0), m), jnp.asarray(rng.normal(size=(m, T, d)), jnp.float32),
                jnp.asarray(rng.uniform(size=(m, T, K)) < 0.1, jnp.float32))
        calls[label] = (compiled(pol), args, m)
        actions[label] = np.asarray(jax.block_until_ready(calls[label][0](*args)))
        times[label] = []
    for _ in range(a.repeats):
        for label, (fn, args, m) in calls.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[label].append((time.perf_counter() - t0) / (m * T) * 1e6)
    lin_best, lin_med = min(times["linucb"]), float(np.median(times["linucb"]))
    out = {label: {"members": calls[label][2], "best_us": min(v), "median_us": float(np.median(v)),
                   "x_linucb_best": lin_best / min(v), "x_linucb_median": lin_med / float(np.median(v))}
           for label, v in times.items()}
    return out, actions


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="path of the other neural.py")
    ap.add_argument("--old-mlp", default=None, help="path of the other _mlp.py (default: the current one)")
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"comma-separated, some of {','.join(ALL)}")
    ap.add_argument("--policy-only", action="store_true", help="time select + update alone (no world, no sweep)")
    add_world_args(ap, repeats=7)
    a = ap.parse_args(argv)
    check_world_args(ap, a)
    for opt, path in (("--old", a.old), ("--old-mlp", a.old_mlp)):
        if path is not None and not os.path.isfile(path):
            ap.error(f"{opt}: expected an existing file, got {path!r}")
    names = [n for n in a.policies.split(",") if n]
    if not names or any(n not in ALL for n in names):
        ap.error(f"--policies: expected some of {','.join(ALL)}, got {a.policies!r}")

    from bandits.policies import make

    old = _load_old(a.old, a.old_mlp)
    env = build_env(a)
    K, d = env.num_actions, env.context_dim
    runs = {"linucb": make("linucb", num_actions=K, context_dim=d)}
    for n in names:
        runs[f"{n}@old"] = getattr(old, n)(K, d)
        runs[f"{n}@new"] = make(n, num_actions=K, context_dim=d)
    if a.policy_only:
        variants, actions = time_policy_only(runs, K, d, a)
        same = {n: {"same_actions": float(np.mean(actions[f"{n}@old"] == actions[f"{n}@new"]))} for n in names}
        out = {"world": "policy-only", "arms": K, "dim": d, "seeds": a.seeds, "horizon": a.horizon,
               "repeats": a.repeats, "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "agreement": same,
               "variants": variants}
        print(json.dumps(out))
        return out
    first, _, variants = time_interleaved(env, runs, a)
    same = {}
    for n in names:
        o, w = first[f"{n}@old"]["cum_regret"].to_numpy(), first[f"{n}@new"]["cum_regret"].to_numpy()
        same[n] = {"regret_old": float(o.mean()), "regret_new": float(w.mean()), "same_regret": bool(np.array_equal(o, w)),
                   "max_abs_diff": float(np.max(np.abs(o - w)))}
    out = {
        "world": a.world, "arms": K, "dim": d, "seeds": a.seeds, "horizon": a.horizon, "repeats": a.repeats,
        "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "agreement": same, "variants": variants,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
