"""Statistical checks on synthetic logs with a known true policy value.

Tolerances come from the math: means within 3 standard errors of the truth over 200 datasets;
interval coverage within 3 binomial standard errors of the nominal rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from bandits.estimators import bootstrap_means, evaluate
from bandits.estimators import intervals as iv

N_DATASETS = 200
N_ROWS = 2000
M, K, L = 10, 4, 2  # context types, actions, slots


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(20261126)
    logits_b = rng.normal(size=(M, L, K))
    pi_b = np.exp(logits_b) / np.exp(logits_b).sum(-1, keepdims=True)  # logging policy (M, L, K)
    logits_e = 1.5 * rng.normal(size=(M, L, K))
    pi_e = np.exp(logits_e) / np.exp(logits_e).sum(-1, keepdims=True)  # target policy
    q = rng.uniform(0.05, 0.6, size=(M, L, K))  # true click probability
    truth = float(np.mean(np.sum(pi_e * q, axis=-1)))  # x and slot uniform and independent
    q_hat = 0.5 * q + 0.1  # a fixed, wrong reward model: DR stays unbiased with true propensities
    return pi_b, pi_e, q, q_hat, truth


def _dataset(world, seed):
    pi_b, pi_e, q, q_hat, _ = world
    rng = np.random.default_rng(seed)
    x = rng.integers(0, M, N_ROWS)
    k = rng.integers(0, L, N_ROWS)
    cdf = np.cumsum(pi_b[x, k], axis=1)
    a = np.minimum((rng.random(N_ROWS)[:, None] > cdf).sum(1), K - 1)
    r = (rng.random(N_ROWS) < q[x, k, a]).astype(float)
    data = {"reward": r, "action": a, "pscore": pi_b[x, k, a], "position": k, "n_actions": K, "len_list": L}
    ad = pi_e[x].transpose(0, 2, 1)  # (n, K, L)
    qh = q_hat[x].transpose(0, 2, 1)
    return data, ad, qh


@pytest.fixture(scope="module")
def normal_runs(world):
    out = []
    for s in range(N_DATASETS):
        data, ad, qh = _dataset(world, s)
        out.append(evaluate(data, ad, estimators=["ipw", "snipw", "dr", "sndr"], estimated_rewards=qh,
                            interval="normal").set_index("estimator"))
    return out


def _coverage_bounds(level=0.95, n=N_DATASETS):
    se = np.sqrt(n * level * (1 - level))
    return n * level - 3 * se, n * level + 3 * se


@pytest.mark.parametrize("name", ["ipw", "dr"])
def test_unbiased_over_200_datasets(world, normal_runs, name):
    truth = world[-1]
    est = np.array([df.loc[name, "estimate"] for df in normal_runs])
    se = est.std(ddof=1) / np.sqrt(N_DATASETS)
    assert abs(est.mean() - truth) <= 3 * se, (est.mean(), truth, se)


@pytest.mark.parametrize("name", ["snipw", "dr", "ipw", "sndr"])
def test_normal_interval_coverage(world, normal_runs, name):
    truth = world[-1]
    covered = sum(df.loc[name, "ci_low"] <= truth <= df.loc[name, "ci_high"] for df in normal_runs)
    lo, hi = _coverage_bounds()
    assert lo <= covered <= hi, covered


def test_pooled_bootstrap_coverage(world):
    """The pooled Poisson bootstrap (forced: direct_limit=0) covers at the nominal rate."""
    truth = world[-1]
    from bandits.data import LoggedData
    from bandits.estimators.core import (
        Columns,
        Estimator,
        column_keys,
        term_index,
        values_from_means,
    )

    est = [Estimator("snipw"), Estimator("dr")]
    keys = column_keys(est)
    terms = term_index(est, keys)
    rng = np.random.default_rng(7)
    covered = np.zeros(2, int)
    for s in range(N_DATASETS):
        data, ad, qh = _dataset(world, 1000 + s)
        C = Columns(LoggedData.from_obp(data), ad, qh).matrix(keys)
        reps = values_from_means(terms, bootstrap_means(C, 400, rng, direct_limit=0))
        lo, hi, _ = iv.percentile_interval(reps, 0.05)
        covered += (lo <= truth) & (truth <= hi)
    lo, hi = _coverage_bounds()
    assert np.all((lo <= covered) & (covered <= hi)), covered


def test_pooled_matches_direct_and_delta_method(world):
    """Same target: bootstrap SEs of pooled and direct iid weights agree with the delta method
    within the Monte-Carlo error of a B-replicate SD (relative sd ~ 1/sqrt(2B))."""
    data, ad, qh = _dataset(world, 99)
    B = 2000
    df_n = evaluate(data, ad, estimators=["ipw", "snipw", "dr"], estimated_rewards=qh, interval="normal")
    from bandits.data import LoggedData
    from bandits.estimators.core import (
        Columns,
        Estimator,
        column_keys,
        term_index,
        values_from_means,
    )

    est = [Estimator("ipw"), Estimator("snipw"), Estimator("dr")]
    keys = column_keys(est)
    C = Columns(LoggedData.from_obp(data), ad, qh).matrix(keys)
    terms = term_index(est, keys)
    rng = np.random.default_rng(3)
    se_pooled = values_from_means(terms, bootstrap_means(C, B, rng, direct_limit=0)).std(0, ddof=1)
    se_direct = values_from_means(terms, bootstrap_means(C, B, rng, direct_limit=10**12)).std(0, ddof=1)
    se_delta = df_n["std_err"].to_numpy()
    tol = 3 * np.sqrt(2.0) / np.sqrt(2 * (B - 1)) + 0.01  # two independent SD estimates, + O(1/n) bias slack
    np.testing.assert_allclose(se_pooled, se_direct, rtol=tol)
    np.testing.assert_allclose(se_pooled, se_delta, rtol=tol)


def test_pooled_weights_are_iid_poisson_within_and_uncorrelated_across_rows():
    """Recover every replicate's row weights with indicator columns (C = identity)."""
    n, B = 600, 200  # s = 3 rows per chunk, 200 chunks: every pool vector is reused on other chunks
    rng = np.random.default_rng(5)
    C = np.eye(n)
    shift = np.zeros(n)
    S = iv.bootstrap_sums(C, B, rng, shift, direct_limit=0)
    w = S[:, :n]  # (B, n) weights of each row in each replicate
    np.testing.assert_allclose(S[:, n], w.sum(1))  # the count column is the total weight
    assert set(np.unique(w)) <= set(range(20))
    # Poisson(1): mean 1 and variance 1. The B * n weights are B * s = 600 pool draws, each used
    # once per chunk, so the standard errors are those of 600 draws: 1/sqrt(600) for the mean and
    # sqrt((mu4 - 1) / 600) = sqrt(3 / 600) for the variance.
    n_pool = B * int(np.ceil(n / B))
    assert abs(w.mean() - 1.0) < 4 / np.sqrt(n_pool)
    assert abs(w.var() - 1.0) < 4 * np.sqrt(3.0 / n_pool)
    # rows never share weights systematically: correlations across replicates are noise (se 1/sqrt(B))
    corr = np.corrcoef(w.T)
    off = corr[~np.eye(n, dtype=bool)]
    assert np.abs(off).max() < 6 / np.sqrt(B)
    assert abs(off.mean()) < 0.01


