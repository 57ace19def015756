"""Inference shared by the quasi-experimental estimators: the result record, randomisation
(permutation) inference with exact test inversion, and small numeric helpers.

Randomisation inference treats the set of treated units (their adoption periods) as randomly
assigned: the adoption pattern is permuted across units and the estimate recomputed. Every
estimator here is linear in the outcome for a fixed assignment, so under the sharp null of a
constant additive effect ``tau`` (``Y(0) = y - tau * D``) the statistic of assignment ``D'`` is
``a' - tau * b'`` with ``a' = est(y, D')`` and ``b' = est(D, D')``. The p-value is a step
function of ``tau`` whose steps sit where ``|a' - tau b'| = |est - tau|``; evaluating it at
every step and between steps gives the exact confidence set (Fisher 1935; Imbens & Rubin 2015,
ch. 5), with no grid.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from experiments.abtest.validation import check_alpha, check_positive

__all__ = ["Estimate", "assignments", "ri_linear", "ri_invert", "t_interval"]


@dataclass
class Estimate:
    """One estimate with its uncertainty.

    estimate: the point estimate (average effect on the treated, outcome units).
    std_error: standard error (NaN when the inference is a permutation test).
    ci_low, ci_high: ``1 - alpha`` interval (``-inf/inf`` when the data cannot bound it).
    p_value: two-sided p-value of no effect. inference: how the interval was made.
    n_units, n_treated, n_periods: panel size. extra: method-specific detail (plain values).
    notes: what the reader must know (dropped units, coarse p-values).
    """

    method: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    inference: str
    n_units: int
    n_treated: int
    n_periods: int
    extra: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def covers(self, value: float) -> bool:
        return bool(self.ci_low <= value <= self.ci_high)

    def to_dict(self) -> dict:
        return asdict(self)


def t_interval(est, se, alpha: float, df: float | None):
    """``est +- q se`` with ``q`` the Student-t (``df``) or normal (``df=None``) quantile; also the
    two-sided p-value of zero. Works elementwise."""
    q = stats.norm.ppf(1 - alpha / 2) if df is None else stats.t.ppf(1 - alpha / 2, df)
    est = np.asarray(est, np.float64)
    se = np.asarray(se, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(est / se)
    p = 2 * (stats.norm.sf(z) if df is None else stats.t.sf(z, df))
    return est - q * se, est + q * se, p


def _n_arrangements(adoption: np.ndarray) -> int:
    _, counts = np.unique(adoption, return_counts=True)
    n = math.factorial(adoption.size)
    for c in counts:
        n //= math.factorial(int(c))
    return n


def _enumerate(adoption: np.ndarray) -> np.ndarray:
    """Every distinct arrangement of the multiset ``adoption`` over the units, ``(M, N)``."""
    N = adoption.size
    vals, counts = np.unique(adoption, return_counts=True)
    order = np.argsort(counts)  # place the rarest values first: fewest branches
    out = []

    def rec(free: tuple, k: int, cur: np.ndarray):
        if k == len(order) - 1:
            cur = cur.copy()
            cur[list(free)] = vals[order[k]]
            out.append(cur)
            return
        v, c = vals[order[k]], int(counts[order[k]])
        for pos in itertools.combinations(free, c):
            nxt = cur.copy()
            nxt[list(pos)] = v
            rec(tuple(i for i in free if i not in pos), k + 1, nxt)

    rec(tuple(range(N)), 0, np.empty(N, adoption.dtype))
    return np.stack(out)


def assignments(adoption, permutations: int = 999, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Assignments of the adoption periods to units for randomisation inference.

    adoption: ``(N,)`` int adoption period index per unit (``T`` = never treated).
    Returns ``(A (M, N) int64, exact)``: all distinct arrangements when there are at most
    ``permutations`` of them (``exact=True``; the observed one is among them), otherwise
    ``permutations`` uniform random permutations (``exact=False``).
    """
    a = np.asarray(adoption, np.int64)
    P = int(check_positive("permutations", permutations, integer=True))
    if _n_arrangements(a) <= P:
        return _enumerate(a), True
    rng = np.random.default_rng(seed)
    return np.stack([a[rng.permutation(a.size)] for _ in range(P)]), False


