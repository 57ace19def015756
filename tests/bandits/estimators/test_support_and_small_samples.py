"""Fault injection, OPE: support, item ids and tiny samples. A target policy's mass on never-logged
items is reported (share) or refused; unmapped ids are named; intervals the sample cannot support
are infinite with a warning, never a confident point. Each test reproduces a probe's failure
first (in its docstring), then checks the fix against a float64 numpy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bandits.data import LoggedData
from bandits.estimators import evaluate, evaluate_batches
from bandits.estimators.diagnostics import SmallSampleWarning, SupportWarning, id_problems


def _log(n=200, K=5, seed=0, p_click=0.3, logged=None):
    rng = np.random.default_rng(seed)
    acts = np.asarray(logged if logged is not None else range(K))
    a = rng.choice(acts, n)
    return LoggedData(context=rng.normal(size=(n, 2)), action=a, reward=(rng.random(n) < p_click).astype(float),
                      pscore=np.full(n, 1.0 / acts.size), n_actions=K)


def test_no_support_is_not_a_confident_zero():
    """Probe: a target with all its mass on never-logged items gave IPW 0.0 with [0, 0] and SNIPW NaN."""
    data = _log(logged=[0, 1, 2], K=5)
    ad = np.zeros((data.n_rounds, 5, 1))
    ad[:, 3:, 0] = 0.5  # items 3 and 4: never logged
    with pytest.warns(SupportWarning, match=r"100\.0% of the target policy's probability .*items never logged: 2 of 5: 3, 4"):
        df = evaluate(data, ad, estimators=["ipw", "snipw"]).set_index("estimator")
    assert df.loc["ipw", "estimate"] == 0.0 and df.loc["ipw", "ci_low"] == -np.inf and df.loc["ipw", "ci_high"] == np.inf
    assert np.isnan(df.loc["snipw", "estimate"])
    with pytest.raises(ValueError, match=r"action_dist: 100\.0% of the target"):
        evaluate(data, ad, estimators=["ipw"], on_unsupported="raise")


def test_partial_support_share_matches_a_numpy_reference():
    data = _log(n=300, logged=[0, 1, 2, 3], K=5, seed=2)
    W = np.random.default_rng(5).normal(size=(2, 5))

    def policy(log):  # a softmax policy of the context: (n, 5, 1)
        z = np.exp(log.context @ W)
        return (z / z.sum(axis=1, keepdims=True))[:, :, None]

    ad = policy(data)
    ref = ad[:, 4, 0].sum() / 300  # item 4 is never logged
    with pytest.warns(SupportWarning, match=f"{ref:.1%}"):
        df = evaluate(data, ad, estimators=["ipw"])
    assert df["unsupported_mass"].iloc[0] == pytest.approx(ref, rel=1e-12)
    # streamed: the same share (a pair logged in a later batch is supported)
    parts = np.array_split(np.arange(300), 3)
    with pytest.warns(SupportWarning):
        st = evaluate_batches((data.subset(ix) for ix in parts), policy, estimators=["ipw"])
    assert st["unsupported_mass"].iloc[0] == pytest.approx(ref, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # full support: no warning
        evaluate(data, ad, estimators=["ipw"], on_unsupported="ignore")


def test_one_row_log_has_no_interval():
    """Probe: a one-row log gave the interval [1, 1]."""
    data = LoggedData(context=np.zeros((1, 1)), action=np.array([0]), reward=np.array([1.0]), pscore=np.array([0.5]),
                      n_actions=2)
    ad = np.array([[[1.0], [0.0]]])
    for kind in ("normal", "bootstrap"):
        with pytest.warns(SmallSampleWarning, match="needs at least 2 rows"):
            df = evaluate(data, ad, estimators=["ipw"], interval=kind, n_bootstrap=50, on_unsupported="ignore")
        assert df["estimate"].iloc[0] == 2.0
        assert df["ci_low"].iloc[0] == -np.inf and df["ci_high"].iloc[0] == np.inf


def test_zero_variance_gives_an_infinite_interval():
    """A rare event with no occurrence in the log: every row's IPW term is 0."""
    data = _log(n=100, p_click=0.0)
    ad = np.full((100, 5, 1), 0.2)
    with pytest.warns(SmallSampleWarning, match="zero sample variance over 100 rows"):
        df = evaluate(data, ad, estimators=["ipw", "snipw"])
    assert (df["ci_low"] == -np.inf).all() and (df["ci_high"] == np.inf).all() and (df["estimate"] == 0).all()


def test_bootstrap_keeps_undefined_replicates():
    """Probe: the OPE bootstrap dropped the replicates in which no supported row had weight
    (SNIPW 0/0), narrowing the interval silently."""
    n = 20
    data = LoggedData(context=np.zeros((n, 1)), action=np.r_[1, np.zeros(n - 1, int)],
                      reward=np.r_[1.0, np.zeros(n - 1)], pscore=np.full(n, 0.5), n_actions=2)
    ad = np.zeros((n, 2, 1))
    ad[:, 1, 0] = 1.0  # the target plays item 1, logged once: a replicate misses it with probability e^-1
    with pytest.warns(SmallSampleWarning, match=r"snipw: \d+\.\d% of the 400 bootstrap replicates are undefined"):
        df = evaluate(data, ad, estimators=["snipw"], interval="bootstrap", n_bootstrap=400, random_state=1)
    assert df["ci_low"].iloc[0] == -np.inf and df["ci_high"].iloc[0] == np.inf


def test_id_problems_name_the_symptom_and_the_mapping():
    raw = id_problems(np.array([100000, 100004, 100002]), 100005)
    assert len(raw) == 1 and "raw catalogue ids" in raw[0] and "factorize" in raw[0]
    one = id_problems(np.array([1, 2, 3, 3]), 4, n_actions_given=False)
    assert len(one) == 1 and "1-based item ids" in one[0] and "subtract 1" in one[0]
    assert id_problems(np.array([1, 2, 3, 3]), 4, n_actions_given=True) == []  # the catalogue was stated
    pos = id_problems(np.array([0, 1]), 2, position=np.array([1, 2]))
    assert len(pos) == 1 and "1-based positions" in pos[0]
    assert id_problems(np.array([0, 1, 2]), 3, position=np.array([0, 1, 0])) == []
    # evaluate adds the hint to its support warning
    data = LoggedData(context=np.zeros((4, 1)), action=np.array([1, 2, 3, 1]), reward=np.ones(4),
                      pscore=np.full(4, 1 / 3))
    with pytest.warns(SupportWarning, match="1-based item ids"):
        evaluate(data, np.full((4, 4, 1), 0.25), estimators=["ipw"])
