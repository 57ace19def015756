"""Ground-truth OPE experiment: exact values, unbiased IPW, DM bias from a biased reward model."""

from __future__ import annotations

import numpy as np
import pytest

from envs.logged import MemberSimulator, make_member_env
from envs.logged.response import ResponseModel
from experiments.ope_truth import make_policies, ope_truth, summarise


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(0)
    K, d = 8, 3
    model = ResponseModel(item_bias=-2.5 + 0.6 * rng.standard_normal(K), member_weights=0.5 * rng.standard_normal((d, K)),
                          position_effect=np.zeros(1), calibration="platt", platt=(1.0, 0.0), iso_x=np.zeros(2),
                          iso_y=np.zeros(2), base_rate=0.08, penalties={})
    X = rng.standard_normal((40, d))
    return MemberSimulator(env=make_member_env(model, X), model=model, report=None, contexts=X)


@pytest.fixture(scope="module")
def run(sim):
    return ope_truth(sim, n_rounds=800, n_seeds=40, estimators=("dm", "ipw", "snipw", "dr"), model_error=0.5)


def test_true_values_are_exact_weighted_sums(sim, run):
    _, _, info = run
    Q = sim.model.expected_matrix(sim.contexts)[:, :, 0]
    pa, pb = make_policies(Q)
    assert info["value_behavior"] == pytest.approx(np.mean(np.sum(pa * Q, axis=1)), rel=1e-5)
    assert info["value_target"] == pytest.approx(np.mean(np.sum(pb * Q, axis=1)), rel=1e-5)
    assert info["value_target"] > info["value_behavior"]  # B is the sharper policy on the true scores


def test_logs_are_drawn_from_the_behaviour_policy(run):
    _, runs, info = run
    per_seed = runs.groupby("seed")["logged_mean"].first().to_numpy()
    se = per_seed.std(ddof=1) / np.sqrt(per_seed.size)
    assert abs(per_seed.mean() - info["value_behavior"]) < 4 * se


def test_ipw_and_dr_are_unbiased_dm_converges_to_the_model_value(run):
    summary, _, info = run
    s = summary.set_index("estimator")
    for name in ("ipw", "dr"):
        assert abs(s.loc[name, "bias"]) < 4 * s.loc[name, "bias_se"], s
    # DM averages the (deliberately wrong) reward model over the logged members: its mean is B's value
    # under that model, exactly computable, not B's true value
    dm_mean = s.loc["dm", "mean_estimate"]
    assert abs(dm_mean - info["value_target_under_model"]) < 4 * s.loc["dm", "bias_se"]
    assert set(summary.columns) >= {"bias", "rmse", "coverage", "coverage_se", "mean_ci_width"}


def test_summarise_closed_form():
    import pandas as pd

    runs = pd.DataFrame({"estimator": ["a"] * 4, "estimate": [1.0, 2.0, 3.0, 6.0], "truth": 2.0,
                         "ci_low": [0.0, 1.5, 2.5, 5.0], "ci_high": [2.0, 2.5, 3.5, 7.0]})
    row = summarise(runs).iloc[0]
    assert row["bias"] == pytest.approx(1.0) and row["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 16) / 4))
    assert row["coverage"] == pytest.approx(0.5) and row["mean_ci_width"] == pytest.approx(1.5)
