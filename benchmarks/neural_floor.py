"""How much of a neural policy's round is training: each at its defaults and with ``train_steps=0``, beside LinUCB.

A policy with ``train_steps=0`` does everything a default one does except the Adam steps (forward
passes, the replay write, the neural-linear heads, NeuralUCB's widths and ``Z``), so the ratio of
the two throughputs splits a round into its training and the rest. World: the realistic workload's
member simulator (``benchmarks.workload.build_world``: OBD-fitted, K = 80 items, d = 21, single
slot, fixed L2 strengths ``--penalties``) or, with ``--world linear``, ``envs.synthetic.linear_gaussian``
with ``--arms`` / ``--dim``. Every variant runs through :func:`bandits.engine.sweep.sweep`
(``chunk_size="auto"``), compiled first, then timed in ``--repeats`` interleaved rounds; the JSON
line gives per variant the best and median seconds and the same-run ratio to LinUCB (best over
best, median over median), the only comparable figures on a shared machine.

    python -m benchmarks.neural_floor --seeds 256 --horizon 150 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

NEURAL = ("neural_epsilon_greedy", "neural_linear_ts", "neural_linear_ucb", "neural_ucb")


def add_world_args(ap: argparse.ArgumentParser, repeats: int) -> None:
    """The world and run-size options shared by the neural benchmarks."""
    ap.add_argument("--world", choices=("workload", "linear"), default="workload")
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--horizon", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--arms", type=int, default=80, help="--world linear only")
    ap.add_argument("--dim", type=int, default=21, help="--world linear only")
    ap.add_argument("--penalties", default="300,3000", help="--world workload: MAIN,INTERACTION L2 strengths")


def check_world_args(ap: argparse.ArgumentParser, a) -> None:
    """Refuse a run size below 1, naming the option."""
    for name in ("seeds", "horizon", "repeats", "arms", "dim"):
        if getattr(a, name) < 1:
            ap.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")


def build_env(a):
    """The workload's OBD-fitted simulator (K = 80, d = 21) or the synthetic linear world."""
    if a.world == "workload":
        from benchmarks.workload import build_world

        return build_world(80, 1, [float(v) for v in a.penalties.split(",")])[0]
    from envs.synthetic import linear_gaussian

    return linear_gaussian(a.arms, a.dim, noise_sd=0.1)


def time_interleaved(env, runs: dict, a):
    """Each policy of ``runs`` through ``sweep`` once (compiling), then ``a.repeats`` interleaved
    timed rounds. Returns ``(first results by label, seconds by label, variants summary)``; the
    summary's ratios are to the ``"linucb"`` entry (best over best, median over median)."""
    from bandits.engine.sweep import sweep

    def run(label):
        t0 = time.perf_counter()
        df = sweep(env, {label: runs[label]}, a.seeds, horizon=a.horizon, checkpoints=None)
        return time.perf_counter() - t0, df

    first = {label: run(label)[1] for label in runs}
    times = {label: [] for label in runs}
    for _ in range(a.repeats):
        for label in runs:
            times[label].append(run(label)[0])
    lin_best, lin_med = min(times["linucb"]), float(np.median(times["linucb"]))
    variants = {label: {"best_s": min(v), "median_s": float(np.median(v)),
                        "x_linucb_best": lin_best / min(v), "x_linucb_median": lin_med / float(np.median(v))}
                for label, v in times.items()}
    return first, times, variants


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_args(ap, repeats=3)
    ap.add_argument("--policies", default=",".join(NEURAL))
    a = ap.parse_args(argv)
    check_world_args(ap, a)
    names = [n for n in a.policies.split(",") if n]
    bad = [n for n in names if n not in NEURAL]
    if bad or not names:
        ap.error(f"--policies: expected some of {','.join(NEURAL)}, got {a.policies!r}")

    from bandits.policies import make

    env = build_env(a)
    K, d = env.num_actions, env.context_dim
    runs = {"linucb": make("linucb", num_actions=K, context_dim=d)}
    for n in names:
        runs[n] = make(n, num_actions=K, context_dim=d)
        runs[f"{n}@train_steps=0"] = make(n, num_actions=K, context_dim=d, train_steps=0)
    _, _, variants = time_interleaved(env, runs, a)
    out = {
        "world": a.world, "arms": K, "dim": d, "seeds": a.seeds, "horizon": a.horizon, "repeats": a.repeats,
        "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "variants": variants,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
