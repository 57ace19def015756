"""mSPRT: closed form, always-valid guarantees by simulation, planning vs recursion and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from experiments.abtest.planning import (
    fixed_power,
    fixed_sample_size,
    plan_sequential,
    sequential_operating_characteristics,
)
from experiments.abtest.sequential import MSPRT, msprt_statistic, msprt_test, naive_peeking_pvalues
from experiments.abtest.studies import aa_peeking_study, power_study


def test_mixture_likelihood_ratio_matches_numerical_integral():
    # Lambda = int N(Delta; theta, V) N(theta; theta0, tau^2) dtheta / N(Delta; theta0, V)
    from scipy import integrate

    for delta, V, tau, theta0 in [(0.3, 0.01, 0.2, 0.0), (-0.05, 0.002, 0.05, 0.01), (0.0, 1.0, 0.5, 0.0)]:
        num = integrate.quad(lambda t, d=delta, v=V, s=tau, t0=theta0: norm.pdf(d, t, np.sqrt(v)) * norm.pdf(t, t0, s),
                             theta0 - 12 * tau, theta0 + 12 * tau, epsabs=0, epsrel=1e-12, limit=200)[0]
        ref = num / norm.pdf(delta, theta0, np.sqrt(V))
        log_lam, half = msprt_statistic(delta, V, tau, 0.05, theta0)
        assert float(log_lam) == pytest.approx(np.log(ref), rel=1e-8, abs=1e-10)
        # the confidence-sequence edge is exactly where Lambda = 1/alpha
        edge, _ = msprt_statistic(theta0 + float(half), V, tau, 0.05, theta0)
        assert float(edge) == pytest.approx(np.log(20.0), rel=1e-10)


def test_msprt_test_batch_equals_streaming_and_looks():
    rng = np.random.default_rng(3)
    ya, yb = rng.normal(0, 1, 3000), rng.normal(0.15, 1, 3000)
    r = msprt_test(ya, yb, batch=300, tau=0.1)
    assert list(r.n_a) == list(range(300, 3001, 300))
    s = MSPRT(tau=0.1)
    for k in range(10):
        out = s.update(ya[300 * k:300 * (k + 1)], yb[300 * k:300 * (k + 1)])
        assert out["p_value"] == pytest.approx(r.p_value[k], rel=1e-9)
        assert out["ci_low"] == pytest.approx(r.ci_low[k], rel=1e-9, abs=1e-12)
    # p non-increasing, CS nested, estimate equals difference of means
    assert np.all(np.diff(r.p_value) <= 0) and np.all(np.diff(r.ci_low) >= 0) and np.all(np.diff(r.ci_high) <= 0)
    assert r.estimate[-1] == pytest.approx(yb.mean() - ya.mean(), rel=1e-12)
    assert r.rejected and r.stop_n == int(r.n_a[r.stop_look] + r.n_b[r.stop_look])
    assert r.ci_low[-1] <= 0.15 <= r.ci_high[-1]
    npv = naive_peeking_pvalues(ya, yb, batch=300)
    se = np.sqrt(ya.var(ddof=1) / 3000 + yb.var(ddof=1) / 3000)
    assert npv[-1] == pytest.approx(2 * norm.sf(abs(yb.mean() - ya.mean()) / se), rel=1e-9)


@pytest.mark.parametrize("metric", ["continuous", "binary"])
def test_aa_peeking_naive_inflates_msprt_controls(metric):
    """1,000 A/A tests, 50 looks each: naive peeking far above alpha; mSPRT <= alpha + 3 binomial SE."""
    r = aa_peeking_study(1000, 1000, 50, alpha=0.05, metric=metric, rate=0.1, seed=11)
    se = np.sqrt(0.05 * 0.95 / 1000)
    assert r["naive_any_look"] > 0.05 + 10 * se  # ~0.35 expected (Armitage et al.: ~0.3 for 50 looks)
    assert abs(r["fixed_horizon"] - 0.05) <= 3.5 * se  # one look: nominal
    assert r["msprt"] <= 0.05 + 3 * se


def test_confidence_sequence_covers_uniformly_over_time():
    rng = np.random.default_rng(5)
    theta = 0.2
    miss = 0
    for _ in range(300):
        r = msprt_test(rng.normal(0, 1, 800), rng.normal(theta, 1, 800), looks=40, tau=0.2)
        miss += bool(np.any((r.ci_low > theta) | (r.ci_high < theta)))
    assert miss / 300 <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)


def test_fixed_horizon_sample_sizes_match_textbook_values():
    # Fleiss without continuity correction: 10% -> 15%, alpha 0.05 two-sided, power 0.8: 686 per group
    assert fixed_sample_size(0.05, baseline=0.10, metric="binary").n_per_group == 686
    # continuous, effect 0.2 sd: 2 (1.95996 + 0.84162)^2 / 0.04 = 392.4 -> 393
    plan = fixed_sample_size(0.2, sd=1.0, traffic=100.0)
    assert plan.n_per_group == 393 and plan.days == pytest.approx(7.86)
    assert 0.8 <= plan.power <= fixed_power(394, 0.2, sd=1.0)
    # power by simulation of the z-test at n = 393
    rng = np.random.default_rng(0)
    R = 4000
    d = rng.normal(0.2, 1, (R, 393)).mean(1) - rng.normal(0, 1, (R, 393)).mean(1)
    sim = np.mean(np.abs(d) / np.sqrt(2 / 393) > norm.ppf(0.975))
    assert abs(sim - plan.power) <= 3 * np.sqrt(0.8 * 0.2 / R)


def test_sequential_recursion_matches_monte_carlo():
    """Boundary-crossing probabilities by recursive integration vs direct simulation (known var)."""
    n = 25 * np.arange(1, 21)
    oc = sequential_operating_characteristics(0.15, np.sqrt(2.0), n, alpha=0.05, tau=0.15)
    rng = np.random.default_rng(2)
    R = 20000
    delta = np.cumsum(rng.normal(0.15, np.sqrt(2.0), (R, 500)), axis=1)[:, n - 1] / n
    _, half = msprt_statistic(0.0, 2.0 / n, 0.15, 0.05)
    hit = np.abs(delta) >= half
    first = np.where(hit.any(1), hit.argmax(1), n.size - 1)
    up = hit.any(1) & (delta[np.arange(R), first] > 0)
    p = oc["power_upper"]
    assert abs(up.mean() - p) <= 3.5 * np.sqrt(p * (1 - p) / R)
    en = n[first].astype(float)
    assert abs(en.mean() - oc["expected_n"]) <= 3.5 * en.std() / np.sqrt(R)
    # the bound: under H0 the crossing probability never exceeds alpha
    null = sequential_operating_characteristics(0.0, 1.0, 10 * np.arange(1, 201), alpha=0.05, tau=0.1)
    assert null["power_upper"] + null["power_lower"] <= 0.05


def test_power_study_meets_plan():
    plan = plan_sequential(0.2, sd=1.0, alpha=0.05, power=0.8)
    assert plan.power >= 0.8 and plan.fixed_n_per_group == 393
    r = power_study(plan, n_tests=1000, seed=4)
    assert abs(r["power"] - plan.power) <= 3 * np.sqrt(0.8 * 0.2 / 1000)
    assert r["wrong_sign"] <= 0.01
    assert abs(r["mean_n_per_group"] - plan.expected_n_per_group) <= 3.5 * r["mean_n_se"]
    # a larger effect stops much earlier than the fixed horizon on average
    big = power_study(plan, n_tests=400, effect=0.4, seed=5)
    assert big["power"] > 0.99 and big["mean_n_per_group"] < 0.6 * plan.fixed_n_per_group


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: msprt_test([], [1.0, 2.0]), ValueError, ["y_a", "empty"]),
        (lambda: msprt_test([1.0, np.nan], [1.0, 2.0]), ValueError, ["y_a", "finite", "nan", "index 1"]),
        (lambda: msprt_test([1.0, 2.0], [1.0, 2.0], alpha=1.5), ValueError, ["alpha", "(0, 1)", "1.5"]),
        (lambda: msprt_test([1.0, 2.0], [1.0, 2.0], alpha=0), ValueError, ["alpha", "(0, 1)"]),
        (lambda: msprt_test([0.0, 2.0], [1.0, 0.0], metric="binary"), ValueError, ["binary", "2.0"]),
        (lambda: msprt_test([1.0, 2.0], [1.0, 2.0], tau=-1), ValueError, ["tau", "> 0"]),
        (lambda: msprt_test(np.ones((2, 2)), [1.0]), ValueError, ["y_a", "1-d", "(2, 2)"]),
        (lambda: fixed_sample_size(0.0, sd=1.0), ValueError, ["mde", "nonzero"]),
        (lambda: fixed_sample_size(0.1, sd=1.0, power=1.0), ValueError, ["power", "(0, 1)"]),
        (lambda: fixed_sample_size(0.1), ValueError, ["sd", "continuous"]),
        (lambda: fixed_sample_size(0.95, baseline=0.1, metric="binary"), ValueError, ["mde", "(0, 1)"]),
        (lambda: MSPRT(alpha=-0.1), ValueError, ["alpha"]),
    ],
)
def test_bad_input_messages(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_rare_binary_metric_keeps_a_valid_confidence_sequence():
    """All-zero early looks of a rare event must not collapse the confidence sequence."""
    rng = np.random.default_rng(8)
    pa, pb = 0.004, 0.008
    miss = 0
    for _ in range(200):
        r = msprt_test((rng.random(5000) < pa).astype(float), (rng.random(5000) < pb).astype(float),
                       metric="binary", looks=50, tau=0.004)
        assert np.all(r.ci_low <= r.ci_high)
        miss += bool(np.any((r.ci_low > pb - pa) | (r.ci_high < pb - pa)))
    assert miss / 200 <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)
