"""Simulation throughput: rounds x seeds per second of a policy on the linear-Gaussian world.

    python -m benchmarks.throughput --policy linucb --arms 10 --dim 10 --horizon 10000 --seeds 1000

Prints ONE JSON line:

* ``rounds_per_s``: horizon x seeds / seconds of :func:`bandits.engine.sweep.sweep` (compile excluded,
  reported as ``compile_s``; the run includes the environment, CRN key streams, full action
  probabilities and the in-scan regret reduction), best of ``--repeat`` runs;
* ``single_seed_rounds_per_s`` (one seed, one device, chunk of 1) and its ``single_seed_compile_s``;
* ``numpy_rounds_per_s``: a plain float64 numpy per-round loop of the same policy (same
  algorithm, probabilities included) timed in the same run on ``--numpy-rounds`` rounds, and
  ``ratio_vs_numpy``;
* ``jax_reference_rounds_per_s`` / ``single_seed_jax_reference_rounds_per_s``: the straightforward
  JAX reference of ``benchmarks/_jax_reference.py`` (vmap of a textbook scan) on the same sizes,
  timed in the same run on ``--reference-horizon`` rounds, and ``ratio_vs_jax_reference``;
* ``numpy_minimal_rounds_per_s``: the leanest numpy LinUCB loop (contexts and noise drawn before the
  loop, argmax, no probabilities); ``machine_factor_vs_issue`` is the core issue's quoted numpy
  figure (105k/s) divided by it, i.e. how much slower per-round code runs here than where the
  issue's figures were taken;
* ``issue_target``: the issue's target, its quoted straightforward-JAX figure, the ratio between
  them, and whether this run reaches that ratio against the in-process JAX reference and the
  target scaled by ``machine_factor_vs_issue`` (both are reported; neither is a measurement on the
  issue's machine);
* ``peak_rss_mb``: peak resident memory of this process;
* when numba is installed (the ``bench`` extra; not needed by the project) ``numba_rounds_per_s`` and
  ``ratio_vs_numba``: a straightforward compiled loop of the same LinUCB/LinTS on the same kind of
  world (float32, ``prange`` over seeds, Sherman-Morrison inverse, one draw per arm for LinTS, no
  probabilities), ``--seeds`` x ``--horizon`` rounds, each timed run alternating with a sweep run
  so the ratio is same-moment (best over best);
* when ``~/.cache/screentest-peers/bin/python`` exists: obp's and MABWiser's per-round loops
  (``benchmarks/_throughput_peer.py``, run there as a subprocess) and the ratios.

``--devices N`` splits the CPU into N XLA host devices (``--xla_force_host_platform_device_count``,
set before JAX starts) and the sweep shards its seed axis over them; the default is one device
per CPU core. ``--chunk-size`` is per device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

PEER_PYTHON = Path.home() / ".cache" / "screentest-peers" / "bin" / "python"
HERE = Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", choices=["linucb", "lints"], default="linucb")
    p.add_argument("--arms", type=int, default=10)
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--horizon", type=int, default=10_000)
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=0, help="members per device per call (0: seeds / devices)")
    p.add_argument("--devices", type=int, default=0, help="XLA host devices (0: one per CPU core)")
    p.add_argument("--unroll", type=int, default=1)
    p.add_argument("--num-samples", type=int, default=100, help="LinTS Monte Carlo samples for probs")
    p.add_argument("--prng-impl", default="threefry_fused")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each configuration (best and median kept)")
    p.add_argument("--reference-horizon", type=int, default=1000,
                   help="rounds of the straightforward JAX reference runs (0: skip them)")
    p.add_argument("--single-horizon", type=int, default=0, help="rounds of the single-seed run (0: horizon)")
    p.add_argument("--numpy-rounds", type=int, default=5000)
    p.add_argument("--obp-rounds", type=int, default=2000)
    p.add_argument("--mabwiser-rounds", type=int, default=300)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--no-numba", action="store_true", help="skip the compiled-loop reference")
    a = p.parse_args(argv)
    if a.reference_horizon < 0:
        p.error(f"--reference-horizon: expected an integer >= 0, got {a.reference_horizon}")
    for name in ("arms", "dim", "horizon", "seeds", "repeat", "numpy_rounds", "unroll", "num_samples"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(a, name)}")
    return a


# --------------------------------------------------------------------------- numpy reference


def numpy_reference(policy: str, K: int, d: int, n: int, num_samples: int, seed: int = 0) -> float:
    """Rounds/s of a float64 numpy per-round loop of the same policy on the same kind of world.

    LinUCB: per-arm ``P_a = A_a^{-1}`` and ``theta_a`` (Sherman-Morrison / recursive least squares,
    as bandits.policies._linalg), UCB scores, tie-split probabilities, draw. LinTS: the same
    ridge state, one univariate posterior score draw per arm and round (``num_samples`` is unused:
    the sweep's compiled program drops the Monte Carlo probabilities, which do not enter the
    regret). Environment: unit-sphere contexts, Gaussian noise for every arm.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    theta_true = rng.normal(size=(K, d))
    theta_true /= np.linalg.norm(theta_true, axis=1, keepdims=True)
    P = np.broadcast_to(np.eye(d), (K, d, d)).copy()
    th = np.zeros((K, d))
    alpha = v = 1.0
    x = rng.normal(size=d)
    x /= np.linalg.norm(x)
    regret = 0.0
    t0 = time.perf_counter()
    for _ in range(n):
        u = P @ x  # (K, d)
        quad = np.maximum(u @ x, 0.0)
        mean = th @ x
        if policy == "linucb":
            s = mean + alpha * np.sqrt(quad)
            best = s == s.max()
            probs = best / best.sum()
            a = min(int(np.searchsorted(np.cumsum(probs), rng.random(), side="right")), K - 1)
        else:
            # one posterior draw per round (the sweep's compiled program also drops the Monte Carlo
            # probabilities: they do not enter the regret, so XLA removes them as dead code)
            s0 = mean + v * np.sqrt(quad) * rng.normal(size=K)
            best = s0 == s0.max()
            probs = best / best.sum()
            a = int(np.flatnonzero(best)[0])
        mu = theta_true @ x
        r = mu[a] + 0.1 * rng.normal(size=K)[a]
        regret += mu.max() - mu[a]
        ua = u[a]
        den = 1.0 + max(ua @ x, 0.0)
        gain = ua / den
        th[a] += gain * (r - th[a] @ x)
        P[a] -= np.outer(gain, ua)
        x = rng.normal(size=d)
        x /= np.linalg.norm(x)
    del probs
    return n / (time.perf_counter() - t0)


