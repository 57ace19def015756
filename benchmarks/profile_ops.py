"""Where a sweep's round goes: per-XLA-op time of one compiled sweep chunk (JSON).

    python -m benchmarks.profile_ops --policy linucb --seeds 1000 --horizon 2000

Compiles the sweep's chunk function (the program ``bandits.engine.sweep.sweep`` runs) with XLA:CPU's
per-op trace annotations on (``xla_cpu_enable_xprof_traceme``), runs it once under
``jax.profiler.trace`` and reads the trace back with ``jax.profiler.ProfileData``. Prints one JSON
line: wall time per round, the summed op time, the number of distinct ops and the ``--top`` ops by
total time (name, total ms, calls, mean us per call; ops made once per block of rounds, such as the
environment's Threefry draws, show one call per block). Op names are XLA's fusion names; match them to the optimised HLO with
``--dump-hlo PATH``. Tracing adds ~1 us per op, so at one member the per-op figures are dominated by
the tracer (count ops there instead); at hundreds of members per device they are representative.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", default="linucb")
    p.add_argument("--arms", type=int, default=10)
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--horizon", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--devices", type=int, default=0, help="XLA host devices (0: one per CPU core)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--dump-hlo", default="", help="write the optimised HLO text here")
    a = p.parse_args(argv)
    for name in ("arms", "dim", "horizon", "seeds", "top"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    n_dev = a.devices or (os.cpu_count() or 1)
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + f" --xla_force_host_platform_device_count={n_dev}").strip()
    sys.path.insert(0, str(HERE.parent))

    import jax
    import numpy as np
    from jax.profiler import ProfileData
    from jax.sharding import NamedSharding, PartitionSpec

    from bandits.engine import sweep as SW
    from bandits.policies import make
    from envs.synthetic import linear_gaussian

    env = linear_gaussian(a.arms, a.dim, noise_sd=0.1)
    pol = make(a.policy, num_actions=a.arms, context_dim=a.dim)
    devices = jax.local_devices()[: min(n_dev, a.seeds)]
    per_dev = -(-a.seeds // len(devices))
    jf, mesh = SW._compiled_chunk(env, pol, a.horizon, (a.horizon,), per_dev, devices, 1, "threefry_fused", None)
    sh = NamedSharding(mesh, PartitionSpec(SW.AXIS))
    n = per_dev * len(devices)
    hp = jax.device_put(SW._stack_hparams([pol.default_hparams] * n), sh)
    seeds = jax.device_put(np.arange(n, dtype=np.uint32), sh)
    env_arg = jax.device_put(env.default_params, NamedSharding(mesh, PartitionSpec()))
    exe = jf.lower(seeds, hp, env_arg).compile(compiler_options={"xla_cpu_enable_xprof_traceme": True})
    if a.dump_hlo:
        Path(a.dump_hlo).write_text(exe.as_text())
    jax.block_until_ready(exe(seeds, hp, env_arg))
    trace_dir = tempfile.mkdtemp(prefix="screentest-profile-")
    with jax.profiler.trace(trace_dir):
        t0 = time.perf_counter()
        jax.block_until_ready(exe(seeds, hp, env_arg))
        wall = time.perf_counter() - t0
    path = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)[0]
    total, calls = collections.Counter(), collections.Counter()
    for plane in ProfileData.from_file(path).planes:
        for line in plane.lines:
            if "python" in line.name:
                continue
            for ev in line.events:
                if "Execute" in ev.name or ev.name.startswith("while"):
                    continue  # the executor's own spans and the loop itself contain the ops
                total[ev.name] += ev.duration_ns
                calls[ev.name] += 1
    out = {
        "policy": a.policy, "arms": a.arms, "dim": a.dim, "horizon": a.horizon, "members": n,
        "devices": len(devices), "wall_s": wall, "wall_us_per_round": wall / a.horizon * 1e6,
        "op_ms_total": sum(total.values()) / 1e6, "distinct_ops": len(total),
        "top_ops": [{"op": k, "total_ms": v / 1e6, "calls": calls[k], "mean_us": v / calls[k] / 1e3}
                    for k, v in total.most_common(a.top)],
        "trace_dir": trace_dir, "jax": jax.__version__,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
