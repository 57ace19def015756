"""Cross-fitted reward models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor

from bandits.estimators import evaluate, fit_reward_model, fit_reward_model_on


def _log(n=600, K=3, L=2, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    ctx = rng.normal(size=(n, 2))
    a = rng.integers(0, K, n)
    pos = rng.integers(0, L, n)
    mean = 0.2 + 0.1 * a + 0.3 * pos + 0.05 * ctx[:, 0]
    r = (rng.random(n) < mean).astype(float) if binary else mean + rng.normal(scale=0.05, size=n)
    return {"context": ctx, "action": a, "reward": r, "pscore": np.full(n, 1 / K), "position": pos,
            "n_actions": K, "len_list": L}


def test_cross_fitting_never_predicts_a_row_from_itself():
    data = _log()
    nn1 = KNeighborsRegressor(n_neighbors=1)
    rows = np.arange(600)
    in_sample = fit_reward_model(data, model=nn1, n_folds=1)
    crossed = fit_reward_model(data, model=nn1, n_folds=3)
    # a 1-nearest-neighbour model reproduces its own training rows exactly...
    np.testing.assert_allclose(in_sample[rows, data["action"], data["position"]], data["reward"])
    # ...and a cross-fitted one never sees them
    assert not np.any(np.isclose(crossed[rows, data["action"], data["position"]], data["reward"]))
    assert crossed.shape == (600, 3, 2)


def test_default_model_recovers_position_and_action_effects():
    data = _log(n=3000, binary=True)
    q = fit_reward_model(data, n_folds=2, random_state=0)
    assert q.min() >= 0.0 and q.max() <= 1.0  # logistic: probabilities
    # averaged over rows, slot 1 is 0.3 above slot 0 and each action 0.1 above the previous
    avg = q.mean(axis=0)  # (K, L)
    np.testing.assert_allclose(avg[:, 1] - avg[:, 0], 0.3, atol=0.06)
    np.testing.assert_allclose(np.diff(avg[:, 0]), 0.1, atol=0.06)


def test_single_class_fold_falls_back_to_a_constant():
    data = _log(n=60, binary=True)
    data["reward"] = np.zeros(60)
    q = fit_reward_model(data, n_folds=3)
    assert np.all(q == 0.0)


def test_fit_on_and_predict_for_streams():
    data = _log(n=500)
    rm = fit_reward_model_on(data)
    q = rm.predict(data["context"][:7])
    assert q.shape == (7, 3, 2)


def test_evaluate_fits_a_reward_model_when_none_given():
    data = _log(n=2000)
    ad = np.zeros((2000, 3, 2))
    ad[:, 2, :] = 1.0  # always action 2
    truth = float(np.mean(0.2 + 0.2 + 0.3 * data["position"] + 0.05 * data["context"][:, 0]))
    df = evaluate(data, ad, estimators=["dm", "dr"], interval="normal").set_index("estimator")
    for name in ("dm", "dr"):
        assert df.loc[name, "estimate"] == pytest.approx(truth, abs=4 * df.loc[name, "std_err"] + 0.01)
