"""The realistic workload: every registered policy on the member simulator fitted on the OBD logs.

    python -m benchmarks.workload --catalog 80 --slots 1 --seeds 1000 --horizon 1000

The world is the member simulator fitted on the bundled Open Bandit Dataset sample (``random``
logs, campaign ``all``) with the site's item prior and an intercept, as the ``screentest`` job
builds it (``experiments.builders.build_simulator(..., item_prior="site", add_intercept=True)``):
80 items, ``d = 21``. ``--slots 3`` shows 3-slot slates (the OBD layout) and runs the slate
policies; ``--catalog 1000`` widens the catalog to 1,000 items by resampling the fitted items
(bias and member weights of a random fitted item, the bias jittered by a quarter of the items'
spread; fixed seed), the same member pool.

Prints ONE JSON line per policy, each with:

* ``rounds_per_s`` (best of ``--repeat``) and ``median_rounds_per_s``: horizon x seeds / seconds of
  :func:`bandits.engine.sweep.sweep`, compilation excluded (``compile_s``); the runs of all
  policies are interleaved (every policy is compiled first, then repeat 1 of every policy,
  repeat 2, ...), so the ratios below are same-run ratios;
* ``ratio_vs_random`` (the uniform random policy, or uniformly random slates: the world's own
  cost) and ``ratio_vs_linucb`` (single-slot LinUCB on the same catalog, slates included: the
  single-slot figure is timed in the same run);
* for LinUCB and LinTS, ``jax_reference_rounds_per_s`` and ``ratio_vs_jax_reference``: the
  straightforward vmap(scan) of ``benchmarks/_jax_reference.py`` on the same simulator, and when
  numba is installed (not a project dependency) ``numba_rounds_per_s`` / ``ratio_vs_numba``: a
  straightforward numba loop (``prange`` over seeds), both timed in the same interleaved repeats;
* ``peak_rss_mb``: the process's peak resident memory after the policy's runs (a high-water mark
  over everything run so far in the process);
* ``chunk_size``: members per device per compiled call (``auto``: chosen by the sweep).

``--devices N`` splits the CPU into N XLA host devices (set before JAX starts), default one per core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

ALL = "all"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog", type=int, default=80, help="items: 80 (fitted) or more (resampled)")
    p.add_argument("--slots", type=int, default=1, choices=[1, 3])
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--horizon", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--policies", default=ALL, help="comma-separated registry names (default: all that fit)")
    p.add_argument("--chunk-size", default="auto", help="members per device per call, or 'auto'")
    p.add_argument("--devices", type=int, default=0, help="XLA host devices (0: one per CPU core)")
    p.add_argument("--reference-horizon", type=int, default=0, help="rounds of the reference runs (0: horizon)")
    p.add_argument("--no-references", action="store_true")
    a = p.parse_args(argv)
    for name in ("catalog", "seeds", "horizon", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    if a.catalog < 80:
        p.error(f"--catalog: expected >= 80 (the fitted items), got {a.catalog}")
    if a.chunk_size != "auto" and not (a.chunk_size.isdigit() and int(a.chunk_size) >= 1):
        p.error(f"--chunk-size: expected 'auto' or an integer >= 1, got {a.chunk_size!r}")
    return a


# --------------------------------------------------------------------------- the world


def build_world(catalog: int, slots: int):
    """``(env, item_features (K, p), sim_arrays)``: the fitted simulator, widened to ``catalog`` items."""
    import dataclasses

    import numpy as np

    from bandits.datasets import load_obd
    from envs.logged import make_member_env
    from experiments.builders import build_simulator

    data = load_obd("random", "all")
    sim = build_simulator(data, len_list=slots, item_prior="site", add_intercept=True)
    phi = np.asarray(data.action_context, np.float64)
    phi = (phi - phi.mean(0)) / np.where(phi.std(0) > 0, phi.std(0), 1.0)
    env, model = sim.env, sim.model
    if catalog > model.n_actions:
        rng = np.random.default_rng(2024)
        idx = rng.integers(0, model.n_actions, catalog)
        jitter = rng.normal(0, 0.25 * model.item_bias.std(), catalog)
        model = dataclasses.replace(model, item_bias=model.item_bias[idx] + jitter,
                                    member_weights=model.member_weights[:, idx])
        env = make_member_env(model, sim.contexts, len_list=slots, add_intercept=True)
        phi = phi[idx]
    p = env.default_params
    arrays = {"contexts": np.asarray(p.contexts), "item_bias": np.asarray(p.item_bias),
              "member_weights": np.asarray(p.member_weights), "slope": float(p.calib_a),
              "intercept": float(p.calib_b + p.calib_a * float(np.asarray(p.position_effect)[0]))}
    return env, phi, arrays


def build_policies(env, phi, names):
    """``{label: Policy}`` for the registry names that run on ``env`` (single slot or slates)."""
    from bandits.datasets.obd import obd_site_prior
    from bandits.policies import REGISTRY, make
    from bandits.policies.random import uniform_slate_policy

    K, d, L = env.num_actions, env.context_dim, env.len_list
    site = obd_site_prior("all") if K == 80 else None
    out = {}
    if L == 1:
        out["random"] = make("random", num_actions=K, context_dim=d)
    else:
        out["random"] = uniform_slate_policy(K, L, d)
    wanted = sorted(REGISTRY) if names == ALL else names.split(",")
    for n in wanted:
        if n not in REGISTRY:
            raise SystemExit(f"--policies: unknown policy {n!r}; registered: {sorted(REGISTRY)}")
        slate = n.startswith("slate_") or n == "bts"
        if n == "random" or (L > 1 and not slate) or (L == 1 and n.startswith("slate_")):
            continue
        kw = dict(num_actions=K, context_dim=d)
        if n.startswith("slate_"):
            kw["len_list"] = L
        if n == "bts":
            kw.update(len_list=L, campaign="all" if site is not None else None)
        if n == "bernoulli_ts" and site is not None:
            kw.update(alpha0=site[0], beta0=site[1])
        if n in ("hybrid_linucb", "lints_feature_prior", "bernoulli_ts_feature_prior"):
            kw["item_features"] = phi
        out[n] = make(n, **kw)
    return out


# --------------------------------------------------------------------------- references


def make_jax_reference(arrays, horizon, seeds, policy):
    import jax
    import jax.numpy as jnp

    from benchmarks._jax_reference import textbook_member_rollout

    sim = {k: jnp.asarray(v, jnp.float32) for k, v in arrays.items()}
    fn = jax.jit(jax.vmap(lambda k: textbook_member_rollout(k, sim, horizon, policy)))
    keys = jax.random.split(jax.random.key(0), seeds)
    jax.block_until_ready(fn(keys))
    return lambda: jax.block_until_ready(fn(keys))


def make_numba_reference(arrays, horizon, seeds, policy):
    """A straightforward numba loop (None when numba is not installed)."""
    try:
        import numba
    except ImportError:
        return None
    import numpy as np

    ctx = arrays["contexts"].astype(np.float32)
    bias = arrays["item_bias"].astype(np.float32)
    W = arrays["member_weights"].astype(np.float32)
    slope, icpt = np.float32(arrays["slope"]), np.float32(arrays["intercept"])
    lints = policy == "lints"

    @numba.njit(parallel=True, fastmath=False)
    def run(seeds_arr, horizon):
        K, d = bias.shape[0], ctx.shape[1]
        out = np.zeros(seeds_arr.shape[0])
        for m in numba.prange(seeds_arr.shape[0]):
            np.random.seed(seeds_arr[m])
            A_inv = np.zeros((K, d, d), np.float32)
            for k in range(K):
                for i in range(d):
                    A_inv[k, i, i] = 1.0
            b = np.zeros((K, d), np.float32)
            total = 0.0
            for _ in range(horizon):
                x = ctx[np.random.randint(ctx.shape[0])]
                q = 1.0 / (1.0 + np.exp(-(slope * (bias + x @ W) + icpt)))
                best, a = -np.inf, 0
                for k in range(K):
                    Ax = A_inv[k] @ x
                    s = (A_inv[k] @ b[k]) @ x
                    w = np.sqrt(max(x @ Ax, 0.0))
                    s += w * np.random.standard_normal() if lints else w
                    if s > best:
                        best, a = s, k
                r = np.float32(1.0) if np.random.random() < q[a] else np.float32(0.0)
                Ax = A_inv[a] @ x
                A_inv[a] -= np.outer(Ax, Ax) / (1.0 + x @ Ax)
                b[a] += r * x
                total += q.max() - q[a]
            out[m] = total
        return out

    s = np.arange(seeds, dtype=np.int64)
    run(s[:2], 2)  # compile
    return lambda: run(s, horizon)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    a = parse_args(argv)
    n_dev = a.devices or os.cpu_count() or 1
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={n_dev}").strip()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import jax
    import numpy as np

    from bandits.engine.sweep import sweep

    env, phi, arrays = build_world(a.catalog, a.slots)
    pols = build_policies(env, phi, a.policies)
    if a.slots > 1:  # single-slot LinUCB on the same catalog, for the slate ratio
        env1, _, _ = build_world(a.catalog, 1)
        from bandits.policies import make

        lin1 = ("linucb@1slot", env1, make("linucb", num_actions=env1.num_actions, context_dim=env1.context_dim))
    else:
        lin1 = None
    chunk = a.chunk_size if a.chunk_size == "auto" else int(a.chunk_size)
    runs = {label: (env, p) for label, p in pols.items()}
    if lin1 is not None:
        runs[lin1[0]] = (lin1[1], lin1[2])

    def run(label):
        e, p = runs[label]
        t0 = time.perf_counter()
        df = sweep(e, {label: p}, a.seeds, horizon=a.horizon, chunk_size=chunk, checkpoints=None)
        return time.perf_counter() - t0, df

    compile_s, rss, chunk_used = {}, {}, {}
    for label in runs:  # compile every policy first (the first sweep call compiles, then runs once)
        _, df = run(label)
        compile_s[label] = float(df.attrs.get("compile_s", float("nan")))
        chunk_used[label] = df.attrs.get("chunk_size", {}).get(label, chunk)
        rss[label] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    refs = {}
    if not a.no_references and a.slots == 1:
        ref_h = a.reference_horizon or a.horizon
        for pol in ("linucb", "lints"):
            if pol in runs:
                refs[f"jax_reference:{pol}"] = (make_jax_reference(arrays, ref_h, a.seeds, pol), ref_h)
                nb = make_numba_reference(arrays, ref_h, a.seeds, pol)
                if nb is not None:
                    refs[f"numba:{pol}"] = (nb, ref_h)
    times = {label: [] for label in list(runs) + list(refs)}
    for _ in range(a.repeat):  # interleaved: one run of everything per repeat
        for label in runs:
            times[label].append(run(label)[0])
        for label, (fn, _) in refs.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)

    def rate(label, horizon=a.horizon):
        return a.seeds * horizon / min(times[label]), a.seeds * horizon / float(np.median(times[label]))

    base = rate("random")[0]
    lin_label = "linucb" if "linucb" in runs else (lin1[0] if lin1 is not None else None)
    lin = rate(lin_label)[0] if lin_label else None
    for label in runs:
        best, med = rate(label)
        row = {"policy": label, "catalog": env.num_actions if label != "linucb@1slot" else lin1[1].num_actions,
               "len_list": runs[label][0].len_list, "context_dim": env.context_dim, "seeds": a.seeds,
               "horizon": a.horizon, "rounds_per_s": best, "median_rounds_per_s": med,
               "compile_s": compile_s[label], "peak_rss_mb": rss[label], "chunk_size": chunk_used[label],
               "ratio_vs_random": best / base, "ratio_vs_linucb": best / lin if lin else None,
               "devices": len(jax.local_devices())}
        for kind in ("jax_reference", "numba"):
            key = f"{kind}:{label}"
            if key in refs:
                r_best, _ = rate(key, refs[key][1])
                row[f"{kind}_rounds_per_s"] = r_best
                row[f"ratio_vs_{kind}"] = best / r_best
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
