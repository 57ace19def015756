"""Speed of the neural policies beside LinTS: rounds x seeds per second of a 1,000-seed sweep.

World: ``envs.synthetic.linear_gaussian`` with K = 10 arms and d = 10 features (the sizes of the
README's LinTS row). Each policy runs through :func:`bandits.engine.sweep.sweep` (the engine path a
study uses: one compiled call of ``seeds`` members, regret reduced in the scan) with its default
static sizes (``hidden=(32, 16)``, ``buffer_size=256``, ``batch_size=32``, one Adam step per round).
Every policy is compiled first; then the policies are timed in interleaved rounds (policy order
rotated each repeat) so that all of them see the same machine load; the JSON line reports, per
policy, the best and the median throughput over the repeats and the ratio of LinTS's to the
policy's (same run, so the ratios are the comparable figures on a shared machine).

    python -m benchmarks.neural_speed --seeds 1000 --horizon 200 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np

from bandits.engine.sweep import sweep
from bandits.policies import make
from envs.synthetic import linear_gaussian

POLICIES = ("lints", "neural_linear_ts", "neural_linear_ucb", "neural_epsilon_greedy", "neural_ucb")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--policies", default=",".join(POLICIES))
    args = ap.parse_args(argv)
    env = linear_gaussian(num_actions=args.arms, context_dim=args.dim)
    names = args.policies.split(",")
    pols = {n: make(n, num_actions=args.arms, context_dim=args.dim) for n in names}
    seeds = range(args.seeds)

    def timed(name):
        secs = []
        df = sweep(env, {name: pols[name]}, seeds, horizon=args.horizon, checkpoints=None,
                   chunk_size=args.seeds, progress=lambda rounds, s: secs.append(s))
        return sum(secs), df

    compile_s, regret = {}, {}
    for n in names:  # compile (and warm) every policy first
        _, df = timed(n)
        compile_s[n] = round(float(df.attrs["compile_s"]), 1)
        regret[n] = float(df.cum_regret.mean())
    runs: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            runs[n].append(timed(n)[0])
    work = args.seeds * args.horizon
    out = {
        "benchmark": "neural_speed", "arms": args.arms, "dim": args.dim, "seeds": args.seeds,
        "horizon": args.horizon, "repeats": args.repeats, "jax": jax.__version__,
        "backend": jax.default_backend(), "cpus": os.cpu_count(), "machine": platform.machine(),
        "load_1min": round(os.getloadavg()[0], 2), "policies": {},
    }
    ref = "lints" if "lints" in names else names[0]
    best_ref = work / min(runs[ref])
    med_ref = work / float(np.median(runs[ref]))
    for n in names:
        best, med = work / min(runs[n]), work / float(np.median(runs[n]))
        out["policies"][n] = {
            "rounds_x_seeds_per_s_best": round(best), "rounds_x_seeds_per_s_median": round(med),
            f"{ref}_over_this_best": round(best_ref / best, 2), f"{ref}_over_this_median": round(med_ref / med, 2),
            "compile_s": compile_s[n], "mean_cum_regret": round(regret[n], 3),
        }
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
