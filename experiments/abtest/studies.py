"""Simulation studies of A/B testing designs (vectorised numpy, fixed seeds).

- :func:`aa_peeking_study`: many A/A tests looked at after every batch of members: naive
  fixed-horizon testing at every look rejects far more often than alpha; the mSPRT at most alpha.
- :func:`power_study`: a known effect, the mSPRT of a :class:`~experiments.abtest.planning.SequentialPlan`:
  share of tests stopping with the correct decision (vs the planned power) and members used
  (vs the planned expectation and the fixed-horizon size).
- :func:`cuped_study`: replicated experiments with a correlated pre-period covariate: variance of
  the CUPED estimator over the raw one vs the theoretical ``1 - rho^2``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from experiments.abtest.planning import SequentialPlan
from experiments.abtest.sequential import _binary_var, msprt_statistic
from experiments.abtest.validation import check_alpha, check_positive

__all__ = ["aa_peeking_study", "power_study", "cuped_study", "simulate_looks"]


def _draw(rng, shape, metric, mean, sd):
    if metric == "binary":
        return (rng.random(shape) < mean).astype(np.float64)
    return rng.normal(mean, sd, shape)


def simulate_looks(ya, yb, looks, *, alpha, tau=None, tau_std=0.1, metric="continuous"):
    """For ``(tests, n)`` arrays of two groups, the naive z-test p-values, mSPRT p-values (raw,
    not yet running-min) and estimates at group sizes ``looks``; each ``(tests, len(looks))``."""
    k = np.asarray(looks, np.int64)
    out = []
    for y in (ya, yb):
        c1 = np.cumsum(y, axis=1)[:, k - 1]
        m = c1 / k
        if metric == "binary":
            v = _binary_var(c1, k)
        else:
            c2 = np.cumsum(y * y, axis=1)[:, k - 1]
            v = np.maximum(c2 - k * m * m, 0) / np.maximum(k - 1, 1)
        out.append((m, v))
    (ma, va), (mb, vb) = out
    V = va / k + vb / k
    delta = mb - ma
    z = delta / np.sqrt(np.maximum(V, 1e-300))
    naive_p = 2 * norm.sf(np.abs(z))
    if tau is None:
        tau = tau_std * np.sqrt(np.maximum((va + vb) / 2, 1e-24))
    log_lam, _ = msprt_statistic(delta, V, tau, alpha)
    return naive_p, np.minimum(1.0, np.exp(-log_lam)), delta


def aa_peeking_study(n_tests: int = 1000, n_per_group: int = 2000, looks: int = 100, *, alpha: float = 0.05,
                     metric: str = "continuous", rate: float = 0.1, min_n: int = 20, tau_std: float = 0.1,
                     seed: int = 0, chunk: int = 200) -> dict:
    """``n_tests`` A/A tests (no effect), each looked at ``looks`` times (equally spaced, the first
    at ``max(min_n, n/looks)`` members per group). Returns rejection rates with binomial standard
    errors: ``naive_any_look`` (fixed-horizon z-test at every look, reject at the first
    p <= alpha), ``fixed_horizon`` (one look at the end), ``msprt`` (always-valid), plus the curve
    ``naive_by_look`` / ``msprt_by_look`` (share rejected by each look) and ``looks_n``."""
    alpha = check_alpha(alpha)
    n_tests = int(check_positive("n_tests", n_tests, integer=True))
    n = int(check_positive("n_per_group", n_per_group, integer=True))
    L = int(check_positive("looks", looks, integer=True))
    if metric not in ("continuous", "binary"):
        raise ValueError(f"metric: expected 'continuous' or 'binary', got {metric!r}")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 2:
        raise ValueError(f"min_n: expected an integer >= 2 (a variance needs two members), got {min_n!r}")
    if n < min_n:
        raise ValueError(f"n_per_group: the mSPRT and the z-test estimate the variance from the members, so a look "
                         f"needs at least min_n={min_n} members per group; got {n}")
    k = np.unique(np.ceil(np.arange(1, L + 1) * n / L).astype(np.int64))
    k = k[k >= min_n]
    rng = np.random.default_rng(seed)
    naive_hits = np.zeros(k.size)
    ms_hits = np.zeros(k.size)
    fixed = 0
    for s in range(0, n_tests, chunk):
        t = min(chunk, n_tests - s)
        ya = _draw(rng, (t, n), metric, rate if metric == "binary" else 0.0, 1.0)
        yb = _draw(rng, (t, n), metric, rate if metric == "binary" else 0.0, 1.0)
        naive_p, ms_p, _ = simulate_looks(ya, yb, k, alpha=alpha, tau_std=tau_std, metric=metric)
        naive_hits += np.sum(np.maximum.accumulate(naive_p <= alpha, axis=1), axis=0)
        ms_hits += np.sum(np.maximum.accumulate(ms_p <= alpha, axis=1), axis=0)
        fixed += int(np.sum(naive_p[:, -1] <= alpha))

    def rate_se(x):
        p = x / n_tests
        return float(p), float(np.sqrt(max(p * (1 - p), alpha * (1 - alpha)) / n_tests))

    nv, nv_se = rate_se(naive_hits[-1])
    ms, ms_se = rate_se(ms_hits[-1])
    fx, fx_se = rate_se(fixed)
    return dict(n_tests=n_tests, n_per_group=n, looks=int(k.size), alpha=alpha, metric=metric,
                naive_any_look=nv, naive_se=nv_se, fixed_horizon=fx, fixed_se=fx_se, msprt=ms, msprt_se=ms_se,
                binomial_se_at_alpha=float(np.sqrt(alpha * (1 - alpha) / n_tests)),
                naive_by_look=(naive_hits / n_tests).tolist(), msprt_by_look=(ms_hits / n_tests).tolist(),
                looks_n=k.tolist())


def power_study(plan: SequentialPlan, *, n_tests: int = 1000, effect: float | None = None, sd: float = 1.0,
                baseline: float | None = None, seed: int = 0, chunk: int = 200) -> dict:
    """Run ``n_tests`` mSPRTs of ``plan`` (looks every ``plan.batch`` members per group up to
    ``plan.n_max_per_group``, ``tau = plan.tau``, plug-in variances) on data with true ``effect``
    (default ``plan.mde``): continuous ``N(0, sd)`` vs ``N(effect, sd)``, or binary ``baseline``
    vs ``baseline + effect``. Reports the share stopping with the correct decision (vs
    ``plan.power``), wrong-sign rejections, mean members per group at stopping (vs
    ``plan.expected_n_per_group``) and the fixed-horizon test's power at ``plan.fixed_n_per_group``."""
    effect = plan.mde if effect is None else float(effect)
    n_tests = int(check_positive("n_tests", n_tests, integer=True))
    metric = plan.metric
    if metric == "binary" and baseline is None:
        raise ValueError("baseline: expected the control rate for a binary plan, got None")
    k = plan.batch * np.arange(1, plan.n_max_per_group // plan.batch + 1)
    n = int(k[-1])
    nf = plan.fixed_n_per_group
    rng = np.random.default_rng(seed)
    correct = wrong = fixed_correct = 0
    stop_n = []
    for s in range(0, n_tests, chunk):
        t = min(chunk, n_tests - s)
        n_draw = max(n, nf)
        if metric == "binary":
            ya = _draw(rng, (t, n_draw), metric, baseline, None)
            yb = _draw(rng, (t, n_draw), metric, baseline + effect, None)
        else:
            ya = _draw(rng, (t, n_draw), metric, 0.0, sd)
            yb = _draw(rng, (t, n_draw), metric, effect, sd)
        _, ms_p, delta = simulate_looks(ya[:, :n], yb[:, :n], k, alpha=plan.alpha, tau=plan.tau, metric=metric)
        hit = ms_p <= plan.alpha
        any_hit = hit.any(1)
        first = np.where(any_hit, hit.argmax(1), k.size - 1)
        sign_ok = np.sign(delta[np.arange(t), first]) == np.sign(effect)
        correct += int(np.sum(any_hit & sign_ok))
        wrong += int(np.sum(any_hit & ~sign_ok))
        stop_n.append(k[first])
        fp, _, fd = simulate_looks(ya[:, :nf], yb[:, :nf], [nf], alpha=plan.alpha, tau=plan.tau, metric=metric)
        fixed_correct += int(np.sum((fp[:, 0] <= plan.alpha) & (np.sign(fd[:, 0]) == np.sign(effect))))
    stop_n = np.concatenate(stop_n).astype(np.float64)
    pw = correct / n_tests
    return dict(n_tests=n_tests, effect=effect, power=pw, power_se=float(np.sqrt(pw * (1 - pw) / n_tests)),
                planned_power=plan.power, wrong_sign=wrong / n_tests,
                mean_n_per_group=float(stop_n.mean()), mean_n_se=float(stop_n.std(ddof=1) / np.sqrt(n_tests)),
                planned_expected_n_per_group=plan.expected_n_per_group, n_max_per_group=plan.n_max_per_group,
                fixed_n_per_group=nf, fixed_power=fixed_correct / n_tests)


def cuped_study(rho: float = 0.7, *, n_per_group: int = 500, replications: int = 2000, effect: float = 0.1,
                seed: int = 0) -> dict:
    """Replicated experiments with ``(x, y)`` standard bivariate normal, correlation ``rho``, and
    ``y + effect`` in group b, analysed as :func:`~experiments.abtest.cuped.cuped_test` does
    (pooled within-group theta), vectorised over replications. Returns the variance ratio of the
    CUPED to the raw estimator across replications, the theory ``1 - rho^2``, the standard error
    of the log ratio (``2 rho / sqrt(R)``: the two estimators are normal with correlation
    ``sqrt(1 - rho^2)``, and ``Var log(s1^2 / s2^2) = 4 (1 - r^2) / R``), the mean in-sample
    factor, and both estimators' means (unbiasedness)."""
    if not (-1 < float(rho) < 1):
        raise ValueError(f"rho: expected a correlation in (-1, 1), got {rho!r}")
    rng = np.random.default_rng(seed)
    R = int(check_positive("replications", replications, integer=True))
    n = int(check_positive("n_per_group", n_per_group, integer=True))
    x = rng.standard_normal((2, R, n))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((2, R, n))
    y[1] += effect
    xc = x - x.mean(2, keepdims=True)
    yc = y - y.mean(2, keepdims=True)
    theta = (xc * yc).sum((0, 2)) / (xc * xc).sum((0, 2))  # (R,)
    xm = x.mean((0, 2))
    z = y - theta[None, :, None] * (x - xm[None, :, None])
    est = z[1].mean(1) - z[0].mean(1)
    raw = y[1].mean(1) - y[0].mean(1)
    f_in = (z.var(2, ddof=1).sum(0)) / (y.var(2, ddof=1).sum(0))
    ratio = float(est.var(ddof=1) / raw.var(ddof=1))
    return dict(rho=rho, theory=1 - rho**2, variance_ratio=ratio, log_ratio_se=float(2 * abs(rho) / np.sqrt(R)),
                mean_in_sample_factor=float(f_in.mean()), cuped_mean=float(est.mean()), raw_mean=float(raw.mean()),
                effect=effect, cuped_se=float(est.std(ddof=1) / np.sqrt(R)), raw_se=float(raw.std(ddof=1) / np.sqrt(R)),
                replications=R, n_per_group=n)