def numpy_minimal(K: int, d: int, n: int, seed: int = 0) -> float:
    """Rounds/s of the leanest numpy LinUCB loop: contexts and noise drawn before the loop, UCB
    argmax (no probabilities, no tie-splitting), Sherman-Morrison update. A machine calibration:
    the core issue quotes a numpy per-round LinUCB loop at 105k rounds/s where its targets were set.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    theta_true = rng.normal(size=(K, d))
    noise = 0.1 * rng.normal(size=n)
    P = np.broadcast_to(np.eye(d), (K, d, d)).copy()
    th = np.zeros((K, d))
    t0 = time.perf_counter()
    for t in range(n):
        x = xs[t]
        u = P @ x
        a = int(np.argmax(th @ x + np.sqrt(u @ x)))
        r = theta_true[a] @ x + noise[t]
        ua = u[a]
        den = 1.0 + ua @ x
        th[a] += ua * (r - th[a] @ x) / den
        P[a] -= np.outer(ua, ua) / den
    return n / (time.perf_counter() - t0)


def make_numba_loop(policy: str, K: int, d: int, seeds: int, horizon: int):
    """A straightforward compiled loop (numba, ``prange`` over seeds) of the same policy on the
    linear-Gaussian world; returns a zero-argument callable running ``seeds x horizon`` rounds, or
    None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None
    import numpy as np

    rng = np.random.default_rng(0)
    theta = rng.normal(size=(K, d)).astype(np.float32)
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    lints = policy == "lints"

    @numba.njit(parallel=True, fastmath=False)
    def run(seeds_arr, horizon):  # explicit loops: no temporaries inside the round
        out = np.zeros(seeds_arr.shape[0])
        for m in numba.prange(seeds_arr.shape[0]):
            np.random.seed(seeds_arr[m])
            P = np.zeros((K, d, d), np.float32)
            for k in range(K):
                for i in range(d):
                    P[k, i, i] = 1.0
            th = np.zeros((K, d), np.float32)
            x = np.empty(d, np.float32)
            u = np.empty(d, np.float32)
            total = 0.0
            for _ in range(horizon):
                nrm = 0.0
                for i in range(d):
                    x[i] = np.random.standard_normal()
                    nrm += x[i] * x[i]
                nrm = np.sqrt(nrm)
                for i in range(d):
                    x[i] /= nrm
                best, a = -np.inf, 0
                for k in range(K):
                    q, mean = 0.0, 0.0
                    for i in range(d):
                        acc = 0.0
                        for j in range(d):
                            acc += P[k, i, j] * x[j]
                        q += x[i] * acc
                        mean += th[k, i] * x[i]
                    w = np.sqrt(max(q, 0.0))
                    s = mean + (w * np.random.standard_normal() if lints else w)
                    if s > best:
                        best, a = s, k
                mu_best, mu_a = -np.inf, 0.0
                for k in range(K):
                    mu = 0.0
                    for i in range(d):
                        mu += theta[k, i] * x[i]
                    mu_best = max(mu_best, mu)
                    if k == a:
                        mu_a = mu
                r = mu_a + 0.1 * np.random.standard_normal()
                den, pred = 1.0, 0.0
                for i in range(d):
                    acc = 0.0
                    for j in range(d):
                        acc += P[a, i, j] * x[j]
                    u[i] = acc
                    den += x[i] * acc
                    pred += th[a, i] * x[i]
                g = (r - pred) / den
                for i in range(d):
                    th[a, i] += u[i] * g
                    for j in range(d):
                        P[a, i, j] -= u[i] * u[j] / den
                total += mu_best - mu_a
            out[m] = total
        return out

    s = np.arange(seeds, dtype=np.int64)
    run(s[:2], 2)  # compile
    return lambda: run(s, horizon)


