"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi, Walker, WSDM 2013).

With a covariate ``x`` measured before the test (e.g. a member's logged activity in the weeks
before), unaffected by the treatment, the adjusted metric

    y_cv = y - theta (x - mean(x)),   theta = cov(y, x) / var(x)   (pooled over both groups)

has the same expected difference between groups and variance ``var(y) (1 - rho^2)``, where
``rho = corr(y, x)``: the difference in means needs ``1 - rho^2`` times as many members for the
same precision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from experiments.abtest.validation import check_alpha, check_sample

__all__ = ["CupedResult", "cuped_theta", "cuped_adjust", "cuped_test"]


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
    the adjusted to the raw estimator variance (theory: ``1 - rho^2``); p_value: two-sided z-test."""

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

    y_a, x_a: ``(n_a,)`` metric and pre-period covariate of group a; likewise b.
    """
    alpha = check_alpha(alpha)
    ya, xa = check_sample("y_a", y_a), check_sample("x_a", x_a)
    yb, xb = check_sample("y_b", y_b), check_sample("x_b", x_b)
    for nm, y, x in (("x_a", ya, xa), ("x_b", yb, xb)):
        if x.shape != y.shape:
            raise ValueError(f"{nm}: expected one covariate per member, shape {y.shape}, got {x.shape}")
    if ya.size < 2 or yb.size < 2:
        raise ValueError(f"y_a, y_b: expected at least 2 members per group, got {ya.size} and {yb.size}")
    # pool within-group (centred) moments so a treatment effect does not leak into theta
    xc = np.concatenate([xa - xa.mean(), xb - xb.mean()])
    yc = np.concatenate([ya - ya.mean(), yb - yb.mean()])
    vx = float(np.mean(xc * xc))
    if vx <= 0:
        raise ValueError("x_a, x_b: expected a covariate that varies within groups, got constants")
    theta = float(np.mean(xc * yc) / vx)
    rho = float(np.mean(xc * yc) / np.sqrt(vx * np.mean(yc * yc)))
    xm = float(np.concatenate([xa, xb]).mean())
    za, zb = ya - theta * (xa - xm), yb - theta * (xb - xm)
    z = norm.ppf(1 - alpha / 2)

    def diff(a, b):
        est = float(b.mean() - a.mean())
        se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
        return est, se, float(2 * norm.sf(abs(est) / se)) if se > 0 else (1.0 if est == 0 else 0.0)

    est, se, p = diff(za, zb)
    r_est, r_se, r_p = diff(ya, yb)
    return CupedResult(est, se, est - z * se, est + z * se, p, r_est, r_se, r_p, theta, rho,
                       float(se**2 / r_se**2) if r_se > 0 else float("nan"), int(ya.size), int(yb.size))
