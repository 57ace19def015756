"""Member-simulator step throughput, vmapped over members (target: >= 1M member-rounds/s).

An OBD-sized simulator (K items, L slots, d features, a pool of n_ctx member contexts) steps
``members`` independent members for ``rounds`` rounds inside one jitted ``lax.scan`` (the step is
``jax.vmap``-ed over members; each member gets its own round key ``fold_in(key_m, t)``). The
actions are a cheap deterministic rotation of slates so the figure is the environment's cost,
not a policy's. Prints ONE JSON line.

Two modes (``--outputs``):
- ``scalars`` (default): the scan consumes ``reward (L,)``, ``expected_reward``,
  ``best_expected_reward`` and the next context, as a rollout does (XLA then skips the unused
  ``(K, L)`` ``expected_rewards`` matrix);
- ``full``: also sums the ``(K, L)`` ``expected_rewards`` matrix of every member-round.

The default model is a random (not fitted) response model of the OBD size, so the benchmark needs
no data; ``--obd`` uses the simulator fitted on the bundled Open Bandit sample (d = 20, fixed
penalties, slate mode) instead.

    python -m benchmarks.simulator [--members 4096] [--rounds 200] [--num-actions 80]
        [--len-list 3] [--context-dim 30] [--outputs scalars|full] [--obd] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


def _random_sim(K: int, L: int, d: int, n_ctx: int, seed: int):
    from envs.logged.response import ResponseModel
    from envs.logged.simulator import make_member_env

    rng = np.random.default_rng(seed)
    model = ResponseModel(
        item_bias=np.log(0.004 / 0.996) + 0.3 * rng.standard_normal(K),
        member_weights=0.1 * rng.standard_normal((d, K)),
        position_effect=np.linspace(0.0, -0.3, L),
        calibration="platt", platt=(1.0, 0.0), iso_x=np.zeros(2), iso_y=np.zeros(2), base_rate=0.004,
        penalties={},
    )
    contexts = (rng.random((n_ctx, d)) < 0.2).astype(np.float64)
    return make_member_env(model, contexts)


def _obd_sim():
    from bandits.datasets import load_obd
    from envs.logged.simulator import fit_member_simulator

    return fit_member_simulator(load_obd("random", "all"), penalties=(300.0, 3000.0)).env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--num-actions", type=int, default=80)
    ap.add_argument("--len-list", type=int, default=3)
    ap.add_argument("--context-dim", type=int, default=30)
    ap.add_argument("--n-ctx", type=int, default=10_000, help="member pool size (logged contexts)")
    ap.add_argument("--outputs", choices=("scalars", "full"), default="scalars")
    ap.add_argument("--obd", action="store_true", help="use the simulator fitted on the bundled OBD sample")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    from bandits.engine.prng import key as fused_key

    env = _obd_sim() if a.obd else _random_sim(a.num_actions, a.len_list, a.context_dim, a.n_ctx, a.seed)
    K, L, B, T = env.num_actions, env.len_list, a.members, a.rounds
    params = env.default_params
    full = a.outputs == "full"
    step_v = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_v = jax.vmap(env.reset, in_axes=(0, None))

    @jax.jit
    def run(key, params):
        mkeys = jax.random.split(key, B)
        obs, state = reset_v(mkeys, params)
        offs = jnp.arange(B, dtype=jnp.int32) * 7

        def body(carry, t):
            state, acc = carry
            rkeys = jax.vmap(lambda k: jax.random.fold_in(k, t))(mkeys)
            act = (offs[:, None] + t.astype(jnp.int32) * 3 + jnp.arange(L, dtype=jnp.int32)[None, :]) % K
            if L == 1:
                act = act[:, 0]
            st = step_v(rkeys, state, act, params)
            tot = (jnp.sum(st.reward) + jnp.sum(st.expected_reward) + jnp.sum(st.best_expected_reward)
                   + jnp.sum(st.obs.context[:, 0]))
            if full:
                tot = tot + jnp.sum(st.expected_rewards)
            return (st.state, acc + tot), None

        (state, acc), _ = jax.lax.scan(body, (state, jnp.zeros((), params.item_bias.dtype)),
                                       jnp.arange(T, dtype=jnp.uint32))
        return acc

    key = fused_key(a.seed)
    t0 = time.perf_counter()
    run(key, params).block_until_ready()
    compile_s = time.perf_counter() - t0
    times = []
    for r in range(a.repeats):
        t0 = time.perf_counter()
        run(jax.random.fold_in(key, r + 1), params).block_until_ready()
        times.append(time.perf_counter() - t0)
    best = min(times)
    out = {
        "benchmark": "simulator_step",
        "member_rounds_per_s": B * T / best,
        "member_rounds_per_s_median": B * T / float(np.median(times)),
        "members": B, "rounds": T, "num_actions": K, "len_list": L, "context_dim": env.context_dim,
        "n_ctx": int(params.contexts.shape[0]), "outputs": a.outputs, "obd": bool(a.obd),
        "seconds": times, "compile_s": compile_s, "target": 1_000_000,
        "backend": jax.default_backend(), "jax": jax.__version__, "cpu_count": __import__("os").cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