# the core issue's figures (rounds x seeds / s, its machine): target and "straightforward" reference
ISSUE_NUMPY_LINUCB = 105_000.0
ISSUE_FIGURES = {
    ("linucb", "sweep"): (10e6, 2.4e6),  # quoted 2.4-3.0M: the lower end makes the required ratio larger
    ("linucb", "single"): (1e6, 0.8e6),
    ("lints", "sweep"): (2e6, 0.3e6),
}


def issue_targets(policy: str, sweep_rate: float, single_rate: float, ref: dict, factor: float | None) -> list:
    out = []
    for (pol, kind), (target, quoted_ref) in ISSUE_FIGURES.items():
        if pol != policy:
            continue
        rate = sweep_rate if kind == "sweep" else single_rate
        ref_rate = ref.get("jax_reference_rounds_per_s" if kind == "sweep" else
                           "single_seed_jax_reference_rounds_per_s")
        row = {"kind": kind, "target": target, "issue_reference": quoted_ref,
               "required_ratio": target / quoted_ref, "rate": rate}
        if ref_rate:
            row["ratio_vs_jax_reference"] = rate / ref_rate
            row["meets_ratio"] = bool(rate / ref_rate >= target / quoted_ref)
        if factor:
            row["scaled_target"] = target / factor
            row["meets_scaled_target"] = bool(rate >= target / factor)
        out.append(row)
    return out


def time_references(policy: str, env, a) -> dict:
    """The straightforward JAX reference (benchmarks/_jax_reference.py), best of ``a.repeat``."""
    import jax

    from benchmarks._jax_reference import make_reference

    theta = env.default_params.theta
    out = {"reference_horizon": a.reference_horizon}
    for label, seeds in (("", a.seeds), ("single_seed_", 1)):
        fn, keys = make_reference(theta, a.reference_horizon, policy, seeds)
        jax.block_until_ready(fn(keys))
        runs = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(keys))
            runs.append(seeds * a.reference_horizon / (time.perf_counter() - t0))
        out[f"{label}jax_reference_rounds_per_s"] = max(runs)
    return out


# --------------------------------------------------------------------------- peers


