"""Poisson bootstrap on 10^7 rows: time and agreement with the exact bootstrap. One JSON line.

    .venv/bin/python benchmarks/bootstrap.py [--n 10000000] [--B 1000] [--dist lognormal|normal|binary]
                                             [--n-exact 100000] [--repeats 3]

Target: B = 1,000 on 10^7 rows <= 2 s on a 2-core CPU. Timed: compressing the rows
(``compress``: one bincount pass for integer metrics, n-tile buckets otherwise) plus the B
replicates (``poisson_bootstrap_mean``); best of ``--repeats``.

Agreement, two ways:
1. at ``--n-exact`` rows, the compressed bootstrap vs the exact row-level Poisson bootstrap
   (``poisson_bootstrap_rows``, B x n Poisson weights): interval ends differ by
   ``z = diff / (sqrt(2) * SE_q)`` Monte Carlo standard errors, SE_q being the SE of the 2.5%
   quantile of B replicates (``sqrt(q (1-q) / B) / phi(z_q) * sd``);
2. at ``--n`` rows, vs the exact bootstrap's limit for B -> infinity, ``mean +- 1.96 sd / sqrt(n)``
   (the bootstrap distribution of a mean of 10^7 rows is normal up to O(skewness / sqrt(n))).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.abtest.bootstrap import (  # noqa: E402
    compress,
    percentile_interval,
    poisson_bootstrap_mean,
    poisson_bootstrap_rows,
)


def _data(dist: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dist == "lognormal":
        return rng.lognormal(0.0, 1.0, n)
    if dist == "normal":
        return rng.normal(0.0, 1.0, n)
    if dist == "binary":
        return (rng.random(n) < 0.05).astype(np.float64)
    raise SystemExit(f"--dist: expected lognormal, normal or binary, got {dist!r}")


def _q_se(B: int, sd: float, q: float = 0.025) -> float:
    return float(np.sqrt(q * (1 - q) / B) / norm.pdf(norm.ppf(q)) * sd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--dist", default="lognormal")
    ap.add_argument("--n-exact", type=int, default=100_000)
    ap.add_argument("--buckets", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    y = _data(a.dist, a.n, a.seed)
    best = (np.inf, 0.0, 0.0)
    for r in range(a.repeats):
        t0 = time.perf_counter()
        comp = compress(y, n_buckets=a.buckets)
        t1 = time.perf_counter()
        reps = poisson_bootstrap_mean(comp, a.B, seed=a.seed + r)
        t2 = time.perf_counter()
        if t2 - t0 < best[0]:
            best = (t2 - t0, t1 - t0, t2 - t1)
    lo, hi = percentile_interval(reps)
    sd = float(y.std() / np.sqrt(a.n))
    lim_lo, lim_hi = float(y.mean() - norm.ppf(0.975) * sd), float(y.mean() + norm.ppf(0.975) * sd)
    se_q = _q_se(a.B, sd)

    ys = y[: a.n_exact]
    t0 = time.perf_counter()
    exact = poisson_bootstrap_rows((ys[k:k + 10_000] for k in range(0, ys.size, 10_000)), a.B, seed=a.seed + 100)
    t_rows = time.perf_counter() - t0
    small = poisson_bootstrap_mean(compress(ys, n_buckets=a.buckets), a.B, seed=a.seed + 200)
    sd_s = float(ys.std() / np.sqrt(ys.size))
    se_s = _q_se(a.B, sd_s)
    e_lo, e_hi = percentile_interval(exact)
    c_lo, c_hi = percentile_interval(small)
    out = dict(
        benchmark="bootstrap", n=a.n, B=a.B, dist=a.dist, buckets=int(comp.counts.size), exact_compression=comp.exact,
        seconds=round(best[0], 4), compress_s=round(best[1], 4), replicates_s=round(best[2], 4), target_s=2.0,
        ci=[lo, hi], limit_ci=[lim_lo, lim_hi],
        z_vs_limit=[(lo - lim_lo) / se_q, (hi - lim_hi) / se_q],
        n_exact=a.n_exact, exact_row_ci=[e_lo, e_hi], compressed_ci=[c_lo, c_hi],
        z_vs_exact_rows=[(c_lo - e_lo) / (np.sqrt(2) * se_s), (c_hi - e_hi) / (np.sqrt(2) * se_s)],
        row_level_s=round(t_rows, 4), row_level_s_extrapolated_to_n=round(t_rows * a.n / a.n_exact, 1),
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
