"""Confidence intervals for the column-mean estimators of :mod:`bandits.estimators.core`.

Both kinds work on the per-row column matrix ``C (n_rounds, m)`` float64 (stored transposed,
``(m, n)``) shared by all the estimators being evaluated, so the cost hardly grows with the
number of estimators.

Normal approximation (delta method)
    Each estimate is a smooth function ``f`` of the column means; with ``g = grad f`` and
    ``Sigma`` the column covariance (ddof 1), ``se = sqrt(g' Sigma g / n)`` and the interval is
    ``estimate -/+ z_{1-alpha/2} se``. For a plain mean this is the usual ``std/sqrt(n)``; for a
    ratio (SNIPS, SNDR, replay) it is the linearisation ``(num_i - R den_i) / mean(den)``. The
    covariance is accumulated chunk by chunk with Chan et al.'s pairwise update, so streamed logs
    give the same answer as in-memory ones.

Bootstrap (percentile), vectorised
    A replicate reweights every row by an independent Poisson(1) count ``w_bi`` (the Poisson
    bootstrap: Hanley & MacGibbon 2006; Chamandy et al. 2012) and recomputes each estimate from
    weighted column means ``sum_i w_bi C_i / sum_i w_bi``; ratio estimators are ratios of weighted
    sums. No estimator is refitted: all replicates of all estimators are weighted sums of ``C``.

    Exact Poisson weights for B replicates need B * n draws (1e9 for B = 1000, n = 1M), and
    generating them dominates the cost. Above ``direct_limit`` draws we use a *pooled* scheme that
    keeps every replicate an exact Poisson bootstrap replicate and costs ~n draws plus one dense
    matrix product:

    1. rows are randomly permuted (the statistic does not care; this removes any ordering in the
       log) and cut into ``K_c <= B`` chunks of ``s = ceil(n / B)`` rows (the last one padded
       with zero rows);
    2. a pool ``W (B, s)`` of iid Poisson(1) weight vectors is drawn;
    3. replicate ``b`` weights chunk ``k`` with pool vector ``(b + k) mod B``: within a replicate
       the ``K_c`` chunks get *distinct* pool vectors, so its n weights are iid Poisson(1)
       exactly; two replicates never share a vector on the same chunk (a Latin-rectangle
       assignment);
    4. ``T = W @ [C_1 | ... | C_Kc]`` is one (B, s) x (s, K_c m) GEMM (BLAS at full speed,
       instead of a skinny (B, n) x (n, m) product), and replicate sums are skewed-diagonal sums
       of ``T`` read through a strided view.

    The only departure from B fully independent replicates: replicates ``b != b'`` may reuse a
    vector on *different* chunks, which correlates them through ``sum_i c_ki c_k'i`` over two
    disjoint, randomly permuted sets of centred rows, a correlation of order ``1/sqrt(n)``
    (1e-3 at n = 1M). That affects only the Monte-Carlo noise of the percentiles, not their
    target. ``tests/bandits/estimators/test_estimators_statistics.py`` checks the pooled scheme against direct iid
    weights and the coverage of the resulting intervals.

    ``method="multinomial"`` draws classic with-replacement resamples (counts ~ Multinomial(n,
    1/n)) exactly, B * n draws, for those who want the textbook bootstrap on small logs.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from scipy.stats import norm
from threadpoolctl import ThreadpoolController

DIRECT_LIMIT = 20_000_000  # B * n at or below which the bootstrap draws iid weights directly
SMALL_GEMM_FLOPS = 200_000_000  # below this a multi-threaded BLAS costs more (thread wake-ups) than it saves


def blas_threads_for(flops: float):
    """Context manager (applied on creation, so make a new one per ``with``): one BLAS thread for
    small products, the library default otherwise.

    For small products the thread pool's wake-ups and contention cost more than the extra
    threads save.
    """
    if flops < SMALL_GEMM_FLOPS:
        return one_blas_thread()
    return contextlib.nullcontext()


_CONTROLLER: ThreadpoolController | None = None


def one_blas_thread():
    """Context manager limiting BLAS to one thread (the library scan is done once and cached)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