def run_peers(policy: str, K: int, d: int, n_obp: int, n_mab: int) -> dict:
    if not PEER_PYTHON.exists():
        return {"peers": "not available (~/.cache/screentest-peers/bin/python missing)"}
    cmd = [str(PEER_PYTHON), str(HERE / "_throughput_peer.py"), policy, str(K), str(d), str(n_obp),
           str(n_mab), "0"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as e:  # report, do not fail the benchmark
        return {"peers_error": repr(e)}


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    a = parse_args(argv)
    n_dev = a.devices or (os.cpu_count() or 1)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={n_dev}").strip()
    sys.path.insert(0, str(HERE.parent))

    import jax
    import numpy as np

    from bandits.engine.sweep import sweep
    from bandits.policies import make
    from envs.synthetic import linear_gaussian

    devices = jax.local_devices()
    chunk = a.chunk_size or -(-a.seeds // len(devices))
    env = linear_gaussian(a.arms, a.dim, noise_sd=0.1)
    kw = {"num_samples": a.num_samples} if a.policy == "lints" else {}
    pol = make(a.policy, num_actions=a.arms, context_dim=a.dim, **kw)

    numba_loop = None if a.no_numba else make_numba_loop(a.policy, a.arms, a.dim, a.seeds, a.horizon)
    numba_runs = []
    best, best_cpu, compile_s, df = float("inf"), float("inf"), None, None
    runs = []
    for _ in range(a.repeat):
        if numba_loop is not None:  # alternate with the sweep runs: a same-moment comparison
            t0 = time.perf_counter()
            numba_loop()
            numba_runs.append(a.seeds * a.horizon / (time.perf_counter() - t0))
        c0 = time.process_time()
        t0 = time.perf_counter()
        df = sweep(env, {a.policy: pol}, a.seeds, horizon=a.horizon, checkpoints=None, chunk_size=chunk,
                   unroll=a.unroll, prng_impl=a.prng_impl)
        wall = time.perf_counter() - t0
        if compile_s is None:
            compile_s = df.attrs["compile_s"]
        best = min(best, wall - df.attrs["compile_s"])
        runs.append(wall - df.attrs["compile_s"])
        best_cpu = min(best_cpu, time.process_time() - c0 - df.attrs["compile_cpu_s"])
    rounds_per_s = a.horizon * a.seeds / best

    T1 = a.single_horizon or a.horizon
    t0 = time.perf_counter()
    one = sweep(env, {a.policy: pol}, [0], horizon=T1, checkpoints=None, chunk_size=1, devices=devices[:1],
                unroll=a.unroll, prng_impl=a.prng_impl)
    single_compile = one.attrs["compile_s"]
    single_runs = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        sweep(env, {a.policy: pol}, [0], horizon=T1, checkpoints=None, chunk_size=1, devices=devices[:1],
              unroll=a.unroll, prng_impl=a.prng_impl)
        single_runs.append(T1 / (time.perf_counter() - t0))
    single = max(single_runs)

    ref = time_references(a.policy, env, a) if a.reference_horizon else {}
    np_rate = numpy_reference(a.policy, a.arms, a.dim, a.numpy_rounds, a.num_samples)
    np_min = numpy_minimal(a.arms, a.dim, a.numpy_rounds)
    factor = ISSUE_NUMPY_LINUCB / np_min
    out = {
        "policy": a.policy, "arms": a.arms, "dim": a.dim, "horizon": a.horizon, "seeds": a.seeds,
        "devices": len(devices), "chunk_size": chunk, "unroll": a.unroll, "prng_impl": a.prng_impl,
        "num_samples": a.num_samples if a.policy == "lints" else None,
        "repeat": a.repeat, "rounds_per_s": rounds_per_s,
        "median_rounds_per_s": a.horizon * a.seeds / float(np.median(runs)),
        "compile_s": compile_s, "run_s": best,
        "rounds_per_cpu_s": a.horizon * a.seeds / best_cpu,
        "single_seed_rounds_per_s": single, "single_seed_median_rounds_per_s": float(np.median(single_runs)),
        "single_seed_compile_s": single_compile,
        "numpy_rounds_per_s": np_rate, "numpy_rounds": a.numpy_rounds,
        "ratio_vs_numpy": rounds_per_s / np_rate, "single_seed_ratio_vs_numpy": single / np_rate,
        "mean_cum_regret": float(df["cum_regret"].mean()),
        **ref,
        "numpy_minimal_rounds_per_s": np_min, "machine_factor_vs_issue": factor,
    }
    if numba_runs:
        out["numba_rounds_per_s"] = max(numba_runs)
        out["numba_median_rounds_per_s"] = float(np.median(numba_runs))
        out["ratio_vs_numba"] = rounds_per_s / max(numba_runs)
    elif not a.no_numba:
        out["numba"] = "not installed (pip install -e '.[bench]')"
    if ref:
        out["ratio_vs_jax_reference"] = rounds_per_s / ref["jax_reference_rounds_per_s"]
        out["single_seed_ratio_vs_jax_reference"] = single / ref["single_seed_jax_reference_rounds_per_s"]
    out["issue_target"] = issue_targets(a.policy, rounds_per_s, single, ref, factor)
    if not a.no_peers:
        peers = run_peers(a.policy, a.arms, a.dim, a.obp_rounds, a.mabwiser_rounds)
        out.update(peers)
        for name in ("obp", "mabwiser"):
            r = peers.get(f"{name}_rounds_per_s")
            if r:
                out[f"ratio_vs_{name}"] = rounds_per_s / r
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load_avg_1m"] = os.getloadavg()[0]
    out["cpu"] = platform.processor() or platform.machine()
    out["jax"] = jax.__version__
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
