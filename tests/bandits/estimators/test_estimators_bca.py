"""The BCa interval (interval="bca") against scipy.stats.bootstrap(method="BCa") on a small log."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bandits.data import LoggedData
from bandits.estimators import evaluate, evaluate_batches
from bandits.estimators.intervals import bca_interval, jackknife_means


def _log(n=40, K=3, seed=0):
    rng = np.random.default_rng(seed)
    ps = rng.uniform(0.1, 0.9, n)
    a = rng.integers(0, K, n)
    r = rng.binomial(1, 0.4, n).astype(float)
    ad = rng.dirichlet(np.ones(K), n)[:, :, None]
    return LoggedData(context=None, action=a, reward=r, pscore=ps, n_actions=K), ad


def test_bca_matches_scipy_on_a_small_log():
    """IPW (a mean) and SNIPW (a ratio, paired resampling in scipy): both endpoints within a tenth of
    a standard error of scipy's, with 20,000 classic resamples on each side (the Monte-Carlo noise
    of an endpoint is about 0.04 standard errors here)."""
    data, ad = _log()
    n = data.n_rounds
    w = ad[np.arange(n), data.action, 0] / data.pscore
    wr = w * data.reward
    df = evaluate(data, ad, ["ipw", "snipw"], interval="bca", n_bootstrap=20_000, bootstrap_method="multinomial",
                  random_state=1).set_index("estimator")
    s_ipw = stats.bootstrap((wr,), np.mean, method="BCa", n_resamples=20_000, random_state=2)
    s_sn = stats.bootstrap((wr, w), lambda x, y, axis=-1: x.sum(axis) / y.sum(axis), paired=True, method="BCa",
                           n_resamples=20_000, random_state=2)
    for nm, s in (("ipw", s_ipw), ("snipw", s_sn)):
        se = s.standard_error
        assert df.loc[nm, "ci_low"] == pytest.approx(s.confidence_interval.low, abs=0.1 * se)
        assert df.loc[nm, "ci_high"] == pytest.approx(s.confidence_interval.high, abs=0.1 * se)
        assert df.loc[nm, "std_err"] == pytest.approx(se, rel=0.05)
    # on skewed data BCa moves both ends away from the percentile interval, towards the long tail
    pct = evaluate(data, ad, ["ipw"], interval="bootstrap", n_bootstrap=20_000, bootstrap_method="multinomial",
                   random_state=1)
    assert df.loc["ipw", "ci_high"] > pct["ci_high"].iloc[0]


def test_jackknife_and_acceleration_by_hand():
    rng = np.random.default_rng(0)
    x = rng.exponential(size=30)
    C1 = np.vstack([x, np.ones_like(x)])
    jack = jackknife_means(C1)[:, 0]
    np.testing.assert_allclose(jack, [(x.sum() - xi) / 29 for xi in x], rtol=1e-13)
    reps = rng.choice(x, size=(5000, 30)).mean(axis=1)[:, None]
    lo, hi, se = bca_interval(reps, np.array([x.mean()]), jack[:, None], 0.1)
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * ((d**2).sum()) ** 1.5)
    z0 = stats.norm.ppf(np.mean(reps[:, 0] < x.mean()))
    z = stats.norm.ppf([0.05, 0.95])
    q = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    assert (lo[0], hi[0]) == pytest.approx(tuple(np.percentile(reps[:, 0], 100 * q)), rel=1e-12)
    assert a > 0  # exponential data: positive skew


def test_bca_refuses_a_stream():
    data, ad = _log()
    with pytest.raises(ValueError, match=r"interval: 'bca' needs the whole log in memory"):
        evaluate_batches([data], lambda b: ad, ["ipw"], interval="bca")
