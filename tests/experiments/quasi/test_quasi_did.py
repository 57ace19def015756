"""Difference-in-differences: TWFE, event study and Callaway & Sant'Anna against independent
references (an explicit dummy regression in float64 numpy, hand-computed 2x2 means, brute-force
permutation tests) and against statsmodels / linearmodels / csdid fixtures on the Proposition 99
panel (tests/fixtures/quasi_parity.npz, written by benchmarks/quasi_peer_parity.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.quasi import Panel, PanelError, callaway_santanna, event_study, twfe, twfe_arrays
from experiments.quasi.inference import assignments, ri_invert, ri_linear
from experiments.quasi.panel import load_prop99, panel_from_frame, prop99_panel

FIX = np.load(Path(__file__).resolve().parents[2] / "fixtures" / "quasi_parity.npz")


def _staggered(N=12, T=8, seed=0, effect=1.0):
    rng = np.random.default_rng(seed)
    A = np.array([3] * 3 + [5] * 3 + [T] * (N - 6))
    d = np.arange(T)[None] >= A[:, None]
    y = rng.normal(size=(N, 1)) + rng.normal(size=(1, T)) + 0.5 * rng.normal(size=(N, T)) + effect * d
    return Panel.from_arrays(y, d)


def _dummy_ols(y, X):
    """Full dummy regression (intercept, N-1 unit and T-1 period dummies, X) and the CR1 cluster sandwich."""
    N, T = y.shape
    unit = np.repeat(np.arange(N), T)
    per = np.tile(np.arange(T), N)
    Z = np.column_stack([np.ones(N * T), (unit[:, None] == np.arange(1, N)).astype(float),
                         (per[:, None] == np.arange(1, T)).astype(float), X])
    beta, *_ = np.linalg.lstsq(Z, y.ravel(), rcond=None)
    e = y.ravel() - Z @ beta
    inv = np.linalg.inv(Z.T @ Z)
    meat = sum(np.outer(Z[unit == i].T @ e[unit == i], Z[unit == i].T @ e[unit == i]) for i in range(N))
    n, k = N * T, Z.shape[1]
    V = N / (N - 1) * (n - 1) / (n - k) * inv @ meat @ inv
    kx = X.shape[1]
    return beta[-kx:], np.sqrt(np.diag(V)[-kx:])


def test_twfe_equals_dummy_regression_and_batches():
    p = _staggered()
    b_ref, se_ref = _dummy_ols(p.y, p.treated.astype(float).reshape(-1, 1))
    r = twfe(p)
    assert r.estimate == pytest.approx(b_ref[0], abs=1e-12) and r.std_error == pytest.approx(se_ref[0], rel=1e-10)
    ys = np.stack([_staggered(seed=s).y for s in range(3)])
    b, se = twfe_arrays(ys, p.treated.astype(float))
    for s in range(3):
        assert b[s] == pytest.approx(twfe(p.with_outcome(ys[s])).estimate, abs=1e-12)
    assert "callaway_santanna" in r.notes[0] and "over-reject" in r.notes[1]  # staggered; 6 treated units


def test_event_study_equals_dummy_regression():
    p = _staggered(T=9)
    es = event_study(p, leads=2, lags=2)
    rel = np.clip(np.arange(9)[None] - p.adoption[:, None], -2, 2)
    X = np.stack([((rel == e) & p.ever_treated[:, None]).ravel() for e in (-2, 0, 1, 2)], 1).astype(float)
    b_ref, se_ref = _dummy_ols(p.y, X)
    t = es.table.drop(index=-1)
    np.testing.assert_allclose(t.estimate, b_ref, atol=1e-11)
    np.testing.assert_allclose(t.std_error, se_ref, rtol=1e-9)
    assert es.table.loc[-1, "estimate"] == 0.0


def test_callaway_santanna_cells_are_2x2_means():
    p = _staggered(effect=0.0)
    gt = callaway_santanna(p, band_draws=200)
    y, A = p.y, p.adoption
    row = gt.att_gt.query("group == 5 and period == 6").iloc[0]
    never = A == 8
    ref = (y[A == 5, 6] - y[A == 5, 4]).mean() - (y[never, 6] - y[never, 4]).mean()
    assert row.att == pytest.approx(ref, abs=1e-12)
    pre = gt.att_gt.query("group == 5 and period == 2").iloc[0]  # varying base: period 2 vs 1
    assert pre.att == pytest.approx((y[A == 5, 2] - y[A == 5, 1]).mean() - (y[never, 2] - y[never, 1]).mean())
    d = gt.dynamic
    assert np.all(d.band_high - d.band_low >= d.ci_high - d.ci_low - 1e-12)  # uniform band is wider
    ny = callaway_santanna(p, control="notyet").att_gt.query("group == 3 and period == 3").iloc[0]
    late = (A > 3) & (A != 3)  # cohort 5 is not yet treated at period 3 (and base 2)
    assert ny.att == pytest.approx((y[A == 3, 3] - y[A == 3, 2]).mean() - (y[late, 3] - y[late, 2]).mean())


def test_permutation_inference_is_exact_and_inverts():
    rng = np.random.default_rng(3)
    N, T = 7, 5
    y = rng.normal(size=(N, T))
    d = np.zeros((N, T), bool)
    d[:2, 3:] = True
    p = Panel.from_arrays(y, d)
    A, exact = assignments(p.adoption, permutations=999)
    assert exact and A.shape == (21, N) and len({tuple(a) for a in A}) == 21
    r = twfe(p, inference="permutation", alpha=0.2)
    # brute force: the statistic of every assignment, directly
    stats_ = []
    for a in A:
        dp = np.arange(T)[None] >= a[:, None]
        stats_.append(twfe_arrays(y, dp.astype(float))[0])
    p0 = np.mean(np.abs(stats_) >= abs(r.estimate) - 1e-12)
    assert r.p_value == pytest.approx(p0)

    def pval(tau):  # sharp null y(0) = y - tau d, recompute every assignment's estimate
        y0 = y - tau * d
        obs = twfe_arrays(y0, d.astype(float))[0]
        s = [twfe_arrays(y0, (np.arange(T)[None] >= a[:, None]).astype(float))[0] for a in A]
        return np.mean(np.abs(s) >= abs(obs) - 1e-9)

    grid = np.linspace(r.ci_low - 1, r.ci_high + 1, 161)
    acc = [g for g in grid if pval(g) > 0.2]
    step = grid[1] - grid[0]
    assert min(acc) == pytest.approx(r.ci_low, abs=step) and max(acc) == pytest.approx(r.ci_high, abs=step)
    # p-value at tau = 0 from the linear representation equals the direct count
    lin = ri_linear(lambda yy, D: twfe_arrays(yy, D)[0], y, d, p.adoption)
    assert ri_invert(lin["est"], lin["a"], lin["b"], True, 0.2)["p_value"] == pytest.approx(p0)


def test_refusals_name_the_problem():
    y = np.random.default_rng(0).normal(size=(6, 5))
    d = np.zeros((6, 5), bool)
    d[0, 3:] = True
    p = Panel.from_arrays(y, d)
    with pytest.raises(PanelError, match="twfe: needs at least 2 treated units, the panel has 1"):
        twfe(p)
    assert np.isfinite(twfe(p, inference="permutation").estimate)  # one treated unit: permutation is fine
    with pytest.raises(PanelError, match="event_study: needs at least 2 treated"):
        event_study(p)
    d[1, 3:] = True
    with pytest.raises(PanelError, match="cohorts starting \\[3\\] have 1|2\\+ units per cohort"):
        callaway_santanna(Panel.from_arrays(y, np.r_[d[:1], np.zeros((5, 5), bool)]))
    with pytest.raises(ValueError, match="inference: expected one of"):
        twfe(Panel.from_arrays(y, d), inference="bootstrap")
    short = np.zeros((6, 5), bool)
    short[:2, 1:] = True
    with pytest.raises(PanelError, match="event_study: needs at least 1 pre-treatment|relative periods"):
        event_study(Panel.from_arrays(y, short), leads=3)
    d2 = d.copy()
    d2[2:, :] = True  # everyone treated from period 0 or 3: no never-treated controls
    with pytest.raises(PanelError, match="never-treated units, the panel has 0"):
        twfe(Panel.from_arrays(y, d2))


# ----------------------------------------------------------------------------- peer parity
def _stagger_panel():
    df = load_prop99()
    d = df[df.state != "California"].copy()
    chosen = sorted(d.state.unique())[0::3][:12]
    first = {s: (1980, 1985, 1990)[i * 3 // 12] for i, s in enumerate(chosen)}
    d["treated"] = [int(s in first and y >= first[s]) for s, y in zip(d.state, d.year, strict=True)]
    return panel_from_frame(d, unit="state", time="year", outcome="cigsale", treatment="treated")


def test_twfe_and_event_study_match_statsmodels_and_linearmodels():
    p = prop99_panel()
    b, se = twfe_arrays(p.y, p.treated.astype(float))
    assert b == pytest.approx(float(FIX["ca_twfe_coef"]), abs=1e-9)  # California: -27.35
    assert se == pytest.approx(float(FIX["ca_twfe_se_cluster"]), rel=1e-9)
    s = _stagger_panel()
    r = twfe(s)
    assert r.estimate == pytest.approx(float(FIX["stag_twfe_coef"]), abs=1e-9)
    assert r.std_error == pytest.approx(float(FIX["stag_twfe_se_cluster"]), rel=1e-9)
    assert r.estimate == pytest.approx(float(FIX["stag_linearmodels_coef"]), abs=1e-9)
    es = event_study(s, leads=4, lags=4)
    t = es.table.drop(index=-1)
    np.testing.assert_array_equal(t.index, FIX["stag_event_e"])
    np.testing.assert_allclose(t.estimate, FIX["stag_event_coef"], atol=1e-9)
    np.testing.assert_allclose(t.std_error, FIX["stag_event_se"], rtol=1e-9)
    assert es.pretrend_F == pytest.approx(float(FIX["stag_event_pretrend_F"]), rel=1e-9)


def test_callaway_santanna_matches_csdid():
    s = _stagger_panel()
    gt = callaway_santanna(s)
    ref = pd.DataFrame(dict(group=FIX["cs_group"], period=FIX["cs_year"], att=FIX["cs_att"], se=FIX["cs_se"]))
    m = ref.merge(gt.att_gt, on=["group", "period"])
    assert len(m) == len(ref) == len(gt.att_gt)
    np.testing.assert_allclose(m.att_x, m.att_y, atol=1e-9)
    np.testing.assert_allclose(m.se, m.std_error, rtol=1e-9)
    for agg in ("simple", "dynamic", "group", "calendar"):
        o = callaway_santanna(s, aggregation=agg, band_draws=10).overall
        assert o.estimate == pytest.approx(float(FIX[f"cs_{agg}_att"]), abs=1e-9)
        assert o.std_error == pytest.approx(float(FIX[f"cs_{agg}_se"]), rel=1e-9)
    np.testing.assert_allclose(gt.dynamic.att, FIX["cs_dynamic_att_e"], atol=1e-9)
    np.testing.assert_allclose(gt.dynamic.std_error, FIX["cs_dynamic_se_e"], rtol=1e-9)


def test_callaway_santanna_permutation_with_one_unit_per_wave():
    rng = np.random.default_rng(4)
    N, T = 6, 6
    A = np.array([3, 4, T, T, T, T])
    d = np.arange(T)[None] >= A[:, None]
    y = rng.normal(size=(N, T)) + d
    p = Panel.from_arrays(y, d)
    with pytest.raises(PanelError, match="2\\+ units per cohort"):
        callaway_santanna(p)
    gt = callaway_santanna(p, inference="permutation", alpha=0.2)
    r = gt.overall
    assert r.inference == "permutation (exact)" and r.extra["assignments"] == 30
    assert gt.dynamic.std_error.isna().all() and "single unit" in r.notes[-1]  # no variance from one unit

    def simple(yy, a):  # cohort-share weighted mean of the post cells, from 2x2 means
        cells = []
        for g in np.unique(a[a < T]):
            for t in range(g, T):
                dy = yy[:, t] - yy[:, g - 1]
                cells.append((np.sum(a == g), dy[a == g].mean() - dy[a == T].mean()))
        w, att = np.array(cells).T
        return float(w @ att / w.sum())

    assert r.estimate == pytest.approx(simple(y, A), abs=1e-12)
    A_all, _ = assignments(A, permutations=999)
    p0 = np.mean([abs(simple(y, a)) >= abs(r.estimate) - 1e-12 for a in A_all])
    assert r.p_value == pytest.approx(p0)
