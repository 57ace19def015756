"""Poisson bootstrap for large data: one pass, and compressed by unique values or n-tiles.

The Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al., Google, 2012) gives every row
an independent ``Poisson(1)`` weight per replicate instead of a multinomial resample, so
replicates can be accumulated in one streaming pass and in parallel. Replicate ``b`` of a mean is
``sum_i w_bi y_i / sum_i w_bi``.

Compression. Rows with the same value need not be weighted one by one: the sum of ``c`` i.i.d.
``Poisson(1)`` weights is ``Poisson(c)``, so for data compressed to unique values ``v_j`` with
counts ``c_j`` the replicate weights are ``W_bj ~ Poisson(c_j)`` -- the same bootstrap
distribution, exactly, at a cost of ``B x J`` draws instead of ``B x n``. Continuous data are
bucketed into n-tiles (quantile buckets from a subsample); each bucket keeps its count, mean
``m_j`` and within-bucket sum of squares ``q_j``, and a replicate's sum is
``sum_j W_bj m_j + sqrt(sum_j W_bj q_j / c_j) Z_b`` (``Z_b ~ N(0, 1)``): the within-bucket
term restores the variance that bucket means alone would lose, so the first two moments of
every replicate match the row-level bootstrap (higher moments to within the bucket width).

Functions: :func:`compress`, :func:`poisson_bootstrap_mean` (compressed), :func:`poisson_bootstrap_rows`
(exact, one pass over chunks, memory ``O(B x chunk)``), :class:`StreamingCompressor` (one pass over
chunks into bucket statistics), :func:`bootstrap_diff` (difference of two groups' means),
:func:`percentile_interval`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from experiments.abtest.validation import SmallSampleWarning, check_alpha, check_sample

__all__ = ["Compressed", "compress", "StreamingCompressor", "poisson_bootstrap_mean", "poisson_bootstrap_rows",
           "bootstrap_diff", "percentile_interval", "BootstrapResult"]


@dataclass(frozen=True)
class Compressed:
    """values: ``(J,)`` bucket means (the unique values when exact); counts: ``(J,)`` int64 rows
    per bucket; within_ss: ``(J,)`` within-bucket sum of squares (all 0 when exact); exact: True
    when every bucket holds a single value; n: total rows."""

    values: np.ndarray
    counts: np.ndarray
    within_ss: np.ndarray
    exact: bool

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def mean(self) -> float:
        return float(self.counts @ self.values / self.counts.sum())


def _from_sums(cnt, s1, s2, exact) -> Compressed:
    keep = cnt > 0
    cnt, s1, s2 = cnt[keep], s1[keep], s2[keep]
    m = s1 / cnt
    q = np.zeros_like(m) if exact else np.maximum(s2 - cnt * m * m, 0.0)
    return Compressed(m, cnt.astype(np.int64), q, exact)


def _t(y: np.ndarray) -> np.ndarray:
    """Monotone squashing ``sign(y) log1p(|y|)`` so uniform cells suit heavy-tailed metrics."""
    return np.copysign(np.log1p(np.abs(y)), y)


def compress(y, n_buckets: int = 2000, max_unique: int = 100_000, sample: int = 200_000, seed: int = 0) -> Compressed:
    """Compress a sample for the bootstrap.

    Integer-valued data whose range spans at most ``max_unique`` values (clicks, counts, 0/1
    conversions) are compressed exactly by value with one ``bincount`` pass (O(n)). Other data go
    into about ``n_buckets`` quantile buckets whose edges come from a random subsample of
    ``sample`` rows (:meth:`StreamingCompressor.from_sample`).
    """
    y = check_sample("y", y)
    lo, hi = float(y.min()), float(y.max())
    if hi - lo < max_unique and lo == np.floor(lo) and np.all(y == np.floor(y)):
        idx = (y - lo).astype(np.int64)
        cnt = np.bincount(idx).astype(np.float64)
        vals = lo + np.arange(cnt.size, dtype=np.float64)
        return _from_sums(cnt, cnt * vals, cnt * vals * vals, exact=True)
    rng = np.random.default_rng(seed)
    sub = y if y.size <= sample else y[rng.integers(0, y.size, sample)]
    comp = StreamingCompressor.from_sample(sub, n_buckets, lo=lo, hi=hi)
    comp.update(y)
    return comp.result()


class StreamingCompressor:
    """One pass over chunks into bucket statistics (count, sum, sum of squares per bucket) for
    :func:`poisson_bootstrap_mean`; memory O(buckets) whatever the number of rows.

    Rows are bucketed in O(1) each: ``t = sign(y) log1p|y|`` is cut into ``n_cells`` uniform cells
    on ``[t(lo), t(hi)]`` (values outside are clipped to the end cells), and a lookup table maps
    every cell to the quantile bucket holding its centre (``edges``). Which rows share a bucket
    only affects how closely higher moments are kept: each bucket's count, mean and within sum of
    squares are exact, so the replicates' first two moments match the row-level bootstrap.
    """

    def __init__(self, edges, lo: float, hi: float, n_cells: int = 1 << 16):
        e = np.asarray(edges, np.float64)
        if e.ndim != 1 or np.any(np.diff(e) <= 0):
            raise ValueError("edges: expected an increasing 1-d array of bucket edges")
        if not (np.isfinite(lo) and np.isfinite(hi) and hi >= lo):
            raise ValueError(f"lo, hi: expected a finite range lo <= hi, got {lo!r}, {hi!r}")
        self.edges = e
        self._tlo = float(_t(np.float64(lo)))
        span = float(_t(np.float64(hi))) - self._tlo
        self._scale = (n_cells - 1) / span if span > 0 else 0.0
        self._n_cells = int(n_cells)
        centres = self._tlo + (np.arange(n_cells) + 0.5) / self._scale if span > 0 else np.full(n_cells, self._tlo)
        self._lut = np.searchsorted(_t(e), centres, side="left").astype(np.int32)
        J = e.size + 1
        self._cnt = np.zeros(J)
        self._s1 = np.zeros(J)
        self._s2 = np.zeros(J)

    @classmethod
    def from_sample(cls, sample, n_buckets: int = 2000, lo: float | None = None, hi: float | None = None,
                    n_cells: int = 1 << 16) -> StreamingCompressor:
        """Quantile edges of ``sample`` (e.g. the first chunk); range ``[lo, hi]`` defaults to the
        sample's min and max."""
        x = check_sample("sample", sample)
        if isinstance(n_buckets, bool) or int(n_buckets) < 1:
            raise ValueError(f"n_buckets: expected an integer >= 1, got {n_buckets!r}")
        edges = np.unique(np.quantile(x, np.linspace(0, 1, int(n_buckets) + 1)[1:-1]))
        return cls(edges, float(x.min()) if lo is None else lo, float(x.max()) if hi is None else hi, n_cells)

    def update(self, chunk) -> None:
        y = check_sample("chunk", chunk, allow_empty=True)
        if y.size == 0:
            return
        J = self._cnt.size
        cell = ((_t(y) - self._tlo) * self._scale).astype(np.int64)
        np.clip(cell, 0, self._n_cells - 1, out=cell)
        b = self._lut[cell]
        self._cnt += np.bincount(b, minlength=J)
        self._s1 += np.bincount(b, weights=y, minlength=J)
        self._s2 += np.bincount(b, weights=y * y, minlength=J)

    def result(self) -> Compressed:
        if self._cnt.sum() == 0:
            raise ValueError("chunk: no rows were seen; expected at least one member")
        return _from_sums(self._cnt.copy(), self._s1.copy(), self._s2.copy(), exact=False)