def test_pooled_sums_match_an_explicit_loop():
    """The strided skewed-diagonal sums equal a plain loop over replicates and chunks."""
    import math

    n, B, m1 = 50, 7, 3
    Ct = np.random.default_rng(0).random((m1, n))
    S = iv._pooled_poisson_sums(Ct, B, np.random.default_rng(1), block_bytes=8 * B * m1 * 3)  # 3 chunks per block
    r = np.random.default_rng(1)  # replay the same draws
    s = math.ceil(n / B)
    kc = math.ceil(n / s)
    perm = r.permutation(n)
    Cp = np.zeros((m1, kc * s))
    Cp[:, :n] = Ct[:, perm]
    W = r.poisson(1.0, size=(B, s)).astype(float)
    ref = np.zeros((B, m1))
    for b in range(B):
        for k in range(kc):
            ref[b] += W[(b + k) % B] @ Cp[:, k * s:(k + 1) * s].T
    np.testing.assert_allclose(S, ref, rtol=1e-12, atol=1e-12)


def test_multinomial_bootstrap_matches_its_closed_form_variance():
    """Classic resampling of n rows: Var*(mean) = (1/n) * (1/n) sum (x - xbar)^2 exactly."""
    x = np.array([0.0, 1.0, 3.0, 4.0, 7.0, 2.0, 2.0, 9.0])
    n, B = x.size, 4000
    reps = bootstrap_means(x[None, :], B, np.random.default_rng(11), method="multinomial")[:, 0]
    target = np.sqrt(np.mean((x - x.mean()) ** 2) / n)
    assert abs(reps.std(ddof=1) / target - 1.0) <= 3 / np.sqrt(2 * (B - 1))
    assert abs(reps.mean() - x.mean()) <= 4 * target / np.sqrt(B)


def test_means_only_moments_match_numpy_and_refuse_a_covariance():
    """Point estimates accumulate means only: the same means as the full moments and numpy's
    (two chunks, as streamed), and no covariance to read by mistake."""
    from bandits.estimators.intervals import Moments

    rng = np.random.default_rng(5)
    X = rng.lognormal(size=(4, 1001))
    full, means = Moments(4), Moments(4, covariance=False)
    for part in (X[:, :400], X[:, 400:]):
        full.add_with_ones(np.vstack([part, np.ones(part.shape[1])]))
        means.add_with_ones(np.vstack([part, np.ones(part.shape[1])]))
    np.testing.assert_allclose(means.mean, X.mean(axis=1), rtol=1e-13)
    np.testing.assert_allclose(means.mean, full.mean, rtol=1e-13)
    assert means.n == full.n == 1001
    with pytest.raises(ValueError, match="covariance"):
        _ = means.cov