class Moments:
    """Streaming column means and covariance (Chan, Golub & LeVeque's pairwise update).

    add(Ct): Ct ``(m, n_chunk)`` float64, one row per column. Attributes n (int), mean ``(m,)``,
    m2 ``(m, m)`` (sum of centred outer products).
    """

    def __init__(self, m: int):
        self.n = 0
        self.mean = np.zeros(m)
        self.m2 = np.zeros((m, m))

    def add(self, Ct: np.ndarray) -> None:
        """Ct ``(m, n_chunk)``: one row per column."""
        self._add(Ct, ones_row=False)

    def add_with_ones(self, Ct1: np.ndarray) -> None:
        """Like :meth:`add` for a matrix whose last row is all ones (one GEMM gives everything)."""
        self._add(Ct1, ones_row=True)

    def _add(self, Ct: np.ndarray, ones_row: bool) -> None:
        nc = Ct.shape[1]
        if nc == 0:
            return
        m = self.mean.shape[0]
        with blas_threads_for(2.0 * Ct.size * Ct.shape[0]):
            if ones_row:
                P = Ct @ Ct.T  # (m + 1, m + 1): cross-products, sums (last column), count
                mc = P[:m, m] / nc
                # centred cross-products from raw ones: relative error ~ eps * (1 + mean^2 / var)
                m2c = P[:m, :m] - nc * np.outer(mc, mc)
            else:
                mc = Ct.sum(axis=1) / nc
                D = Ct - mc[:, None]
                m2c = D @ D.T
        tot = self.n + nc
        delta = mc - self.mean
        self.mean = self.mean + delta * (nc / tot)
        self.m2 = self.m2 + m2c + np.outer(delta, delta) * (self.n * nc / tot)
        self.n = tot

    @property
    def cov(self) -> np.ndarray:
        """Column covariance ``(m, m)``, ddof 1 (zeros when n < 2)."""
        return self.m2 / max(self.n - 1, 1)