def _check_B(B) -> int:
    if isinstance(B, bool) or not isinstance(B, int | np.integer) or B < 2:
        raise ValueError(f"B: expected an integer number of replicates >= 2, got {B!r}")
    return int(B)


def poisson_bootstrap_mean(data, B: int = 1000, seed: int = 0, *, block: int = 250) -> np.ndarray:
    """``(B,)`` Poisson-bootstrap replicates of the mean from :class:`Compressed` data (or a raw
    sample, compressed first). Cost O(B x J); ``block`` replicates are drawn at a time.

    A replicate whose weights are all zero (likely only for a handful of rows: probability
    ``exp(-n)``) has no mean: it is NaN, not 0, and :func:`percentile_interval` accounts for it."""
    comp = data if isinstance(data, Compressed) else compress(data)
    B = _check_B(B)
    rng = np.random.default_rng(seed)
    c = comp.counts.astype(np.float64)
    var_within = comp.within_ss / c
    out = np.empty(B)
    for s in range(0, B, block):
        b = min(block, B - s)
        W = rng.poisson(c, size=(b, c.size)).astype(np.float64)
        tot = W.sum(1)
        S = W @ comp.values
        if not comp.exact:
            S += np.sqrt(W @ var_within) * rng.standard_normal(b)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + b] = np.where(tot > 0, S / np.where(tot > 0, tot, 1.0), np.nan)
    return out


