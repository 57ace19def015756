"""Response model: recovery on synthetic logs, IPW under a non-uniform logger, malformed logs, metrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from envs.logged import (
    MalformedLogsError,
    MalformedLogsWarning,
    check_logs,
    fit_member_simulator,
    fit_response_model,
)
from envs.logged.response import _binom_ci, _weighted_auc, item_design


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_recovers_a_known_logistic_model():
    """Items x slots with a member feature; tiny penalties, n large: logits within 4 SE."""
    rng = np.random.default_rng(0)
    K, L, n = 4, 2, 60_000
    bias = np.array([-2.0, -1.5, -1.0, -2.5])
    w = np.array([0.8, -0.5, 0.0, 0.3])  # member-feature effect per item
    pos = np.array([0.0, -0.6])
    x = rng.integers(0, 2, n).astype(float)[:, None]
    a = rng.integers(0, K, n)
    l_ = rng.integers(0, L, n)
    z = bias[a] + w[a] * x[:, 0] + pos[l_]
    y = (rng.random(n) < _sigmoid(z)).astype(float)
    model, report = fit_response_model(x, a, y, l_, np.full(n, 1 / K), K, L, None, penalties=(1e-3, 1e-3),
                                       calibration="none", heldout_frac=0.2)
    for xv in (0.0, 1.0):
        for item in range(K):
            for slot in range(L):
                true = bias[item] + w[item] * xv + pos[slot]
                got = model.raw_logit(np.array([[xv]]), np.array([item]), np.array([slot]))[0]
                p = _sigmoid(true)
                # logit SE of one (x, item) cell (n / 2K rows) plus that of the slot contrast (n / L rows
                # per slot); the two estimates are independent to first order
                se_cell = 1 / np.sqrt(n / (2 * K) * p * (1 - p))
                se_pos = 1 / np.sqrt(n / L * p * (1 - p))
                assert abs(got - true) < 4 * np.hypot(se_cell, se_pos), (xv, item, slot, got, true)
    assert report.logger == "uniform" and report.n_heldout + report.n_train == n
    assert report.auc > 0.55 and report.log_loss < report.log_loss_baseline


def test_ipw_undoes_a_non_uniform_logger():
    """A hidden member type drives both clicks and the logger: the naive per-item rate is biased, the
    inverse-propensity-weighted fit recovers the population-average click rate of each item."""
    rng = np.random.default_rng(1)
    n, K = 80_000, 2
    h = rng.random(n) < 0.3  # hidden engaged members (30%)
    p_click = np.where(h[:, None], [0.30, 0.10], [0.05, 0.10])  # (n, K)
    pi0 = np.where(h, 0.9, 0.2)  # logger shows item 0 mostly to engaged members
    a = (rng.random(n) >= pi0).astype(int)
    ps = np.where(a == 0, pi0, 1 - pi0)
    y = (rng.random(n) < p_click[np.arange(n), a]).astype(float)
    truth = np.array([0.3 * 0.30 + 0.7 * 0.05, 0.10])  # population averages
    ctx = np.zeros((n, 0))
    m_ipw, rep = fit_response_model(ctx, a, y, None, ps, K, 1, None, penalties=(1e-3, 1e-3), calibration="none",
                                    weight_clip=1e9)
    m_naive, _ = fit_response_model(ctx, a, y, None, None, K, 1, None, penalties=(1e-3, 1e-3), calibration="none",
                                    assume_uniform=True)
    got_ipw = _sigmoid(m_ipw.item_bias)
    got_naive = _sigmoid(m_naive.item_bias)
    # SE of a weighted mean of Bernoullis; generous 4-SE band
    se0 = np.sqrt(truth[0] * (1 - truth[0]) / (n * 0.4)) * 2
    assert rep.logger == "non-uniform"
    assert abs(got_ipw[0] - truth[0]) < 4 * se0, (got_ipw, truth)
    assert abs(got_naive[0] - truth[0]) > 10 * se0  # the bias IPW removes is real
    assert abs(got_ipw[1] - truth[1]) < 4 * np.sqrt(0.1 * 0.9 / (n * 0.6)) * 2


def test_check_logs_weights_closed_form():
    a = np.array([0, 1, 2, 1])
    ps = np.array([0.5, 0.25, 0.125, 0.25])
    w, kind = check_logs(a, np.array([0, 1, 0, 0.0]), ps, 4, min_clicks=0)
    assert kind == "non-uniform"
    np.testing.assert_allclose(w, 0.25 / ps)


def _logs(n=3000, K=5, seed=0, rate=0.2):
    rng = np.random.default_rng(seed)
    return dict(context=rng.standard_normal((n, 2)), action=rng.integers(0, K, n),
                reward=(rng.random(n) < rate).astype(float), pscore=np.full(n, 1 / K), position=None,
                action_context=None, n_actions=K, len_list=1)


def test_malformed_single_action():
    d = _logs()
    d["action"] = np.full_like(d["action"], 3)
    with pytest.raises(MalformedLogsError, match="action: all 3000 logged rows show the same action"):
        fit_member_simulator(d, penalties=(1.0, 1.0))


def test_malformed_all_zero_rewards():
    d = _logs()
    d["reward"] = np.zeros_like(d["reward"])
    with pytest.raises(MalformedLogsError, match="reward: all 3000 logged rewards are zero"):
        fit_member_simulator(d, penalties=(1.0, 1.0))


def test_malformed_non_binary_rewards():
    d = _logs()
    d["reward"] = d["reward"] * 2.5
    with pytest.raises(MalformedLogsError, match="reward: expected binary clicks"):
        fit_member_simulator(d, penalties=(1.0, 1.0))


def test_missing_pscore_with_a_non_uniform_logger_is_an_error():
    d = _logs()
    rng = np.random.default_rng(2)
    d["action"] = rng.choice(5, 3000, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    for missing in (None, np.ones(3000), np.full(3000, np.nan)):
        d["pscore"] = missing
        with pytest.raises(MalformedLogsError, match="pscore: missing .* far from uniform"):
            fit_member_simulator(d, penalties=(1.0, 1.0))


def test_missing_pscore_with_uniform_looking_logs_warns_and_fits():
    d = _logs()
    d["pscore"] = None
    with pytest.warns(MalformedLogsWarning, match="pscore: missing; the action frequencies are consistent"):
        sim = fit_member_simulator(d, penalties=(1.0, 1.0))
    assert sim.report.logger == "assumed-uniform"
    assert any("pscore" in w for w in sim.report.warnings)


def test_few_clicks_warn():
    d = _logs(rate=0.0)
    d["reward"][:4] = 1.0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit_member_simulator(d, penalties=(1.0, 1.0))
    assert any(issubclass(r.category, MalformedLogsWarning) and "only 4 clicks" in str(r.message) for r in rec)


def test_weighted_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.3).astype(float)
    s = np.round(rng.standard_normal(500) + y, 1)  # ties
    w = rng.random(500) + 0.1
    np.testing.assert_allclose(_weighted_auc(y, s, w), roc_auc_score(y, s, sample_weight=w), rtol=1e-12)


def test_wilson_interval_matches_scipy():
    for k, n in ((38, 10_000), (0, 50), (7, 9)):
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        np.testing.assert_allclose(_binom_ci(k, n), (ci.low, ci.high), rtol=1e-9, atol=1e-12)


def test_item_design_one_hot_codes_and_standardises_numbers():
    ac = np.array([[0, 1.5], [1, 2.5], [2, 3.5], [1, 0.5]])
    Z = item_design(ac, 4)
    assert Z.shape == (4, 4)
    np.testing.assert_array_equal(Z[:, :3], np.eye(3)[[0, 1, 2, 1]])
    np.testing.assert_allclose(Z[:, 3], (ac[:, 1] - ac[:, 1].mean()) / ac[:, 1].std())


def test_item_dispersion_statistic():
    """Unit weights: binomial dispersion chi-square (numpy loop reference); weights of 2 on every row
    leave it unchanged (scale-free)."""
    from envs.logged.response import _item_dispersion

    rng = np.random.default_rng(5)
    a = rng.integers(0, 6, 5000)
    y = (rng.random(5000) < np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.3])[a]).astype(float)
    r = y.mean()
    ref = 0.0
    for item in range(6):
        n_a, c_a = np.sum(a == item), np.sum(y[a == item])
        ref += (c_a - n_a * r) ** 2 / (n_a * r * (1 - r))
    out = _item_dispersion(a, y, np.ones(5000), 6)
    assert out["chi2"] == pytest.approx(ref, rel=1e-12) and out["df"] == 5
    assert out["p"] == pytest.approx(stats.chi2.sf(ref, 5), rel=1e-9) and out["p"] < 1e-6
    assert _item_dispersion(a, y, 2 * np.ones(5000), 6)["chi2"] == pytest.approx(ref, rel=1e-12)
