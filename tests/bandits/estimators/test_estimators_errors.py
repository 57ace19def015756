"""Bad input: every error names the argument, what was expected and what came in.

The logged arrays are checked once, by :class:`bandits.data.LoggedData` (obp dicts are read
through ``LoggedData.from_obp``), so these messages are LoggedData's."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from bandits.estimators import estimate, evaluate, policy_action_dist
from bandits.policies import make


def _ok(n=6, K=3):
    data = {"reward": np.array([1.0, 0, 1, 0, 1, 0])[:n], "action": np.array([0, 1, 2, 0, 1, 2])[:n],
            "pscore": np.full(n, 1 / 3), "n_actions": K}
    ad = np.full((n, K, 1), 1 / K)
    return data, ad


def _with(**kw):
    data, ad = _ok()
    data = dict(data)
    data.update(kw)
    return data, ad


@pytest.mark.parametrize("bad,match", [
    (0.0, r"pscore: expected every value in \(0, 1\], got 0.0 at row 2 \(1 bad rows in all\)"),
    (-0.2, r"pscore: expected every value in \(0, 1\], got -0.2 at row 2 \(1 bad rows in all\)"),
    (1.5, r"pscore: expected every value in \(0, 1\], got 1.5 at row 2 \(1 bad rows in all\)"),
    (np.nan, r"pscore: expected every value in \(0, 1\], got nan at row 2 \(1 bad rows in all\)"),
])
def test_bad_pscore(bad, match):
    data, ad = _ok()
    ps = data["pscore"].copy()
    ps[2] = bad
    data["pscore"] = ps
    with pytest.raises(ValueError, match=match):
        estimate("ipw", data, ad)


def test_nan_reward():
    data, ad = _ok()
    r = data["reward"].copy()
    r[4] = np.nan
    data["reward"] = r
    with pytest.raises(ValueError, match=r"reward: expected finite values, got nan at row 4$"):
        evaluate(data, ad, estimators=["ipw"])


def test_action_out_of_range():
    data, ad = _with(action=np.array([0, 1, 3, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"action: expected integers in \[0, n_actions=3\), got 3 at row 2$"):
        estimate("ipw", data, ad)
    data, ad = _with(action=np.array([0, 1, -1, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"action: expected integers in \[0, n_actions=3\), got -1 at row 2$"):
        estimate("ipw", data, ad)


def test_position_out_of_range():
    data, _ = _with(position=np.array([0, 1, 2, 0, 1, 1]), len_list=2)
    ad = np.full((6, 3, 2), 1 / 3)
    with pytest.raises(ValueError, match=r"position: expected integers in \[0, len_list=2\), got 2 at row 2 \(1-based positions\?"):
        estimate("ipw", data, ad)


def test_action_dist_rows_not_summing_to_one():
    data, ad = _ok()
    ad = ad.copy()
    ad[3, 0, 0] = 0.5
    with pytest.raises(ValueError, match=r"action_dist: expected each row's probabilities .* sum to 1 .* "
                       r"got sum 1.1666.* in row 3, position 0"):
        estimate("ipw", data, ad)


def test_action_dist_negative_or_nan():
    data, ad = _ok()
    ad = ad.copy()
    ad[1, 1, 0] = -0.1
    with pytest.raises(ValueError, match=r"action_dist: expected non-negative finite probabilities, got -0.1 in row 1"):
        estimate("ipw", data, ad)
    ad[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"action_dist: expected non-negative finite probabilities, got nan in row 1"):
        estimate("ipw", data, ad)


@pytest.mark.parametrize("field,value,match", [
    ("action", np.array([0, 1, 2]), r"reward: expected shape \(3,\) to match action, got array of shape \(6,\)"),
    ("pscore", np.full(7, 0.5), r"pscore: expected shape \(6,\) to match action, got array of shape \(7,\)"),
    ("position", np.zeros(5, int), r"position: expected shape \(6,\) to match action, got array of shape \(5,\)"),
])
def test_mismatched_lengths(field, value, match):
    data, ad = _with(**{field: value})
    with pytest.raises(ValueError, match=match):
        estimate("ipw", data, ad)


def test_action_dist_wrong_shape():
    data, ad = _ok()
    with pytest.raises(ValueError, match=r"action_dist: expected n_rounds=6 rows .*got shape \(5, 3, 1\)"):
        estimate("ipw", data, ad[:5])
    with pytest.raises(ValueError, match=r"action_dist: expected n_actions=3 columns .*got shape \(6, 4, 1\)"):
        estimate("ipw", data, np.full((6, 4, 1), 0.25))
    with pytest.raises(ValueError, match=r"action_dist: expected an array of shape \(n_rounds, n_actions, len_list\)"):
        estimate("ipw", data, np.full(6, 1.0))


def test_estimated_rewards_checks():
    data, ad = _ok()
    with pytest.raises(ValueError, match=r"estimated_rewards: .*need estimated_rewards .* got None"):
        estimate("dr", data, ad)
    q = np.zeros((6, 3, 1))
    q[2, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"estimated_rewards: expected finite values, got a non-finite value in row 2"):
        estimate("dm", data, ad, q)
    with pytest.raises(ValueError, match=r"estimated_rewards: expected n_actions=3 columns"):
        estimate("dm", data, ad, np.zeros((6, 2, 1)))


def test_evaluate_options():
    data, ad = _ok()
    with pytest.raises(ValueError, match=r"interval: expected one of \['normal', 'bootstrap', 'bca', 'none'\], got 'wald'"):
        evaluate(data, ad, estimators=["ipw"], interval="wald")
    with pytest.raises(ValueError, match=r"alpha: expected a number in \(0, 1\), got 1.5"):
        evaluate(data, ad, estimators=["ipw"], alpha=1.5)
    with pytest.raises(ValueError, match=r"n_bootstrap: expected an integer >= 2, got 1"):
        evaluate(data, ad, estimators=["ipw"], interval="bootstrap", n_bootstrap=1)
    with pytest.raises(ValueError, match=r"estimators: expected distinct estimators, got duplicates \['ipw'\]"):
        evaluate(data, ad, estimators=["ipw", "ips"])
    with pytest.raises(ValueError, match=r"data.context: a reward model needs contexts"):
        evaluate(data, ad, estimators=["dr"])  # no context to fit a reward model on


def test_policy_context_dimension_mismatch():
    pol = make("linucb", num_actions=3, context_dim=4)
    state = pol.init(jax.random.key(0), pol.default_hparams)
    ctx = np.zeros((6, 5))
    with pytest.raises(ValueError, match=r"context: policy 'linucb' expects context dimension 4 \(policy.context_dim\), "
                       r"got context of shape \(6, 5\) \(dimension 5\)"):
        policy_action_dist(pol, state, pol.default_hparams, ctx, jax.random.key(1))


def test_policy_mask_checks():
    pol = make("random", num_actions=3, context_dim=2)
    state = pol.init(jax.random.key(0), pol.default_hparams)
    ctx = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3,\) or \(4, 3\), got shape \(2,\)"):
        policy_action_dist(pol, state, pol.default_hparams, ctx, jax.random.key(1), mask=np.ones(2, bool))
    with pytest.raises(ValueError, match=r"mask: expected a bool array, got dtype int64"):
        policy_action_dist(pol, state, pol.default_hparams, ctx, jax.random.key(1), mask=np.ones(3, np.int64))