def poisson_bootstrap_rows(chunks: Iterable, B: int = 1000, seed: int = 0) -> np.ndarray:
    """Exact row-level Poisson bootstrap of the mean in ONE pass over ``chunks`` (arrays of rows):
    per chunk, draw ``(B, len(chunk))`` Poisson(1) weights and accumulate weighted sums.
    Memory O(B x chunk); cost O(B x n). The reference the compressed version is checked against."""
    B = _check_B(B)
    rng = np.random.default_rng(seed)
    S = np.zeros(B)
    N = np.zeros(B)
    seen = 0
    for ch in chunks:
        y = check_sample("chunk", ch, allow_empty=True)
        if y.size == 0:
            continue
        W = rng.poisson(1.0, size=(B, y.size)).astype(np.float64)
        S += W @ y
        N += W.sum(1)
        seen += y.size
    if seen == 0:
        raise ValueError("chunks: expected at least one row, got none")
    return np.where(N > 0, S / np.where(N > 0, N, 1.0), np.nan)  # an all-zero-weight replicate has no mean


def percentile_interval(replicates, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval ``(q_{alpha/2}, q_{1-alpha/2})`` of bootstrap replicates.

    Undefined (NaN) replicates are not dropped, which would narrow the interval: they count as
    ``-inf`` for the lower end and ``+inf`` for the upper one, so the interval widens (to infinity
    once they exceed ``alpha / 2`` of the replicates), with a :class:`SmallSampleWarning`.
    """
    alpha = check_alpha(alpha)
    r = np.asarray(replicates, np.float64)
    bad = np.isnan(r)
    if bad.any():
        warnings.warn(f"{int(bad.sum())} of {r.size} bootstrap replicates are undefined (no weight on a group); "
                      f"the interval treats them as extreme and is wider for it", SmallSampleWarning, stacklevel=2)
    if not bad.any():
        lo, hi = np.quantile(r, [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)
    # the nearest order statistics outward (interpolating towards an infinite value is undefined)
    lo = float(np.quantile(np.where(bad, -np.inf, r), alpha / 2, method="lower"))
    hi = float(np.quantile(np.where(bad, np.inf, r), 1 - alpha / 2, method="higher"))
    return lo, hi


@dataclass(frozen=True)
class BootstrapResult:
    estimate: float
    ci_low: float
    ci_high: float
    std_error: float
    B: int
    replicates: np.ndarray


def bootstrap_diff(y_a, y_b, *, B: int = 1000, alpha: float = 0.05, seed: int = 0, n_buckets: int = 2000) -> BootstrapResult:
    """Difference in means (b minus a) with a compressed Poisson-bootstrap percentile interval.
    The groups are resampled independently (different streams of one seed).

    Needs at least 2 members per group and some variation: when both groups are constant every
    replicate equals the estimate and the interval would have width 0, so that is refused."""
    ya, yb = check_sample("y_a", y_a), check_sample("y_b", y_b)
    if ya.size < 2 or yb.size < 2:
        raise ValueError(f"y_a, y_b: the bootstrap needs at least 2 members per group, got {ya.size} and {yb.size}")
    if np.ptp(ya) == 0 and np.ptp(yb) == 0:
        raise ValueError("y_a, y_b: the metric is constant within both groups, so the bootstrap cannot estimate "
                         "any sampling error (a rare event with no occurrence yet needs more members)")
    ca = compress(ya, n_buckets=n_buckets)
    cb = compress(yb, n_buckets=n_buckets)
    ss = np.random.SeedSequence(seed).spawn(2)
    ra = poisson_bootstrap_mean(ca, B, int(ss[0].generate_state(1)[0]))
    rb = poisson_bootstrap_mean(cb, B, int(ss[1].generate_state(1)[0]))
    rep = rb - ra
    lo, hi = percentile_interval(rep, alpha)
    return BootstrapResult(cb.mean - ca.mean, lo, hi, float(np.nanstd(rep, ddof=1)), int(B), rep)
