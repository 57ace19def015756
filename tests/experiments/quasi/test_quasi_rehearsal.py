"""Rehearsals at small sizes: interval coverage where each estimator's assumptions hold (within three
binomial standard errors of 95%), and the failures where they do not (parallel trends broken,
spill-over, TWFE under staggered adoption with growing effects), plus the truth bookkeeping and
the minimum detectable effect."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from experiments.quasi.rehearsal import (
    Design,
    minimum_detectable_effect,
    region_world,
    rehearse,
    simulate,
    toy_world,
)

WORLD = toy_world()
SMALL = Design(regions=20, weeks=12, treated=6, start=8, sessions=50_000)
REPS = 300


def _within_3se(res, target=0.95):
    c = res["coverage"]
    se = np.sqrt(target * (1 - target) / res["estimates"].size)
    return abs(c - target) <= 3 * se


def test_truth_is_the_treated_outcome_difference():
    d = replace(SMALL, sessions=1e14, shock_sd=0.0, ramp_weeks=3, cohorts=2, spacing=2)
    a = simulate(WORLD, d, 4, seed=5)
    b = simulate(WORLD, replace(d, effect_scale=0.0), 4, seed=5)  # same draws, no effect
    diff = ((a["y"] - b["y"]) * a["d"]).sum((1, 2)) / a["d"].sum((1, 2))
    np.testing.assert_allclose(diff, a["att"], rtol=1e-5)
    assert np.all(a["att"] > 0) and a["d"].sum((1, 2)).tolist() == [3 * 4 + 3 * 2] * 4  # waves at weeks 8 and 10
    np.testing.assert_array_equal(np.sort(np.unique(a["adoption"])), [8, 10, 12])


@pytest.fixture(scope="module")
def holds():
    return rehearse(WORLD, SMALL, estimators=("twfe", "twfe_ri", "cs", "sdid"), reps=REPS, seed=1)


def test_coverage_where_assumptions_hold(holds):
    for name in ("twfe", "twfe_ri", "cs", "sdid"):
        res = holds["results"][name]
        assert _within_3se(res), (name, res["coverage"])
        assert abs(res["bias"]) < 3 * res["bias_se"] + 1e-12, (name, res["bias"], res["bias_se"])


def test_synthetic_control_coverage_with_one_treated_region():
    r = rehearse(WORLD, replace(SMALL, treated=1), estimators=("sc", "twfe"), reps=200, seed=2)
    assert r["results"]["twfe"]["skipped"].startswith("cluster-robust")
    sc = r["results"]["sc"]
    assert sc["coverage"] >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 200)


def test_broken_parallel_trends_and_spillover_are_visible_failures():
    tr = rehearse(WORLD, replace(SMALL, trend_gap=0.15), estimators=("twfe", "cs"), reps=REPS, seed=3)
    for name in ("twfe", "cs"):
        res = tr["results"][name]
        assert res["bias"] > 5 * res["bias_se"] and res["coverage"] < 0.6, (name, res["coverage"])
    sp = rehearse(WORLD, replace(SMALL, spillover=0.5), estimators=("twfe",), reps=REPS, seed=4)
    res = sp["results"]["twfe"]
    # controls absorb half the effect: the DiD loses half of it
    assert res["bias"] == pytest.approx(-0.5 * sp["true_att"], abs=3 * res["bias_se"])


def test_staggered_growing_effects_bias_twfe_not_callaway_santanna():
    d = replace(SMALL, regions=24, weeks=14, treated=12, cohorts=3, start=5, spacing=3, ramp_weeks=6)
    r = rehearse(WORLD, d, estimators=("twfe", "cs"), reps=REPS, seed=5)
    tw, cs = r["results"]["twfe"], r["results"]["cs"]
    assert tw["bias"] < -5 * tw["bias_se"]  # late effects are under-weighted (or negatively weighted)
    assert abs(cs["bias"]) < 3 * cs["bias_se"] and _within_3se(cs)


def test_minimum_detectable_effect_is_calibrated():
    m = minimum_detectable_effect(WORLD, SMALL, reps=REPS, seed=6)
    assert abs(m["size"] - 0.05) <= 3 * m["size_se"]
    assert m["mde"] == pytest.approx(2.8016 * m["sd0"], rel=1e-3)
    assert m["mean_se"] == pytest.approx(m["sd0"], rel=0.2)
    # power at the mde: rehearse with a fixed effect of that size
    r = rehearse(WORLD, replace(SMALL, effect=m["mde"]), estimators=("twfe",), reps=REPS, seed=7)
    assert r["results"]["twfe"]["reject"] == pytest.approx(0.8, abs=3 * np.sqrt(0.16 / REPS) + 0.05)
    with pytest.raises(ValueError, match="estimator: 'sc' needs exactly one treated region"):
        minimum_detectable_effect(WORLD, SMALL, estimator="sc", reps=10)


def test_design_refusals():
    with pytest.raises(ValueError, match="treated: expected fewer treated regions than regions"):
        replace(SMALL, treated=20).check()
    with pytest.raises(ValueError, match="start: expected the first adoption week"):
        replace(SMALL, start=12).check()
    with pytest.raises(ValueError, match="estimators: expected names among"):
        rehearse(WORLD, SMALL, estimators=("ols",), reps=5)


def test_region_world_from_the_member_simulator():
    w = region_world(penalties=(300.0, 3000.0))
    assert w.share.sum() == pytest.approx(1.0) and np.all(np.diff(w.base) >= 0)
    assert np.all(w.var_base > 0) and float(w.share @ (w.new - w.base)) > 0  # personalised beats popular
    r = rehearse(w, replace(SMALL, treated=6), estimators=("twfe",), reps=50, seed=0)
    assert r["true_att"] > 0 and np.isfinite(r["results"]["twfe"]["rmse"])
