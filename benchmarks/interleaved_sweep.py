"""Per-member-round cost of registered policies, compiled sweep chunks timed interleaved in one process.

    python -m benchmarks.interleaved_sweep --policies linucb,discounted_linucb,discounted_lints,batched,delayed \\
        --arms 80 --dim 21 --members 16 --horizon 100 --repeat 10

Each policy's sweep chunk (the program ``bandits.engine.sweep.sweep`` runs, on the synthetic linear
Gaussian world) is compiled first; then the chunks run in turn, ``--repeat`` rounds of all of them,
so that a shared machine's load moves every policy alike. Prints one JSON line: microseconds per
member-round (best and median) and the ratio of the first policy's time to each policy's (best;
median), i.e. the same-run "x first policy" throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policies", default="linucb,discounted_linucb,discounted_lints,batched,delayed")
    p.add_argument("--arms", type=int, default=80)
    p.add_argument("--dim", type=int, default=21)
    p.add_argument("--members", type=int, default=16, help="members per call (one device)")
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args(argv)
    for name in ("arms", "dim", "members", "horizon", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    names = [n for n in a.policies.split(",") if n]
    if not names:
        p.error("--policies: expected at least one registry name, got none")
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=1").strip()
    sys.path.insert(0, str(HERE.parent))

    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    from bandits.engine import sweep as SW
    from bandits.policies import make
    from envs.synthetic import linear_gaussian

    env = linear_gaussian(a.arms, a.dim, noise_sd=0.1)
    dev = jax.local_devices()[:1]
    runs = {}
    for name in names:
        pol = make(name, num_actions=a.arms, context_dim=a.dim)
        jf, mesh = SW._compiled_chunk(env, pol, a.horizon, (a.horizon,), a.members, dev, 1, "threefry_fused", None)
        sh = NamedSharding(mesh, PartitionSpec(SW.AXIS))
        args = (jax.device_put(np.arange(a.members, dtype=np.uint32), sh),
                jax.device_put(SW._stack_hparams([pol.default_hparams] * a.members), sh),
                jax.device_put(env.default_params, NamedSharding(mesh, PartitionSpec())))
        exe = jf.lower(*args).compile()
        jax.block_until_ready(exe(*args))
        runs[name] = (exe, args)
    times = {name: [] for name in names}
    for _ in range(a.repeat):
        for name, (exe, args) in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(exe(*args))
            times[name].append(time.perf_counter() - t0)
    per = a.members * a.horizon
    best = {k: min(v) for k, v in times.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}
    ref = names[0]
    out = {
        "arms": a.arms, "dim": a.dim, "members": a.members, "horizon": a.horizon, "repeat": a.repeat,
        "policies": {k: {"us_per_member_round": [best[k] / per * 1e6, med[k] / per * 1e6],
                         f"ratio_vs_{ref}": [best[ref] / best[k], med[ref] / med[k]]} for k in names},
        "jax": jax.__version__,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
