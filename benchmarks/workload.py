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
  :func:`bandits.engine.sweep.sweep`, compilation excluded (``compile_s``). Policies are measured
  one after another (LinUCB first, then random, then the rest) and each line is printed as soon as
  its policy is measured; each of a policy's runs alternates with a run of the random policy;
* ``ratio_vs_random``: best policy rate over the best rate of the random policy (uniformly random
  slates for slates: the world's own cost) in the runs interleaved with it (``random_rounds_per_s``),
  so a same-moment ratio on a loaded machine; ``ratio_vs_linucb``: the policy's ``ratio_vs_random``
  over LinUCB's (single-slot LinUCB on the same catalog, slates included), a ratio of such ratios;
* for LinUCB and LinTS, ``jax_reference_rounds_per_s`` and ``ratio_vs_jax_reference``: the
  straightforward vmap(scan) of ``benchmarks/_jax_reference.py`` on the same simulator, and when
  numba is installed (the ``bench`` extra) ``numba_rounds_per_s`` / ``ratio_vs_numba``: a
  straightforward numba loop (``prange`` over seeds), both timed in the policy's interleaved repeats;
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
    p.add_argument("--penalties", default=None,
                   help="MAIN,INTERACTION: the simulator's L2 strengths, skipping its cross-validated search")
    a = p.parse_args(argv)
    for name in ("catalog", "seeds", "horizon", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    if a.catalog < 80:
        p.error(f"--catalog: expected >= 80 (the fitted items), got {a.catalog}")
    if a.penalties is not None:
        raw = a.penalties
        try:
            a.penalties = [float(v) for v in raw.split(",")]
        except ValueError:
            a.penalties = []
        if len(a.penalties) != 2 or not all(v > 0 for v in a.penalties):
            p.error(f"--penalties: expected two positive numbers MAIN,INTERACTION, got {raw!r}")
    if a.chunk_size != "auto" and not (a.chunk_size.isdigit() and int(a.chunk_size) >= 1):
        p.error(f"--chunk-size: expected 'auto' or an integer >= 1, got {a.chunk_size!r}")
    return a


# --------------------------------------------------------------------------- the world


def build_world(catalog: int, slots: int, penalties=None):
    """``(env, item_features (K, p), sim_arrays, env_of)``: the fitted simulator, widened to ``catalog``
    items; ``env_of(L)`` builds the same world with ``L`` slots (one fit for both layouts)."""
    import dataclasses

    import numpy as np

    from bandits.datasets import load_obd
    from envs.logged import make_member_env
    from experiments.builders import build_simulator

    data = load_obd("random", "all")
    sim = build_simulator(data, len_list=slots, item_prior="site", add_intercept=True, penalties=penalties)
    phi = np.asarray(data.action_context, np.float64)
    phi = (phi - phi.mean(0)) / np.where(phi.std(0) > 0, phi.std(0), 1.0)
    model = sim.model
    if catalog > model.n_actions:
        rng = np.random.default_rng(2024)
        idx = rng.integers(0, model.n_actions, catalog)
        jitter = rng.normal(0, 0.25 * model.item_bias.std(), catalog)
        model = dataclasses.replace(model, item_bias=model.item_bias[idx] + jitter,
                                    member_weights=model.member_weights[:, idx])
        phi = phi[idx]

    def env_of(len_list):
        if len_list == slots and model is sim.model:
            return sim.env
        return make_member_env(model, sim.contexts, len_list=len_list, add_intercept=True)

    env = env_of(slots)
    p = env.default_params
    arrays = {"contexts": np.asarray(p.contexts), "item_bias": np.asarray(p.item_bias),
              "member_weights": np.asarray(p.member_weights), "slope": float(p.calib_a),
              "intercept": float(p.calib_b + p.calib_a * float(np.asarray(p.position_effect)[0]))}
    return env, phi, arrays, env_of


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

    env, phi, arrays, env_of = build_world(a.catalog, a.slots, a.penalties)
    pols = build_policies(env, phi, a.policies)
    runs = {label: (env, p) for label, p in pols.items()}
    lin_label = "linucb" if "linucb" in runs else None
    if a.slots > 1:  # single-slot LinUCB on the same catalog (same fit), for the slate ratio
        from bandits.policies import make

        env1 = env_of(1)
        lin_label = "linucb@1slot"
        runs[lin_label] = (env1, make("linucb", num_actions=env1.num_actions, context_dim=env1.context_dim))
    chunk = a.chunk_size if a.chunk_size == "auto" else int(a.chunk_size)
    # measured first: LinUCB (the baseline of ratio_vs_linucb), then the random policy, then the rest
    order = ([lin_label] if lin_label else []) + ["random"] + [n for n in runs if n not in ("random", lin_label)]

    def run(label):
        e, p = runs[label]
        t0 = time.perf_counter()
        df = sweep(e, {label: p}, a.seeds, horizon=a.horizon, chunk_size=chunk, checkpoints=None)
        return time.perf_counter() - t0, df

    def compile_(label):  # the first sweep call compiles, then runs once
        _, df = run(label)
        return (float(df.attrs.get("compile_s", float("nan"))), df.attrs.get("chunk_size", {}).get(label, chunk))

    def timed_reference(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    compiled = {"random": compile_("random")}
    ref_h = a.reference_horizon or a.horizon
    vs_random_of_linucb = None
    for label in order:
        compile_s, chunk_used = compiled[label] if label in compiled else compile_(label)
        refs = {}
        if not a.no_references and label in ("linucb", "lints"):
            refs["jax_reference"] = make_jax_reference(arrays, ref_h, a.seeds, label)
            nb = make_numba_reference(arrays, ref_h, a.seeds, label)
            if nb is not None:
                refs["numba"] = nb
        t_rand, t_pol, t_ref = [], [], {k: [] for k in refs}
        for _ in range(a.repeat):  # interleaved with the random policy's runs: same-moment ratios
            t_rand.append(run("random")[0])
            t_pol.append(run(label)[0] if label != "random" else t_rand[-1])
            for k, fn in refs.items():
                t_ref[k].append(timed_reference(fn))
        best, med = a.seeds * a.horizon / min(t_pol), a.seeds * a.horizon / float(np.median(t_pol))
        vs_random = min(t_rand) / min(t_pol)
        if label == lin_label:
            vs_random_of_linucb = vs_random
        e = runs[label][0]
        row = {"policy": label, "catalog": e.num_actions, "len_list": e.len_list, "context_dim": e.context_dim,
               "seeds": a.seeds, "horizon": a.horizon, "rounds_per_s": best, "median_rounds_per_s": med,
               "compile_s": compile_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "chunk_size": chunk_used, "random_rounds_per_s": a.seeds * a.horizon / min(t_rand),
               "ratio_vs_random": vs_random,
               "ratio_vs_linucb": vs_random / vs_random_of_linucb if vs_random_of_linucb else None,
               "devices": len(jax.local_devices())}
        for k, ts in t_ref.items():
            r_best = a.seeds * ref_h / min(ts)
            row[f"{k}_rounds_per_s"] = r_best
            row[f"ratio_vs_{k}"] = best / r_best
        print(json.dumps(row), flush=True)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
