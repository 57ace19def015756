"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi, Walker, WSDM 2013).

With a covariate ``x`` measured before the test (e.g. a member's logged activity in the weeks
before), unaffected by the treatment, the adjusted metric

    y_cv = y - theta (x - mean(x)),   theta = cov(y, x) / var(x)   (pooled over both groups)

has the same expected difference between groups and variance ``var(y) (1 - rho^2)``, where
``rho = corr(y, x)``: the difference in means needs ``1 - rho^2`` times as many members for the
same precision.

Small samples: the standard errors are estimated, so intervals and p-values use Student's t with
the Welch-Satterthwaite degrees of freedom (CUPED's capped at ``n_a + n_b - 3``: two means and the
slope are estimated), and CUPED's variance adds the slope's own sampling error,
``var(theta) (mean(x_b) - mean(x_a))^2``, which a large sample makes negligible. Below :data:`MIN_N` members per group, or when a variance is zero (a
constant metric, or a covariate that predicts the metric exactly), there is no honest standard
error and :func:`cuped_test` refuses with ``ValueError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import t as student_t

from experiments.abtest.validation import check_alpha, check_sample

__all__ = ["CupedResult", "cuped_theta", "cuped_adjust", "cuped_test", "welch", "MIN_N"]

#: fewest members per group: each group's variance and the pooled slope must be estimated
MIN_N = 3
#: a variance this small next to the metric's scale (relative) counts as zero
_REL_ZERO = 1e-12


def welch(a: np.ndarray, b: np.ndarray, alpha: float, df_cap: float | None = None,
          extra_var: float = 0.0) -> tuple[float, float, float, float, float]:
    """Difference in means ``b - a`` with Welch's standard error: ``(estimate, std_error, ci_low,
    ci_high, p_value)``, Student t with the Welch-Satterthwaite degrees of freedom (at most
    ``df_cap``); ``extra_var`` is added to the variance (CUPED: the estimated slope's share).
    Expects ``se > 0`` (callers refuse degenerate samples first)."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb + extra_var))
    est = float(b.mean() - a.mean())
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    if df_cap is not None:
        df = min(df, df_cap)
    q = float(student_t.ppf(1 - alpha / 2, df))
    p = float(2 * student_t.sf(abs(est) / se, df))
    return est, se, est - q * se, est + q * se, p


def cuped_theta(y, x) -> float:
    """``cov(y, x) / var(x)`` (float64); raises if ``x`` is constant."""
    y = check_sample("y", y)
    x = check_sample("x", x)
    if x.shape != y.shape:
        raise ValueError(f"x: expected one covariate per member, shape {y.shape}, got {x.shape}")
    vx = float(np.var(x))
    if vx <= 0:
        raise ValueError("x: expected a covariate that varies across members, got a constant")
    return float(np.mean((x - x.mean()) * (y - y.mean())) / vx)


def cuped_adjust(y, x, theta: float | None = None, x_mean: float | None = None) -> np.ndarray:
    """``y - theta (x - x_mean)`` (theta from :func:`cuped_theta` and x_mean = mean(x) by default)."""
    y = check_sample("y", y)
    x = check_sample("x", x)
    if x.shape != y.shape:
        raise ValueError(f"x: expected one covariate per member, shape {y.shape}, got {x.shape}")
    th = cuped_theta(y, x) if theta is None else float(theta)
    xm = float(x.mean()) if x_mean is None else float(x_mean)
    return y - th * (x - xm)


@dataclass(frozen=True)
class CupedResult:
    """estimate / std_error / ci: the CUPED difference (b minus a); raw_*: unadjusted;
    theta: pooled coefficient; rho: pooled correlation of y and x; variance_factor: ratio of
    the adjusted to the raw estimator variance (theory: ``1 - rho^2``); p_value: two-sided Welch
    t-test (Student t, Welch-Satterthwaite degrees of freedom)."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    raw_estimate: float
    raw_std_error: float
    raw_p_value: float
    theta: float
    rho: float
    variance_factor: float
    n_a: int
    n_b: int

    def to_dict(self) -> dict:
        return asdict(self)


def cuped_test(y_a, x_a, y_b, x_b, *, alpha: float = 0.05) -> CupedResult:
    """Difference in means (b minus a) with and without CUPED; ``theta`` pooled over both groups.

    y_a, x_a: ``(n_a,)`` metric and pre-period covariate of group a; likewise b. Needs at least
    :data:`MIN_N` members per group and non-zero variances (``ValueError`` otherwise, naming why).
    """
    alpha = check_alpha(alpha)
    ya, xa = check_sample("y_a", y_a), check_sample("x_a", x_a)
    yb, xb = check_sample("y_b", y_b), check_sample("x_b", x_b)
    for nm, y, x in (("x_a", ya, xa), ("x_b", yb, xb)):
        if x.shape != y.shape:
            raise ValueError(f"{nm}: expected one covariate per member, shape {y.shape}, got {x.shape}")
    if ya.size < MIN_N or yb.size < MIN_N:
        raise ValueError(f"y_a, y_b: CUPED estimates each group's variance and a pooled slope, so it needs at least "
                         f"{MIN_N} members per group; got {ya.size} and {yb.size}")
    # pool within-group (centred) moments so a treatment effect does not leak into theta
    xc = np.concatenate([xa - xa.mean(), xb - xb.mean()])
    yc = np.concatenate([ya - ya.mean(), yb - yb.mean()])
    vx = float(np.mean(xc * xc))
    if vx <= 0:
        raise ValueError("x_a, x_b: expected a covariate that varies within groups, got constants")
    theta = float(np.mean(xc * yc) / vx)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant metric (refused below) has no rho
        rho = float(np.mean(xc * yc) / np.sqrt(vx * np.mean(yc * yc)))
    xm = float(np.concatenate([xa, xb]).mean())
    za, zb = ya - theta * (xa - xm), yb - theta * (xb - xm)
    scale = max(float(np.max(np.abs(np.concatenate([ya, yb])))), 1e-300)
    raw_var = ya.var(ddof=1) / ya.size + yb.var(ddof=1) / yb.size
    if not raw_var > (_REL_ZERO * scale) ** 2:
        raise ValueError("y_a, y_b: the metric is constant within both groups, so no sampling error can be "
                         "estimated (a rare event with no occurrence yet needs more members)")
    adj_var = za.var(ddof=1) / za.size + zb.var(ddof=1) / zb.size
    if not adj_var > _REL_ZERO * raw_var:
        raise ValueError(f"x_a, x_b: the covariate predicts the metric exactly within groups (rho = {rho:.12g}): the "
                         f"adjusted variance is 0 and no sampling error can be estimated; a pre-period covariate "
                         f"must not be computed from the metric itself")
    resid = yc - theta * xc
    var_theta = float(resid @ resid) / (ya.size + yb.size - 3) / float(xc @ xc)
    est, se, lo, hi, p = welch(za, zb, alpha, df_cap=ya.size + yb.size - 3,
                               extra_var=var_theta * (xb.mean() - xa.mean()) ** 2)
    r_est, r_se, _, _, r_p = welch(ya, yb, alpha)
    return CupedResult(est, se, lo, hi, p, r_est, r_se, r_p, theta, rho, float(se**2 / r_se**2), int(ya.size),
                       int(yb.size))
