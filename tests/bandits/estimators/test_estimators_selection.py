"""SLOPE (bandits.estimators.selection.slope) and the estimator recommendation, against hand-worked
cases and against the truth of synthetic worlds (parity with obp's tuning is in
test_estimators_parity_ext.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bandits.data import LoggedData
from bandits.estimators import evaluate
from bandits.estimators.selection import C_SLOPE, recommend_estimator, slope, slope_select


def test_slope_rule_by_hand():
    # widest first: 0 is kept; 1 agrees with 0 (|0.02| <= 0.05 + C * 0.1, C = sqrt(6) - 1); 2 does not: choose 1
    chosen, order, kept = slope_select([0.5, 0.52, 0.9], [0.1, 0.05, 0.01])
    assert chosen == 1 and list(order) == [0, 1, 2] and list(kept) == [True, True, False]
    # the comparison is against every kept candidate, not only the last one
    v = [0.0, 0.1, 0.17]
    c = [0.1, 0.05, 0.01]
    assert abs(v[1] - v[0]) <= c[1] + C_SLOPE * c[0]
    assert abs(v[2] - v[1]) <= c[2] + C_SLOPE * c[1]  # agrees with its neighbour ...
    assert abs(v[2] - v[0]) > c[2] + C_SLOPE * c[0]  # ... but not with the widest
    assert slope_select(v, c)[0] == 1
    with pytest.raises(ValueError, match=r"values, widths: expected finite estimates and finite widths >= 0"):
        slope_select([0.1, np.nan], [0.1, 0.1])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class World:
    """Logistic rewards over K actions; logger softmax(beta_b q), target softmax(beta_e q); a reward
    model equal to q plus ``model_bias`` and a little noise."""

    def __init__(self, beta_b, beta_e, model_bias, K=10, d=3, seed=0):
        rng = np.random.default_rng(seed)
        self.theta, self.b = rng.normal(size=(d, K)), rng.normal(size=K) - 1.0
        self.beta_b, self.beta_e, self.model_bias, self.d = beta_b, beta_e, model_bias, d
        xs = np.random.default_rng(seed + 1).normal(size=(200_000, d))
        Q = self.q(xs)
        self.truth = float((_softmax(beta_e * Q) * Q).sum(axis=1).mean())

    def q(self, x):
        return 1.0 / (1.0 + np.exp(-(x @ self.theta + self.b)))

    def sample(self, n, rng):
        x = rng.normal(size=(n, self.d))
        Q = self.q(x)
        pb, pe = _softmax(self.beta_b * Q), _softmax(self.beta_e * Q)
        a = (pb.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
        r = rng.binomial(1, Q[np.arange(n), a]).astype(float)
        qh = np.clip(Q + self.model_bias + rng.normal(scale=0.02, size=Q.shape), 0, 1)
        data = LoggedData(context=x, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=Q.shape[1])
        return data, pe[:, :, None], qh[:, :, None]


def test_slope_widths_are_one_sided_student_t_bounds_and_the_chosen_value_is_the_candidate_estimate():
    data, ad, q = World(-1.0, 3.0, 0.0).sample(400, np.random.default_rng(0))
    res = slope(data, ad, "dr", lambdas=[1.0, 5.0, math.inf], estimated_rewards=q)
    n = data.n_rounds
    df = evaluate(data, ad, [("dr", {"lambda_": lam}) for lam in (1.0, 5.0, math.inf)], estimated_rewards=q)
    np.testing.assert_allclose(res.table["estimate"], df["estimate"], rtol=1e-12)
    np.testing.assert_allclose(res.table["cnf"], stats.t(n - 1).ppf(0.9) * df["std_err"], rtol=1e-9)
    assert res.value == pytest.approx(res.table["estimate"].iloc[list(res.table["lambda"]).index(res.lambda_)])
    assert res.estimator.name == "dr" and res.estimator.lambda_ == res.lambda_
    with pytest.raises(ValueError, match=r"hparam: estimator 'dr' has no hyperparameter 'cap'"):
        slope(data, ad, "dr", estimated_rewards=q, hparam="cap")
    with pytest.raises(ValueError, match=r"lambdas: expected a non-empty list of numbers"):
        slope(data, ad, "ipw", lambdas=[])
    with pytest.raises(ValueError, match=r"lambda_: expected a number >= 0 for 'ipw', got -1"):
        slope(data, ad, "ipw", lambdas=[-1.0])
    with pytest.raises(ValueError, match=r"estimated_rewards: estimators .* need estimated_rewards"):
        slope(data, ad, "switch-dr")


def _rmse(v, truth):
    return float(np.sqrt(np.mean((np.asarray(v) - truth) ** 2)))


@pytest.mark.parametrize("world,avoid", [
    (World(-3.0, 8.0, 0.0), ("dr", "ipw")),  # poor overlap, good reward model: the weights are the danger
    (World(0.0, 2.0, 0.1), ("dm",)),         # good overlap, biased reward model: the model is the danger
])
def test_the_recommendation_avoids_what_goes_wrong_in_each_world(world, avoid):
    """Against the truth over 60 logs: the recommended estimate's RMSE is less than half that of the
    estimator that fails in the world (DR and IPW with poor overlap, DM with a biased model)."""
    rng = np.random.default_rng(1)
    rec, fixed = [], {nm: [] for nm in avoid}
    for _ in range(60):
        data, ad, q = world.sample(500, rng)
        r = recommend_estimator(data, ad, estimated_rewards=q)
        rec.append(r.value)
        df = evaluate(data, ad, list(avoid), estimated_rewards=q, interval=None)
        for nm, v in zip(df["estimator"], df["estimate"], strict=True):
            fixed[nm].append(v)
    for nm in avoid:
        assert _rmse(rec, world.truth) < 0.5 * _rmse(fixed[nm], world.truth), (nm, _rmse(rec, world.truth))
    assert any(s.startswith("SLOPE over the ladder DM -> Switch-DR -> DR chose") for s in r.reasons)
    assert set(r.diagnostics) == {"ess_ratio", "max_iw", "unsupported_mass"}


def test_the_recommendation_without_a_reward_model_and_with_unsupported_actions():
    rng = np.random.default_rng(0)
    n, K = 400, 5
    a = rng.integers(0, K - 1, n)  # the logger never shows the last action
    data = LoggedData(context=None, action=a, reward=rng.binomial(1, 0.3, n).astype(float),
                      pscore=np.full(n, 1 / (K - 1)), n_actions=K)
    ad = np.full((n, K, 1), 1 / K)
    r = recommend_estimator(data, ad)
    assert r.estimator.name == "ipw"
    assert r.diagnostics["unsupported_mass"] == pytest.approx(0.2)
    assert any("no estimator here is unbiased" in s for s in r.reasons)
