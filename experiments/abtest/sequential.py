"""Always-valid sequential tests for a difference in means: the mixture SPRT (mSPRT).

Johari, Koomen, Pekelis, Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
(Operations Research, 2022; arXiv:1512.04922). For the difference ``theta = mean_b - mean_a``
estimated by ``Delta_n = ybar_b - ybar_a`` with variance ``V_n = var_a / n_a + var_b / n_b``, and a
normal mixture ``theta ~ N(theta0, tau^2)`` over alternatives, the mixture likelihood ratio is

    Lambda_n = sqrt(V_n / (V_n + tau^2)) * exp( tau^2 (Delta_n - theta0)^2 / (2 V_n (V_n + tau^2)) ).

Under ``H0: theta = theta0`` it is a nonnegative martingale (exactly for normal data with known
variance; by the normal approximation with plug-in variances otherwise), so by Ville's
inequality ``P(sup_n Lambda_n >= 1/alpha) <= alpha``: the test may be looked at after every
batch of members and stopped whenever ``Lambda_n >= 1/alpha``. The always-valid p-value is
``p_n = min(1, min_{k <= n} 1 / Lambda_k)`` and the confidence sequence is the set of ``theta0``
not rejected, ``Delta_n +- h_n`` with

    h_n = sqrt( 2 V_n (V_n + tau^2) / tau^2 * log( sqrt((V_n + tau^2) / V_n) / alpha ) ),

intersected over looks (a running intersection stays valid).

Metrics: ``"continuous"`` uses the sample variances (ddof=1); ``"binary"`` (0/1 outcomes) uses
``p (1 - p)`` at the smoothed rate ``(x + 1/2) / (n + 1)`` (never 0 for rare events). ``tau`` is the mixture scale in metric units, fixed before the test; by default
``tau = tau_std * sd`` with ``tau_std = 0.1`` (a tenth of a standard deviation, a typical A/B
effect) and ``sd`` the pooled standard deviation at each look, i.e. a fixed mixture on the
standardised effect. A value near the minimum detectable effect minimises the expected stopping
time around that effect.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from experiments.abtest.validation import SmallSampleWarning, check_alpha, check_metric, check_sample

__all__ = ["msprt_statistic", "SequentialResult", "msprt_test", "MSPRT", "naive_peeking_pvalues", "MIN_N"]

_TINY = 1e-300
#: The fewest members per group a look may use by default: the variance is estimated from the data
#: (plug-in), and the mixture's normal approximation needs a few members to hold. 2 is the hard floor.
MIN_N = 10


def msprt_statistic(delta, var_delta, tau, alpha=0.05, theta0=0.0):
    """Vectorised mSPRT quantities (any broadcastable shapes, float64).

    delta: estimated difference ``Delta``; var_delta: its variance ``V`` (> 0); tau: mixture scale.
    Returns ``(log_lambda, half_width)``: ``log Lambda`` for ``H0: theta = theta0`` and the
    confidence-sequence half width ``h`` at level ``1 - alpha`` (reject iff ``|Delta - theta0| >= h``).
    A look whose variance ``V`` is 0 carries no evidence (a plug-in variance of 0 is an estimate,
    not knowledge): ``log Lambda = 0`` and ``h = inf`` there.
    """
    d = np.asarray(delta, np.float64) - theta0
    V_raw = np.asarray(var_delta, np.float64)
    V = np.maximum(V_raw, _TINY)
    t2 = np.maximum(np.asarray(tau, np.float64) ** 2, _TINY)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_lam = 0.5 * np.log(V / (V + t2)) + (t2 / (V + t2)) * (d * d / (2 * V))
        half = np.sqrt(2 * V * (V + t2) / t2 * (0.5 * np.log((V + t2) / V) - np.log(alpha)))
    degenerate = ~(V_raw > 0)
    log_lam = np.where(degenerate, 0.0, log_lam)
    half = np.where(degenerate, np.inf, half)
    return log_lam, half


def _moments(y: np.ndarray, counts: np.ndarray, metric: str):
    """Cumulative mean and variance of ``y`` at prefix lengths ``counts`` (one pass with cumsum).

    The sums are taken of ``y - mean(y)``, so a metric whose spread is tiny next to its level
    (``1000 + 1e-6 noise``) keeps its variance instead of losing it to cancellation.
    """
    shift = float(np.mean(y))
    yc = y - shift
    c1 = np.concatenate([[0.0], np.cumsum(yc)])
    c2 = np.concatenate([[0.0], np.cumsum(yc * yc)])
    n = counts.astype(np.float64)
    mc = c1[counts] / n
    mean = shift + mc
    if metric == "binary":
        var = _binary_var(c1[counts] + shift * n, n)
    else:
        var = np.maximum(c2[counts] - n * mc * mc, 0.0) / np.maximum(n - 1, 1)
    return mean, var


def _check_min_n(min_n, *groups: tuple[str, np.ndarray]) -> int:
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 2:
        raise ValueError(f"min_n: expected an integer >= 2 (a variance needs two members), got {min_n!r}")
    for name, y in groups:
        if y.size < min_n:
            raise ValueError(f"{name}: the mSPRT needs at least min_n={int(min_n)} members per group (it estimates "
                             f"the variance from them), got {y.size}; collect more members before testing")
    return int(min_n)


def _running_intersection(delta, half, look_of=None):
    """Running intersection of ``delta -+ half`` over looks; NaN from the first look where it is
    empty (the data contradict a constant effect at this level), with a warning."""
    lo = np.maximum.accumulate(delta - half)
    hi = np.minimum.accumulate(delta + half)
    empty = lo > hi
    if np.any(empty):
        k = int(np.flatnonzero(empty)[0])
        warnings.warn(f"the confidence sequence became empty at look {k}: the looks disagree more than a "
                      f"constant effect allows at this level (a drifting metric, or a false alarm); "
                      f"ci_low/ci_high are NaN from there on", SmallSampleWarning, stacklevel=3)
        bad = np.logical_or.accumulate(empty)
        lo = np.where(bad, np.nan, lo)
        hi = np.where(bad, np.nan, hi)
    return lo, hi


def _binary_var(successes, n):
    """``p (1 - p)`` at the smoothed rate ``(x + 1/2) / (n + 1)``: never 0, so a run of all-zero
    early looks of a rare event cannot collapse the confidence sequence to a point."""
    pt = (np.asarray(successes, np.float64) + 0.5) / (np.asarray(n, np.float64) + 1.0)
    return pt * (1 - pt)


@dataclass(frozen=True)
class SequentialResult:
    """mSPRT run over a sequence of looks (arrays have one entry per look).

    n_a, n_b: ``(looks,)`` int, cumulative group sizes; estimate: ``Delta`` (b minus a);
    std_error: ``sqrt(V)``; p_value: always-valid p-value (non-increasing); ci_low, ci_high:
    confidence sequence (running intersection); rejected: whether ``p <= alpha`` at some look;
    stop_look: index of the first such look (None if never); alpha, tau (per look), theta0, metric.
    """

    n_a: np.ndarray
    n_b: np.ndarray
    estimate: np.ndarray
    std_error: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau: np.ndarray
    alpha: float
    theta0: float
    metric: str

    @property
    def rejected(self) -> bool:
        return bool(self.p_value[-1] <= self.alpha)

    @property
    def stop_look(self) -> int | None:
        hit = np.flatnonzero(self.p_value <= self.alpha)
        return int(hit[0]) if hit.size else None

    @property
    def stop_n(self) -> int | None:
        """Members (both groups) seen when the test first rejected; None if it never did."""
        k = self.stop_look
        return None if k is None else int(self.n_a[k] + self.n_b[k])

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(dict(n_a=self.n_a, n_b=self.n_b, estimate=self.estimate, std_error=self.std_error,
                                 p_value=self.p_value, ci_low=self.ci_low, ci_high=self.ci_high))

    def summary(self) -> dict:
        k = self.stop_look
        return dict(metric=self.metric, alpha=self.alpha, rejected=self.rejected, stop_look=k,
                    stop_n=self.stop_n, estimate=float(self.estimate[-1]),
                    estimate_at_stop=None if k is None else float(self.estimate[k]), p_value=float(self.p_value[-1]),
                    ci_low=float(self.ci_low[-1]), ci_high=float(self.ci_high[-1]),
                    n_a=int(self.n_a[-1]), n_b=int(self.n_b[-1]))


def _look_counts(n: int, looks: int | None, batch: int | None, min_n: int, name: str) -> np.ndarray:
    if batch is not None:
        if int(batch) < 1:
            raise ValueError(f"batch: expected an integer >= 1, got {batch!r}")
        counts = np.arange(int(batch), n + 1, int(batch))
        if counts.size == 0 or counts[-1] != n:
            counts = np.append(counts, n)
    else:
        k = 20 if looks is None else int(looks)
        if k < 1:
            raise ValueError(f"looks: expected an integer >= 1, got {looks!r}")
        counts = np.unique(np.ceil(np.arange(1, k + 1) * n / k).astype(np.int64))
    counts = counts[counts >= min_n]  # the callers checked n >= min_n, so the last look (n) stays
    return counts.astype(np.int64)


def msprt_test(
    y_a,
    y_b,
    *,
    alpha: float = 0.05,
    tau: float | None = None,
    tau_std: float = 0.1,
    theta0: float = 0.0,
    metric: str = "auto",
    looks: int | None = None,
    batch: int | None = None,
    min_n: int = MIN_N,
) -> SequentialResult:
    """Run the mSPRT on two arrival-ordered samples, looking after every batch of members.

    y_a, y_b: ``(n_a,)``, ``(n_b,)`` per-member metrics in arrival order (control a, treatment b).
    looks: number of equally spaced looks (default 20) -- look ``k`` uses the first
        ``ceil(k n_a / looks)`` members of a and likewise of b; or batch: look after every
        ``batch`` members of each group. Looks with fewer than ``min_n`` members are skipped.
    min_n: the fewest members per group a look may use (default :data:`MIN_N`; at least 2, since
        the variance is estimated): a group smaller than that is refused with ``ValueError``.
    metric: ``"continuous"``, ``"binary"`` or ``"auto"`` (binary iff all values are 0/1).
    Returns a :class:`SequentialResult`. Looks where both groups are constant (variance 0) carry
    no evidence; a confidence sequence that becomes empty is reported as NaN; both with a
    :class:`~experiments.abtest.validation.SmallSampleWarning`.
    """
    alpha = check_alpha(alpha)
    ya = check_sample("y_a", y_a)
    yb = check_sample("y_b", y_b)
    metric = check_metric(metric, ya, yb)
    if tau is not None and not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau: expected a mixture scale > 0, got {tau!r}")
    if not (np.isfinite(tau_std) and tau_std > 0):
        raise ValueError(f"tau_std: expected a value > 0, got {tau_std!r}")
    min_n = _check_min_n(min_n, ("y_a", ya), ("y_b", yb))
    ka = _look_counts(ya.size, looks, batch, min_n, "y_a")
    kb = _look_counts(yb.size, looks, batch, min_n, "y_b")
    m = min(ka.size, kb.size)
    ka, kb = ka[ka.size - m:], kb[kb.size - m:]
    ma, va = _moments(ya, ka, metric)
    mb, vb = _moments(yb, kb, metric)
    V = va / ka + vb / kb
    delta = mb - ma
    if tau is None:
        pooled = np.sqrt(((ka - 1) * va + (kb - 1) * vb) / np.maximum(ka + kb - 2, 1))
        tau_arr = tau_std * np.maximum(pooled, 1e-12)
    else:
        tau_arr = np.full(m, float(tau))
    if np.any(~(V > 0)):
        warnings.warn(f"{int(np.sum(~(V > 0)))} look(s) have zero variance in both groups (constant metric): "
                      f"they carry no evidence", SmallSampleWarning, stacklevel=2)
    log_lam, half = msprt_statistic(delta, V, tau_arr, alpha, theta0)
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lam)))
    lo, hi = _running_intersection(delta, half)
    return SequentialResult(ka, kb, delta, np.sqrt(V), p, lo, hi, tau_arr, alpha, float(theta0), metric)


class MSPRT:
    """Streaming mSPRT for a live test: call :meth:`update` with each new batch of members.

    Keeps only sufficient statistics (count, sum, sum of squares per group), so memory is O(1).
    ``update(batch_a, batch_b)`` returns a dict with the current ``estimate``, ``std_error``,
    always-valid ``p_value``, confidence sequence ``ci_low``/``ci_high`` and ``reject``.
    """

    def __init__(self, alpha: float = 0.05, tau: float | None = None, tau_std: float = 0.1, theta0: float = 0.0,
                 metric: str = "continuous", min_n: int = MIN_N):
        self.alpha = check_alpha(alpha)
        if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 2:
            raise ValueError(f"min_n: expected an integer >= 2 (a variance needs two members), got {min_n!r}")
        if metric not in ("continuous", "binary"):
            raise ValueError(f"metric: expected 'continuous' or 'binary', got {metric!r}")
        if tau is not None and not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"tau: expected a mixture scale > 0, got {tau!r}")
        self.tau, self.tau_std, self.theta0, self.metric, self.min_n = tau, tau_std, float(theta0), metric, int(min_n)
        self._s = np.zeros((2, 3))  # per group: n, sum and sum of squares of (y - shift)
        self._shift = np.full(2, np.nan)  # per group: its first value (keeps the sums well conditioned)
        self.p_value, self.ci_low, self.ci_high = 1.0, -np.inf, np.inf
        self.looks = 0

    def update(self, batch_a, batch_b) -> dict:
        for g, (name, b) in enumerate((("batch_a", batch_a), ("batch_b", batch_b))):
            y = check_sample(name, b, allow_empty=True)
            if self.metric == "binary" and y.size and not np.all((y == 0) | (y == 1)):
                raise ValueError(f"{name}: metric 'binary' expects 0/1 values, got {y[(y != 0) & (y != 1)][0]!r}")
            if y.size and np.isnan(self._shift[g]):
                self._shift[g] = y[0]
            yc = y - (self._shift[g] if y.size else 0.0)
            self._s[g] += (y.size, yc.sum(), (yc * yc).sum())
        n = self._s[:, 0]
        out = dict(n_a=int(n[0]), n_b=int(n[1]), p_value=self.p_value, ci_low=self.ci_low, ci_high=self.ci_high)
        if n.min() < max(self.min_n, 2):
            out.update(estimate=np.nan, std_error=np.nan, reject=self.p_value <= self.alpha)
            return out
        mc = self._s[:, 1] / n
        mean = self._shift + mc
        if self.metric == "binary":
            var = _binary_var(self._s[:, 1] + self._shift * n, n)
        else:
            var = np.maximum(self._s[:, 2] - n * mc * mc, 0) / (n - 1)
        V = float(np.sum(var / n))
        if not V > 0:
            warnings.warn("both groups are constant so far (variance 0): this look carries no evidence",
                          SmallSampleWarning, stacklevel=2)
        tau = self.tau if self.tau is not None else self.tau_std * max(
            float(np.sqrt(np.sum((n - 1) * var) / (n.sum() - 2))), 1e-12)
        delta = float(mean[1] - mean[0])
        log_lam, half = msprt_statistic(delta, V, tau, self.alpha, self.theta0)
        self.looks += 1
        self.p_value = float(min(self.p_value, 1.0, np.exp(-float(log_lam))))
        lo, hi = float(max(self.ci_low, delta - half)), float(min(self.ci_high, delta + half))
        if lo > hi or np.isnan(self.ci_low):
            if not np.isnan(self.ci_low):
                warnings.warn("the confidence sequence became empty: the looks disagree more than a constant "
                              "effect allows at this level (a drifting metric, or a false alarm); ci_low/ci_high "
                              "are NaN from now on", SmallSampleWarning, stacklevel=2)
            lo = hi = float("nan")
        self.ci_low, self.ci_high = lo, hi
        out.update(estimate=delta, std_error=float(np.sqrt(V)), p_value=self.p_value, ci_low=self.ci_low,
                   ci_high=self.ci_high, reject=self.p_value <= self.alpha)
        return out


def naive_peeking_pvalues(y_a, y_b, *, looks: int | None = None, batch: int | None = None, min_n: int = MIN_N,
                          metric: str = "auto") -> np.ndarray:
    """Fixed-horizon two-sided z-test p-values recomputed at every look (what naive peeking does).

    Rejecting whenever any of these is ``<= alpha`` inflates the false-positive rate far above
    ``alpha``; use :func:`msprt_test` instead. Returns ``(looks,)`` float64.
    """
    from scipy.stats import norm

    ya = check_sample("y_a", y_a)
    yb = check_sample("y_b", y_b)
    metric = check_metric(metric, ya, yb)
    min_n = _check_min_n(min_n, ("y_a", ya), ("y_b", yb))
    ka = _look_counts(ya.size, looks, batch, min_n, "y_a")
    kb = _look_counts(yb.size, looks, batch, min_n, "y_b")
    m = min(ka.size, kb.size)
    ka, kb = ka[ka.size - m:], kb[kb.size - m:]
    ma, va = _moments(ya, ka, metric)
    mb, vb = _moments(yb, kb, metric)
    z = (mb - ma) / np.sqrt(np.maximum(va / ka + vb / kb, _TINY))
    return 2 * norm.sf(np.abs(z))
