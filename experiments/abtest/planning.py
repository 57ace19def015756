"""Planning an A/B test: fixed-horizon sample size and the sequential (mSPRT) design.

Fixed horizon (two-sided z-test, equal groups):

- continuous metric, standard deviations ``sd_a``, ``sd_b``:
  ``n = (z_{1-alpha/2} + z_{power})^2 (sd_a^2 + sd_b^2) / mde^2`` members per group;
- binary metric, baseline rate ``p_a``, ``p_b = p_a + mde`` (Fleiss, no continuity correction):
  ``n = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar)) + z_{power} sqrt(p_a q_a + p_b q_b))^2 / mde^2``.

Sequential design: :func:`sequential_operating_characteristics` computes, for the mSPRT of
:mod:`experiments.abtest.sequential` with looks after every ``batch`` members per group and a
true effect ``effect``, the probability of rejecting (in each direction) by every look and the
expected number of members at stopping. It propagates the density of the running sum of
member differences from look to look on a grid (Armitage-McPherson-Rowe recursive numerical
integration, the standard way to compute group-sequential boundary-crossing probabilities),
removing the mass that crossed the boundary; no simulation. :func:`plan_sequential` then finds
the smallest maximum sample size with the requested power and reports the expected sample size
next to the fixed-horizon one. (Variances are treated as known; the plug-in test behaves the same
up to the normal approximation, which ``tests/experiments/abtest/test_abtest_sequential.py`` checks by simulation.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from experiments.abtest.sequential import msprt_statistic
from experiments.abtest.validation import check_alpha, check_positive

__all__ = ["FixedPlan", "SequentialPlan", "fixed_sample_size", "fixed_power", "sequential_operating_characteristics",
           "plan_sequential", "duration_days"]


def _sds(metric: str, sd, sd_b, baseline, mde):
    if metric == "continuous":
        if sd is None:
            raise ValueError("sd: expected the metric's standard deviation for metric='continuous', got None")
        sa = check_positive("sd", sd)
        sb = sa if sd_b is None else check_positive("sd_b", sd_b)
        return sa, sb, sa, sb
    if metric == "binary":
        if baseline is None or not (0 < float(baseline) < 1):
            raise ValueError(f"baseline: expected the control rate in (0, 1) for metric='binary', got {baseline!r}")
        pa = float(baseline)
        pb = pa + mde
        if not (0 < pb < 1):
            raise ValueError(f"mde: baseline + mde must stay in (0, 1), got {pa} + {mde} = {pb}")
        pbar = (pa + pb) / 2
        s0 = math.sqrt(pbar * (1 - pbar))
        return s0, s0, math.sqrt(pa * (1 - pa)), math.sqrt(pb * (1 - pb))
    raise ValueError(f"metric: expected 'continuous' or 'binary', got {metric!r}")


@dataclass(frozen=True)
class FixedPlan:
    """n_per_group: members per group; n_total: both groups; power: achieved at n_per_group;
    days: duration at ``traffic`` members per day (None without traffic)."""

    n_per_group: int
    n_total: int
    power: float
    alpha: float
    mde: float
    metric: str
    days: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def fixed_power(n_per_group, mde, *, sd=None, sd_b=None, baseline=None, alpha=0.05, metric="continuous") -> float:
    """Power of the two-sided fixed-horizon z-test with ``n_per_group`` members per group."""
    alpha = check_alpha(alpha)
    n = check_positive("n_per_group", n_per_group)
    mde = float(mde)
    s0a, s0b, s1a, s1b = _sds(metric, sd, sd_b, baseline, mde)
    z = norm.ppf(1 - alpha / 2)
    se0 = math.sqrt((s0a**2 + s0b**2) / n)
    se1 = math.sqrt((s1a**2 + s1b**2) / n)
    return float(norm.sf((z * se0 - abs(mde)) / se1) + norm.cdf((-z * se0 - abs(mde)) / se1))


def fixed_sample_size(mde, *, sd=None, sd_b=None, baseline=None, alpha=0.05, power=0.8, metric="continuous",
                      traffic: float | None = None) -> FixedPlan:
    """Members per group for a two-sided fixed-horizon test (formulas in the module docstring).

    mde: minimum detectable effect (absolute difference, b minus a, != 0). sd / sd_b: standard
    deviations (continuous); baseline: control rate (binary). traffic: members per day entering
    the test (both groups), to report the duration in days.
    """
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    mde = float(mde)
    if not np.isfinite(mde) or mde == 0:
        raise ValueError(f"mde: expected a nonzero finite effect, got {mde!r}")
    s0a, s0b, s1a, s1b = _sds(metric, sd, sd_b, baseline, mde)
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    n = (za * math.sqrt(s0a**2 + s0b**2) + zb * math.sqrt(s1a**2 + s1b**2)) ** 2 / mde**2
    n = int(math.ceil(n - 1e-9))
    achieved = fixed_power(n, mde, sd=sd, sd_b=sd_b, baseline=baseline, alpha=alpha, metric=metric)
    days = None if traffic is None else duration_days(2 * n, traffic)
    return FixedPlan(n, 2 * n, achieved, alpha, mde, metric, days)


def duration_days(n_total: int, traffic: float) -> float:
    """Days to enrol ``n_total`` members at ``traffic`` members per day."""
    return float(n_total) / check_positive("traffic", traffic)


def sequential_operating_characteristics(
    effect: float,
    sd_diff: float,
    looks_n,
    *,
    alpha: float = 0.05,
    tau: float,
    theta0: float = 0.0,
    grid_per_sd: int = 12,
) -> dict:
    """Boundary-crossing probabilities of the mSPRT with known variance (no simulation).

    effect: true difference ``theta``; sd_diff: ``sqrt(var_a + var_b)`` (the sd of one pair of
    members' difference); looks_n: ``(looks,)`` increasing members per group at each look;
    tau: mixture scale (metric units). Returns a dict of ``(looks,)`` arrays ``reject_upper``,
    ``reject_lower`` (probability of having rejected by that look with ``Delta > theta0`` /
    ``< theta0``), and scalars ``power_upper``, ``power_lower``, ``expected_n`` (members per group
    at stopping, the last look if never), ``expected_n_total``.
    """
    alpha = check_alpha(alpha)
    n = np.asarray(looks_n, np.float64)
    if n.ndim != 1 or n.size == 0 or np.any(np.diff(n) <= 0) or n[0] < 1:
        raise ValueError(f"looks_n: expected an increasing 1-d array of group sizes >= 1, got {looks_n!r}")
    sd = check_positive("sd_diff", sd_diff)
    # work with S = sum of pair differences / sd (unit variance per pair); Delta = sd * S / n
    drift = float(effect) / sd
    shift0 = float(theta0) / sd
    tau_s = check_positive("tau", tau) / sd
    _, half = msprt_statistic(0.0, 1.0 / n, tau_s, alpha)  # h / sd at each look
    # continuation region of S at look k: |S - n_k theta0/sd| < n_k h_k
    lo_b = n * shift0 - n * half
    hi_b = n * shift0 + n * half
    m = np.diff(np.concatenate([[0.0], n]))
    h = float(np.sqrt(m.min())) / grid_per_sd
    lo_g = min(lo_b.min(), 0.0) - 1.0
    hi_g = max(hi_b.max(), 0.0) + 1.0
    i0 = int(math.floor(lo_g / h))
    grid = (np.arange(i0, int(math.ceil(hi_g / h)) + 1)) * h
    f = np.zeros_like(grid)
    f[-i0] = 1.0 / h  # point mass at S_0 = 0
    alive_prev = 1.0
    up = np.zeros(n.size)
    dn = np.zeros(n.size)
    cum_up = cum_dn = 0.0
    expected = 0.0
    for k in range(n.size):
        s = math.sqrt(m[k])
        mu = m[k] * drift
        j0 = int(math.floor((mu - 9 * s) / h))
        j1 = int(math.ceil((mu + 9 * s) / h))
        offs = np.arange(j0, j1 + 1) * h
        kern = norm.pdf(offs, loc=mu, scale=s) * h
        full = np.convolve(f, kern)  # full[t] = sum_s f[t - s] kern[s]; offset j = s + j0
        start = -j0
        g = np.zeros_like(f)
        # g[i] = full[i - j0] for valid indices
        src = np.arange(f.size) + start
        ok = (src >= 0) & (src < full.size)
        g[ok] = full[src[ok]]
        # mass that leaves the grid (beyond it) counts as crossed in that direction
        mass_total = alive_prev  # mass before this step
        above = grid >= hi_b[k]
        below = grid <= lo_b[k]
        inside = ~(above | below)
        p_up = float(np.sum(g[above]) * h)
        p_dn = float(np.sum(g[below]) * h)
        p_in = float(np.sum(g[inside]) * h)
        lost = mass_total - (p_up + p_dn + p_in)  # tails beyond the grid edges (tiny)
        if lost > 0:
            # attribute by the side of the kernel mean (the grid covers both boundaries with margin)
            if mu >= 0:
                p_up += lost
            else:
                p_dn += lost
        cum_up += p_up
        cum_dn += p_dn
        up[k], dn[k] = cum_up, cum_dn
        expected += n[k] * (p_up + p_dn)
        f = np.where(inside, g, 0.0)
        alive_prev = p_in
    expected += n[-1] * alive_prev
    return dict(reject_upper=up, reject_lower=dn, power_upper=float(up[-1]), power_lower=float(dn[-1]),
                expected_n=float(expected), expected_n_total=float(2 * expected), looks_n=n.astype(np.int64))


@dataclass(frozen=True)
class SequentialPlan:
    """A planned mSPRT: looks every ``batch`` members per group, up to ``n_max_per_group``.

    power: probability of rejecting in the direction of ``mde`` by the last look when the effect
    is ``mde``; expected_n_per_group: mean members per group at stopping when the effect is
    ``mde``; expected_n_per_group_null: the same under no effect (mostly runs to ``n_max``);
    fixed_n_per_group: the fixed-horizon design's size for the same alpha and power.
    """

    n_max_per_group: int
    batch: int
    power: float
    expected_n_per_group: float
    expected_n_per_group_null: float
    false_positive_bound: float
    fixed_n_per_group: int
    alpha: float
    mde: float
    tau: float
    metric: str

    def to_dict(self) -> dict:
        return asdict(self)


def plan_sequential(mde, *, sd=None, sd_b=None, baseline=None, alpha=0.05, power=0.8, metric="continuous",
                    tau: float | None = None, batch: int | None = None, max_looks: int = 400) -> SequentialPlan:
    """Smallest maximum sample size (a multiple of ``batch``) at which the mSPRT reaches ``power``
    for effect ``mde``, with its expected sample size beside the fixed-horizon design's.

    tau: mixture scale (default ``|mde|``, near-optimal for effects of that size). batch: members
    per group between looks (default: the fixed-horizon n / 50, at least 1). The search doubles
    the number of looks then bisects; at most ``max_looks`` looks.
    """
    fixed = fixed_sample_size(mde, sd=sd, sd_b=sd_b, baseline=baseline, alpha=alpha, power=power, metric=metric)
    mde = float(mde)
    _, _, s1a, s1b = _sds(metric, sd, sd_b, baseline, mde)
    sd_diff = math.sqrt(s1a**2 + s1b**2)
    tau = abs(mde) if tau is None else check_positive("tau", tau)
    batch = max(1, fixed.n_per_group // 50) if batch is None else int(check_positive("batch", batch, integer=True))

    def oc(k, effect):
        return sequential_operating_characteristics(effect, sd_diff, batch * np.arange(1, k + 1), alpha=alpha, tau=tau)

    def pw(k):
        r = oc(k, mde)
        return r["power_upper"] if mde > 0 else r["power_lower"]

    k = 1
    while pw(k) < power:
        if k >= max_looks:
            raise ValueError(f"max_looks: power {power} not reached within {max_looks} looks of {batch} members; "
                             "raise max_looks or batch")
        k = min(2 * k, max_looks)
    lo, hi = k // 2, k  # pw(lo) < power <= pw(hi)  (lo may be 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid
    r1 = oc(hi, mde)
    r0 = oc(hi, 0.0)
    return SequentialPlan(
        n_max_per_group=int(hi * batch), batch=batch, power=float(r1["power_upper"] if mde > 0 else r1["power_lower"]),
        expected_n_per_group=r1["expected_n"], expected_n_per_group_null=r0["expected_n"],
        false_positive_bound=float(r0["power_upper"] + r0["power_lower"]), fixed_n_per_group=fixed.n_per_group,
        alpha=float(alpha), mde=mde, tau=float(tau), metric=metric)
