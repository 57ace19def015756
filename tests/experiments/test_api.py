"""The notebook API (experiments/api.py): one import, the same code as the command, independent
references for what it computes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import api as st
from tests.reference.numpy_policies import LinUCBRef


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(2)
    n, k = 1200, 3
    x = rng.normal(size=(n, 2))
    a = rng.integers(0, k, n)
    p = 1 / (1 + np.exp(-(x @ np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]]).T)))
    r = (rng.random(n) < p[np.arange(n), a]).astype(float)
    return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "item": a, "click": r, "prop": 1 / k})


COLS = {"context_cols": ["f0", "f1"], "action_col": "item", "reward_col": "click", "pscore_col": "prop"}


def test_evaluate_a_dataframe_with_a_grid(frame):
    logs = st.load_logs(frame, **COLS)
    res = st.evaluate(logs, ["random", ("linucb", {"alpha": [0.0, 1.0]})], estimators=["ipw", "dr"],
                      reward_model="logistic_interactions")
    assert len(res.table) == (1 + 2) * 2 and res.n_train == 600 and res.n_eval == 600
    ipw = res.table[(res.table.policy == "random") & (res.table.estimator == "ipw")]["estimate"].iloc[0]
    assert ipw == pytest.approx(frame["click"].iloc[600:].mean(), rel=1e-12)  # uniform target on uniform logs
    assert list(res.best["policy"]) == ["linucb", "random"] and res.best["vs_best"].iloc[0] == 0.0
    assert res.reward_model.name == "logistic_interactions"


def test_train_matches_the_numpy_reference_and_serves(frame, tmp_path):
    logs = st.load_logs(frame, **COLS)
    trained = st.train("linucb", logs, alpha=0.5)
    ref = LinUCBRef(3, 2, alpha=0.5)
    for x, a, r in zip(logs.context, logs.action, logs.reward, strict=True):
        ref.update(x, a, r)
    theta = np.stack([np.linalg.solve(A, b) for A, b in zip(ref.A, ref.b, strict=True)])
    np.testing.assert_allclose(np.asarray(trained.state.theta, np.float64), theta, atol=2e-4)
    server = st.load_policy(trained.save(tmp_path / "p")).server()
    x = np.array([0.3, -0.8])
    np.testing.assert_array_equal(server.probs(x), ref.probs(x, np.ones(3, bool)))


def test_world_sweep_and_simulator():
    env = st.world("bernoulli", num_actions=3, seed=0)
    df = st.sweep(env, ["random", ("ucb1", {"alpha": [0.1, 1.0]})], seeds=4, horizon=200)
    assert len(df) == 3 * 4 and set(df["policy"]) == {"random", "ucb1"}
    means = np.asarray(env.default_params)
    gap = means.max() - means.mean()
    rnd = df[df.policy == "random"]["cum_regret"]
    assert abs(rnd.mean() - 200 * gap) < 4 * np.sqrt(200 * np.mean((means.max() - means) ** 2) / 4) + 1e-6
    sim = st.simulator(st.load_logs("obd"), penalties=[300, 3000])
    assert sim.env.num_actions == 80


def test_errors_name_the_argument(frame):
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['alpah'\]"):
        st.candidates([("linucb", {"alpah": 1.0})])
    with pytest.raises(ValueError, match=r"policies: labels must be distinct"):
        st.candidates(["linucb", "linucb"])
    one_based = frame.assign(item=frame["item"] + 1)
    with pytest.raises(ValueError, match=r"^action_col: item 0 never appears and the ids run from 1 to 3: 1-based item ids\?"):
        st.load_logs(one_based, **COLS)
    with pytest.raises(ValueError, match=r"train\(\) trains one point"):
        st.train("linucb", st.load_logs(frame, **COLS), alpha=[0.1, 1.0])
    with pytest.warns(UserWarning, match=r"n_actions: 2 of 5 items never appear"):
        st.load_logs(frame, n_actions=5, **COLS)


def test_a_zero_width_interval_is_reported_as_no_information():
    """A greedy policy whose item never pays in the evaluation rows: every row weighs the same
    reward, so the sample says nothing about the spread; the result carries an unbounded interval
    and the estimator's warning, attributed to the candidate, instead of a confident [0, 0]."""
    rng = np.random.default_rng(0)
    n = 800
    a = rng.integers(0, 4, n)
    r = np.where((a == 1) & (np.arange(n) < 400), rng.random(n) < 0.5, 0.0).astype(float)
    logs = st.load_logs(pd.DataFrame({"context_0": rng.normal(size=n), "action": a, "reward": r, "pscore": 0.25}))
    res = st.evaluate(logs, [("epsilon_greedy", {"epsilon": 0.0})], estimators=["ipw"])
    row = res.table.iloc[0]
    assert row.estimate == 0.0 and row.ci_low == -np.inf and row.ci_high == np.inf
    (w,) = [w for w in res.warnings if "zero sample variance" in w]
    assert w.startswith("epsilon_greedy (epsilon=0): ipw: every row contributes the same value")