def normal_interval(values: np.ndarray, grads: np.ndarray, cov: np.ndarray, n: int, alpha: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delta-method interval. values ``(E,)``, grads ``(E, m)``, cov ``(m, m)``.

    Returns ``(low, high, se)``, each ``(E,)``.
    """
    var = np.einsum("em,mk,ek->e", grads, cov, grads) / n
    se = np.sqrt(np.maximum(var, 0.0))
    z = norm.ppf(1.0 - alpha / 2.0)
    return values - z * se, values + z * se, se


def _pooled_poisson_sums(Ct: np.ndarray, n_bootstrap: int, rng: np.random.Generator,
                         block_bytes: int = 16 << 20) -> np.ndarray:
    """Pooled exact-marginal Poisson bootstrap (see the module docstring).

    Ct ``(m1, n)`` float64, its last row the ones row. Returns ``(B, m1)`` weighted sums.
    """
    m1, n = Ct.shape
    B = n_bootstrap
    s = max(1, math.ceil(n / B))
    kc = math.ceil(n / s)  # number of chunks, <= B
    perm = rng.permutation(n)
    Cp = np.zeros((m1, kc * s))
    np.take(Ct, perm, axis=1, out=Cp[:, :n])
    # (s, kc * m1): column block k holds chunk k
    Cmat = np.ascontiguousarray(Cp.reshape(m1, kc, s).transpose(2, 1, 0).reshape(s, kc * m1))
    del Cp
    W = rng.poisson(1.0, size=(B, s)).astype(np.float64)
    out = np.zeros((B, m1))
    # process chunk groups so that T (B, g * m1) stays under block_bytes
    g = max(1, min(kc, block_bytes // (8 * B * m1)))
    with blas_threads_for(2.0 * B * s * kc * m1):
        for k0 in range(0, kc, g):
            k1 = min(kc, k0 + g)
            gk = k1 - k0
            T = (W @ Cmat[:, k0 * m1:k1 * m1]).reshape(B, gk, m1)
            # replicate j takes pool vector (j + k) mod B on chunk k: out[j] += sum_k T[(j + k) % B, k - k0].
            # Stack T on itself along the pool axis and read the skewed diagonals through a strided
            # view (no gather); the replicate labels need no shuffling since replicates are exchangeable.
            T2 = np.concatenate([T, T], axis=0)[(k0 % B):]  # row r is pool vector (r + k0) mod B
            st = T2.strides
            V = np.lib.stride_tricks.as_strided(T2, shape=(B, gk, m1), strides=(st[0], st[0] + st[1], st[2]),
                                                writeable=False)
            out += V.sum(axis=1)
    return out


def _direct_poisson_sums(Ct: np.ndarray, n_bootstrap: int, rng: np.random.Generator,
                         chunk: int = 4096) -> np.ndarray:
    """Exact iid Poisson(1) weights, ``(B, chunk) @ (chunk, m1)`` per row chunk."""
    m1, n = Ct.shape
    out = np.zeros((n_bootstrap, m1))
    with blas_threads_for(2.0 * n_bootstrap * chunk * m1):
        for i0 in range(0, n, chunk):
            blk = Ct[:, i0:i0 + chunk]
            W = rng.poisson(1.0, size=(n_bootstrap, blk.shape[1])).astype(np.float64)
            out += W @ blk.T
    return out


def _multinomial_sums(Ct: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Classic resampling with replacement: counts ~ Multinomial(n, 1/n) per replicate."""
    m1, n = Ct.shape
    out = np.empty((n_bootstrap, m1))
    for b in range(n_bootstrap):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        out[b] = Ct @ counts
    return out


def bootstrap_sums(Ct: np.ndarray, n_bootstrap: int, rng: np.random.Generator, shift: np.ndarray,
                   method: str = "poisson", direct_limit: int = DIRECT_LIMIT) -> np.ndarray:
    """Weighted sums of ``C - shift`` and of the weights: ``(n_bootstrap, m + 1)``.

    Ct ``(m, n)``: one row per column. Sums from independent row batches add up (Poisson weights
    are independent across rows), which is how streamed logs are bootstrapped.
    """
    m, n = shift.shape[0], Ct.shape[1]  # Ct may carry a trailing ones row (ignored here)
    C1 = np.empty((m + 1, n))
    np.subtract(Ct[:m], shift[:, None], out=C1[:m])
    C1[m] = 1.0
    if method == "poisson":
        if n_bootstrap * n <= direct_limit or n_bootstrap < 2:
            return _direct_poisson_sums(C1, n_bootstrap, rng)
        return _pooled_poisson_sums(C1, n_bootstrap, rng)
    if method == "multinomial":
        return _multinomial_sums(C1, n_bootstrap, rng)
    raise ValueError(f"bootstrap_method: expected 'poisson' or 'multinomial', got {method!r}")


def means_from_sums(S: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(B, m + 1)`` weighted sums -> ``(B, m)`` weighted means (NaN for an all-zero replicate)."""
    m = S.shape[1] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return shift + S[:, :m] / S[:, m:]


def bootstrap_means(Ct: np.ndarray, n_bootstrap: int, rng: np.random.Generator, method: str = "poisson",
                    shift: np.ndarray | None = None, direct_limit: int = DIRECT_LIMIT) -> np.ndarray:
    """Bootstrap replicates of the column means.

    Ct ``(m, n)`` float64 per-row columns (one row per column); returns ``(n_bootstrap, m)`` weighted column means
    ``sum_i w_bi C_i / sum_i w_bi``. ``shift`` ``(m,)`` (default: the column means) is subtracted
    before the products and added back, which keeps the sums well conditioned.
    method: ``"poisson"`` (pooled when ``n_bootstrap * n > direct_limit``, else direct) or
    ``"multinomial"``.
    """
    if shift is None:
        shift = Ct.mean(axis=1)
    return means_from_sums(bootstrap_sums(Ct, n_bootstrap, rng, shift, method, direct_limit), shift)


def percentile_interval(reps: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """reps ``(B, E)`` -> ``(low, high, se)`` each ``(E,)``.

    An undefined (NaN) replicate, e.g. a ratio estimator whose replicate put no weight on any
    supported row, is not dropped (that would narrow the interval by conditioning on the lucky
    replicates): it counts as ``-inf`` for the lower end and ``+inf`` for the upper one, so the
    interval widens, to infinity once such replicates exceed ``alpha / 2`` of them. ``se`` is over
    the defined replicates (NaN when fewer than 2).
    """
    bad = np.isnan(reps)
    lo = np.quantile(reps, alpha / 2.0, axis=0)
    hi = np.quantile(reps, 1.0 - alpha / 2.0, axis=0)
    any_bad = bad.any(axis=0)
    if any_bad.any():  # the nearest order statistics outward (interpolating towards infinity is undefined)
        lo = np.where(any_bad, np.quantile(np.where(bad, -np.inf, reps), alpha / 2.0, axis=0, method="lower"), lo)
        hi = np.where(any_bad, np.quantile(np.where(bad, np.inf, reps), 1.0 - alpha / 2.0, axis=0, method="higher"), hi)
    ok = (~bad).sum(axis=0)
    se = np.full(reps.shape[1], np.nan)
    for e in np.flatnonzero(ok >= 2):
        se[e] = np.std(reps[~bad[:, e], e], ddof=1)
    return lo, hi, se


def jackknife_means(Ct1: np.ndarray) -> np.ndarray:
    """Leave-one-out column means ``(n, m)`` from ``Ct1 (m + 1, n)`` (its last row the ones row):
    row ``i`` is the mean of every column over all units but ``i``."""
    m, n = Ct1.shape[0] - 1, Ct1.shape[1]
    if n < 2:
        raise ValueError(f"interval: 'bca' needs at least 2 units for its jackknife, got {n}")
    tot = Ct1[:m].sum(axis=1)
    return (tot[None, :] - Ct1[:m].T) / (n - 1)


def bca_interval(reps: np.ndarray, values: np.ndarray, jack: np.ndarray, alpha: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias-corrected and accelerated bootstrap interval (Efron 1987), as ``scipy.stats.bootstrap``
    computes it.

    reps ``(B, E)`` bootstrap replicates, values ``(E,)`` the estimates, jack ``(n, E)`` the
    leave-one-out estimates, alpha: a ``1 - alpha`` interval. The bias correction is
    ``z0 = Phi^-1(share of replicates below the estimate)``, the acceleration
    ``a = sum(d^3) / (6 (sum d^2)^1.5)`` with ``d = mean(jack) - jack``; the interval is the
    replicates' ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` quantiles for ``z = z_{alpha/2}, z_{1-alpha/2}``.
    Returns ``(low, high, se)`` each ``(E,)``, se the replicates' SD (NaN replicates dropped).
    """
    E = values.shape[0]
    lo, hi, se = np.full(E, np.nan), np.full(E, np.nan), np.full(E, np.nan)
    z = norm.ppf([alpha / 2.0, 1.0 - alpha / 2.0])
    for e in range(E):
        r = reps[:, e]
        r = r[np.isfinite(r)]
        if r.size < 2:
            continue
        z0 = norm.ppf(np.mean(r < values[e]))
        d = jack[:, e].mean() - jack[:, e]
        den = 6.0 * np.sum(d * d) ** 1.5
        a = np.sum(d ** 3) / den if den > 0 else 0.0
        q = norm.cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
        if not np.all(np.isfinite(q)):  # all replicates on one side: no bias correction is possible
            continue
        lo[e], hi[e] = np.percentile(r, 100.0 * q)
        se[e] = np.std(r, ddof=1)
    return lo, hi, se
