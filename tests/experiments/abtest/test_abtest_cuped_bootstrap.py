"""CUPED (variance factor 1 - rho^2) and the Poisson bootstrap (compressed vs exact row-level)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from experiments.abtest.bootstrap import (
    StreamingCompressor,
    bootstrap_diff,
    compress,
    percentile_interval,
    poisson_bootstrap_mean,
    poisson_bootstrap_rows,
)
from experiments.abtest.cuped import cuped_adjust, cuped_test, cuped_theta
from experiments.abtest.studies import cuped_study


def test_cuped_matches_ols_and_reduces_variance_by_one_minus_rho_squared():
    rng = np.random.default_rng(0)
    n, rho = 20000, 0.6
    x = rng.standard_normal((2, n))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((2, n)) + np.array([[0.0], [0.05]])
    r = cuped_test(y[0], x[0], y[1], x[1])
    # theta: pooled within-group OLS slope (independent computation with lstsq)
    X = np.column_stack([np.r_[x[0], x[1]], np.r_[np.ones(n), np.zeros(n)], np.r_[np.zeros(n), np.ones(n)]])
    coef = np.linalg.lstsq(X, np.r_[y[0], y[1]], rcond=None)[0]
    assert r.theta == pytest.approx(coef[0], rel=1e-10)
    # the CUPED estimate equals the ANCOVA treatment coefficient
    assert r.estimate == pytest.approx(coef[2] - coef[1], rel=1e-9)
    # in-sample variance factor vs theory: SE of 1 - rho_hat^2 is about 2 rho (1 - rho^2) / sqrt(2n)
    assert abs(r.variance_factor - (1 - rho**2)) <= 4 * 2 * rho * (1 - rho**2) / np.sqrt(2 * n)
    assert abs(r.rho - rho) <= 4 * (1 - rho**2) / np.sqrt(2 * n)
    assert r.ci_low < r.estimate < r.ci_high and r.std_error < r.raw_std_error
    # single-sample helpers
    assert cuped_theta(y[0], x[0]) == pytest.approx(np.cov(y[0], x[0], ddof=0)[0, 1] / np.var(x[0]), rel=1e-12)
    adj = cuped_adjust(y[0], x[0])
    assert adj.mean() == pytest.approx(y[0].mean(), rel=1e-12)


def test_cuped_variance_factor_across_replications():
    """Across 2,000 replicated experiments the estimator variance ratio is 1 - rho^2 within 3.5 SE
    of the log ratio (SE = 2 rho / sqrt(R)); both estimators are unbiased."""
    for rho in (0.5, 0.8):
        r = cuped_study(rho, n_per_group=400, replications=2000, seed=1)
        assert abs(np.log(r["variance_ratio"] / r["theory"])) <= 3.5 * r["log_ratio_se"]
        assert abs(r["cuped_mean"] - r["effect"]) <= 4 * r["cuped_se"]
        assert abs(r["raw_mean"] - r["effect"]) <= 4 * r["raw_se"]


def test_cuped_bad_input():
    with pytest.raises(ValueError, match="x_a.*covariate per member"):
        cuped_test(np.ones(5), np.ones(4), np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="constants"):
        cuped_test(np.arange(5.0), np.ones(5), np.arange(5.0), np.ones(5))
    with pytest.raises(ValueError, match="y_b.*empty"):
        cuped_test(np.arange(5.0), np.arange(5.0), [], [])
    with pytest.raises(ValueError, match="x_b.*finite.*nan"):
        cuped_test(np.arange(5.0), np.arange(5.0), np.arange(5.0), [0, 1, np.nan, 3, 4])
    with pytest.raises(ValueError, match="alpha"):
        cuped_test(np.arange(5.0), np.arange(5.0), np.arange(5.0), np.arange(5.0), alpha=2)


def test_compression_is_exact_for_integer_metrics_and_keeps_moments():
    rng = np.random.default_rng(0)
    clicks = rng.poisson(0.3, 50_000).astype(float)
    c = compress(clicks)
    assert c.exact and c.n == 50_000 and c.mean == pytest.approx(clicks.mean(), rel=1e-12)
    np.testing.assert_array_equal(c.values, np.unique(clicks))
    y = rng.lognormal(0, 1, 100_000)
    cc = compress(y, n_buckets=100)
    assert not cc.exact and cc.n == y.size and cc.mean == pytest.approx(y.mean(), rel=1e-12)
    total_ss = np.sum(cc.within_ss) + np.sum(cc.counts * (cc.values - cc.mean) ** 2)
    assert total_ss == pytest.approx(np.sum((y - y.mean()) ** 2), rel=1e-9)
    # streaming in chunks == one shot with the same edges
    s = StreamingCompressor.from_sample(y[:5000], 100, lo=y.min(), hi=y.max())
    for k in range(0, y.size, 30_000):
        s.update(y[k:k + 30_000])
    r = s.result()
    assert r.n == y.size and r.mean == pytest.approx(y.mean(), rel=1e-12)


def _quantile_se(q, B, sd):
    """Monte Carlo SE of the q-quantile of B normal replicates with standard deviation sd."""
    return np.sqrt(q * (1 - q) / B) / norm.pdf(norm.ppf(q)) * sd


@pytest.mark.parametrize("kind", ["lognormal", "binary"])
def test_compressed_bootstrap_agrees_with_exact_row_bootstrap(kind):
    rng = np.random.default_rng(1)
    n, B = 10_000, 1000
    y = rng.lognormal(0, 1, n) if kind == "lognormal" else (rng.random(n) < 0.05).astype(float)
    exact = poisson_bootstrap_rows((y[k:k + 2500] for k in range(0, n, 2500)), B=B, seed=2)
    comp = poisson_bootstrap_mean(compress(y, n_buckets=500), B=B, seed=3)
    sd = y.std() / np.sqrt(n)  # bootstrap sd of the mean
    assert exact.std() == pytest.approx(sd, rel=4 * np.sqrt(1 / (2 * B)))
    assert comp.std() == pytest.approx(sd, rel=4 * np.sqrt(1 / (2 * B)))
    tol = 4 * np.sqrt(2) * _quantile_se(0.025, B, sd)  # two independent MC estimates
    for e, c in zip(percentile_interval(exact), percentile_interval(comp), strict=True):
        assert abs(e - c) <= tol, (e, c, tol)


def test_bootstrap_diff_interval_and_errors():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 40_000), rng.normal(0.05, 1, 40_000)
    r = bootstrap_diff(a, b, B=1000, seed=0)
    se = np.sqrt(2 / 40_000)
    assert r.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert r.std_error == pytest.approx(np.sqrt(a.var() / 4e4 + b.var() / 4e4), rel=4 * np.sqrt(1 / 2000))
    tol = 4 * _quantile_se(0.025, 1000, se)
    assert abs(r.ci_low - (r.estimate - 1.96 * se)) <= tol and abs(r.ci_high - (r.estimate + 1.96 * se)) <= tol
    with pytest.raises(ValueError, match="B"):
        poisson_bootstrap_mean(a, B=1)
    with pytest.raises(ValueError, match="y_a.*empty"):
        bootstrap_diff([], b)
    with pytest.raises(ValueError, match="alpha"):
        percentile_interval(r.replicates, alpha=1.0)
    with pytest.raises(ValueError, match="chunks"):
        poisson_bootstrap_rows(iter([]), B=10)