def ri_linear(stat, y: np.ndarray, d: np.ndarray, adoption: np.ndarray, *, permutations: int = 999,
              seed: int = 0) -> dict:
    """Permutation distribution of a statistic linear in the outcome.

    stat(y (N, T), D (M, N, T) float) -> (M,): the estimate for each assignment in a batch.
    y, d: the observed outcome and treatment ``(N, T)``; adoption ``(N,)`` (``T`` = never).
    Returns ``est`` (observed), ``a (M,)``, ``b (M,)`` (see module doc), ``exact``, ``M``.
    """
    T = y.shape[1]
    A, exact = assignments(adoption, permutations, seed)
    Dp = (np.arange(T)[None, None, :] >= A[:, :, None]).astype(np.float64)  # (M, N, T)
    est = float(stat(y, d.astype(np.float64)[None])[0])
    a = np.asarray(stat(y, Dp), np.float64)
    b = np.asarray(stat(d.astype(np.float64), Dp), np.float64)
    return dict(est=est, a=a, b=b, exact=exact, M=int(A.shape[0]))


def _pvals(tau: np.ndarray, est: float, a: np.ndarray, b: np.ndarray, exact: bool, chunk: int = 512) -> np.ndarray:
    out = np.empty(tau.size)
    scale = 1e-9 * (1.0 + np.abs(a).max() + abs(est))
    for s in range(0, tau.size, chunk):
        t = tau[s:s + chunk, None]
        ge = np.abs(a[None] - t * b[None]) >= np.abs(est - t) - scale
        cnt = ge.sum(1)
        out[s:s + chunk] = cnt / a.size if exact else (1 + cnt) / (a.size + 1)
    return out


def ri_invert(est: float, a: np.ndarray, b: np.ndarray, exact: bool, alpha: float) -> dict:
    """p-value of no effect and the exact ``1 - alpha`` confidence set of a constant effect.

    Returns ``p_value``, ``ci_low``, ``ci_high`` (the hull of the accepted set; ``-inf/inf`` when
    unbounded), ``connected`` (the accepted set is one interval), ``min_p`` (the smallest p-value
    the design allows: ``alpha`` below it gives an unbounded interval).
    """
    alpha = check_alpha(alpha)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(np.abs(b - 1) > 1e-12, (a - est) / (b - 1), np.nan)
        r2 = np.where(np.abs(b + 1) > 1e-12, (a + est) / (b + 1), np.nan)
    br = np.unique(np.concatenate([r1, r2, [est]]))
    br = br[np.isfinite(br)]
    span = 1.0 + np.ptp(br) + np.abs(br).max()
    mids = (br[1:] + br[:-1]) / 2
    pts = np.concatenate([[br[0] - span], br, mids, [br[-1] + span]])
    p = _pvals(pts, est, a, b, exact)
    acc = pts[p > alpha]
    min_p = 1 / a.size if exact else 1 / (a.size + 1)
    p0 = float(_pvals(np.zeros(1), est, a, b, exact)[0])
    if acc.size == 0:  # cannot happen: tau = est gives p = 1
        return dict(p_value=p0, ci_low=np.nan, ci_high=np.nan, connected=False, min_p=min_p)
    lo = -np.inf if p[0] > alpha else float(acc.min())
    hi = np.inf if p[-1] > alpha else float(acc.max())
    order = np.argsort(pts)
    inside = (pts[order] >= acc.min()) & (pts[order] <= acc.max())
    connected = bool(np.all(p[order][inside] > alpha))
    return dict(p_value=p0, ci_low=lo, ci_high=hi, connected=connected, min_p=min_p)
