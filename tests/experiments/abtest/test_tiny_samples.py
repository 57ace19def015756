"""Fault injection, A/B statistics at and below each method's minimum sample: refuse with a message
naming the argument, or return an honest (infinite, NaN) answer with a warning; never a confident
one. Each test reproduces a probe's failure first (in its docstring), then checks the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from experiments import cli
from experiments.abtest.bootstrap import bootstrap_diff, percentile_interval, poisson_bootstrap_mean
from experiments.abtest.cuped import cuped_test
from experiments.abtest.interleaving import interleaving_test
from experiments.abtest.sequential import MSPRT, _moments, msprt_test
from experiments.abtest.validation import SmallSampleWarning


def test_msprt_refuses_one_member_per_group():
    """Probe: ``msprt_test([0.1], [1.5])`` returned p = 0 and rejected."""
    with pytest.raises(ValueError, match=r"y_a: the mSPRT needs at least min_n=10 members per group.*got 1"):
        msprt_test(np.array([0.1]), np.array([1.5]))
    with pytest.raises(ValueError, match="min_n: expected an integer >= 2"):
        msprt_test(np.array([0.1, 0.2]), np.array([1.5, 1.0]), min_n=1)
    # at the floor the test exists and keeps its level: A/A with 10 members per group
    rng = np.random.default_rng(3)
    rej = np.mean([msprt_test(rng.normal(size=10), rng.normal(size=10)).rejected for _ in range(500)])
    assert rej <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 500)


def test_streaming_msprt_has_no_estimate_before_min_n():
    m = MSPRT(min_n=10)
    out = m.update([0.1], [1.5])
    assert np.isnan(out["estimate"]) and out["p_value"] == 1.0 and not out["reject"]
    with pytest.raises(ValueError, match="min_n"):
        MSPRT(min_n=1)


def test_aa_cli_refuses_one_member(capsys):
    """Probe: ``screentest abtest aa --n 1`` rejected 100% of the A/A tests."""
    assert cli.main(["abtest", "aa", "--n", "1", "--tests", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("screentest abtest aa: error: --n:") and "got 1" in err[0]


def test_near_constant_metric_keeps_its_variance_and_an_ordered_interval():
    """Probe: a metric ``1000 + tiny noise`` lost its variance to cancellation in the running sums
    (variance 0 or garbage), giving a confident rejection and ``ci_low > ci_high``."""
    rng = np.random.default_rng(0)
    ya = 1e6 + 1e-6 * rng.normal(size=400)
    yb = 1e6 + 1e-6 * rng.normal(size=400)
    counts = np.array([50, 200, 400])
    _, var = _moments(ya, counts, "continuous")
    ref = [np.var(ya[:k].astype(np.float64), ddof=1) for k in counts]  # two-pass float64 reference
    np.testing.assert_allclose(var, ref, rtol=1e-6)
    r = msprt_test(ya, yb, looks=8)
    assert not r.rejected and np.all(r.ci_low <= r.ci_high)
    assert r.ci_low[-1] < 0 < r.ci_high[-1]


def test_constant_groups_carry_no_evidence():
    with pytest.warns(SmallSampleWarning, match="zero variance"):
        r = msprt_test(np.full(30, 1.0), np.full(30, 2.0), metric="continuous")
    assert not r.rejected and np.isinf(r.ci_high[-1])
    m = MSPRT(min_n=2)
    with pytest.warns(SmallSampleWarning, match="no evidence"):
        out = m.update(np.ones(5), np.full(5, 3.0))
    assert not out["reject"]


def test_empty_confidence_sequence_is_reported_not_inverted():
    """A metric that drifts (effect +1 for the first members, then -1) empties the running
    intersection; it is reported as NaN with a warning instead of ``ci_low > ci_high``."""
    rng = np.random.default_rng(1)
    ya = rng.normal(0, 0.01, 4000)
    yb = np.concatenate([rng.normal(1, 0.01, 2000), rng.normal(-1, 0.01, 2000)])
    with pytest.warns(SmallSampleWarning, match="confidence sequence became empty"):
        r = msprt_test(ya, yb, looks=20)
    ok = ~np.isnan(r.ci_low)
    assert ok[0] and np.isnan(r.ci_low[-1]) and np.isnan(r.ci_high[-1])
    assert np.all(r.ci_low[ok] <= r.ci_high[ok])


def test_cuped_refuses_two_members_and_an_exact_covariate():
    """Probe: CUPED with 2 members per group gave a standard error of 1e-17."""
    with pytest.raises(ValueError, match=r"y_a, y_b: CUPED .* at least 3 members per group; got 2 and 2"):
        cuped_test([1.0, 2.0], [0.5, 1.5], [2.0, 4.0], [1.0, 3.0])
    x = np.arange(8.0)
    with pytest.raises(ValueError, match="x_a, x_b: the covariate predicts the metric exactly"):
        cuped_test(2 * x[:4] + 1, x[:4], 2 * x[4:] + 3, x[4:])
    with pytest.raises(ValueError, match="constant within both groups"):
        cuped_test(np.zeros(5), x[:5], np.zeros(5), x[3:8])


def test_cuped_small_sample_intervals_keep_their_coverage():
    """With 5 members per group the t-based interval covers at its level (a z-interval would not)."""
    rng = np.random.default_rng(11)
    reps, cover, cover_z = 2000, 0, 0
    for _ in range(reps):
        xa, xb = rng.normal(size=5), rng.normal(size=5)
        ya, yb = 0.6 * xa + rng.normal(size=5), 0.6 * xb + 0.3 + rng.normal(size=5)
        r = cuped_test(ya, xa, yb, xb)
        cover += r.ci_low <= 0.3 <= r.ci_high
        cover_z += abs(r.estimate - 0.3) <= 1.959964 * r.std_error
    se = np.sqrt(0.95 * 0.05 / reps)
    assert cover / reps >= 0.95 - 3 * se
    assert cover_z / reps < 0.95 - 3 * se  # the normal interval the t replaces undercovers here


def test_bootstrap_refuses_tiny_or_constant_groups_and_keeps_undefined_replicates():
    with pytest.raises(ValueError, match="at least 2 members per group, got 1 and 3"):
        bootstrap_diff([1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="constant within both groups"):
        bootstrap_diff(np.zeros(50), np.zeros(40))
    # one row: a replicate with weight 0 has no mean (probability e^-1): NaN, not 0
    rep = poisson_bootstrap_mean(np.array([5.0]), B=400, seed=0)
    share = np.isnan(rep).mean()
    assert abs(share - np.exp(-1)) < 4 * np.sqrt(np.exp(-1) * (1 - np.exp(-1)) / 400)
    assert np.all(rep[~np.isnan(rep)] == 5.0)
    with pytest.warns(SmallSampleWarning, match="undefined"):
        lo, hi = percentile_interval(rep, 0.05)
    assert lo == -np.inf and hi == np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert percentile_interval(np.arange(100.0), 0.1) == pytest.approx((4.95, 94.05))


def test_interleaving_small_sample_uses_t_and_refuses_no_spread():
    a, b = np.array([2.0, 0, 1, 0, 3]), np.array([0.0, 0, 1, 1, 0])
    r = interleaving_test(a, b)
    assert r["p_value"] == pytest.approx(stats.ttest_1samp(a - b, 0.0).pvalue, rel=1e-12)
    with pytest.raises(ValueError, match="same A - B difference"):
        interleaving_test([1.0, 1.0], [0.0, 0.0])
    assert interleaving_test([0.0, 0.0], [0.0, 0.0])["p_value"] == 1.0
