"""Parity with obp 0.5.7 for slates, MIPS and SLOPE, without obp: a committed
fixture of obp's own inputs and outputs on its synthetic data (see tests/fixtures/obp_parity_ext.md;
regenerate with ``python -m benchmarks.obp_parity_ext --write-fixture``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bandits.estimators import EmbeddedLog, evaluate, plackett_luce_pscores
from bandits.estimators.selection import slope
from bandits.estimators.slate import SlateLog, SlateTarget

FIX = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "obp_parity_ext.npz"
TOL = 1e-9


@pytest.fixture(scope="module")
def z():
    return dict(np.load(FIX))


def _slates(z):
    bf = {k[len("slate_"):]: v for k, v in z.items() if k.startswith("slate_") and not k.startswith("slate_e_")}
    log = SlateLog.from_obp(dict(bf, n_unique_action=int(z["slate_n_unique_action"]), len_list=int(z["slate_len_list"])))
    tg = SlateTarget.from_obp(evaluation_policy_pscore=z["slate_e_pscore"],
                              evaluation_policy_pscore_cascade=z["slate_e_pscore_cascade"],
                              evaluation_policy_pscore_item_position=z["slate_e_pscore_item_position"],
                              evaluation_policy_action_dist=z["slate_e_action_dist"])
    return log, tg


@pytest.mark.parametrize("name", ["sips", "iips", "rips", "snsips", "sniips", "snrips", "cascade-dr"])
def test_slate_estimators_match_obp(z, name):
    log, tg = _slates(z)
    ours = evaluate(log, tg, [name], estimated_rewards=z["slate_q_hat"], interval=None)["estimate"].iloc[0]
    assert ours == pytest.approx(float(z[f"obp_slate_{name}"]), rel=TOL)


def test_plackett_luce_probabilities_match_obps_synthetic_slates(z):
    log, _ = _slates(z)
    b = plackett_luce_pscores(z["slate_b_logit"], log.slates())
    e = plackett_luce_pscores(z["slate_e_logit"], log.slates())
    for k in ("pscore", "pscore_cascade", "pscore_item_position"):
        np.testing.assert_allclose(b[k], z[f"slate_{k}"], rtol=TOL)
        np.testing.assert_allclose(e[k], z[f"slate_e_{k}"], rtol=TOL)
    np.testing.assert_allclose(e["action_dist"].reshape(-1), z["slate_e_action_dist"], rtol=TOL, atol=1e-300)


def _embedded(z, tag, exact):
    g = lambda k: z[f"mips_{tag}_{k}"]  # noqa: E731
    return EmbeddedLog(context=g("context"), action=g("action"), reward=g("reward"), pscore=g("pscore"),
                       n_actions=g("pi_b").shape[1], action_embed=g("action_embed"), pi_b=g("pi_b"),
                       p_e_a=g("p_e_a") if exact else None), g("action_dist")


@pytest.mark.parametrize("name,tag,route", [
    ("mips", "d3", "exact"), ("mips", "d1", "exact"), ("snmips", "d1", "exact"),
    ("mips", "d3", "classifier"), ("snmips", "d3", "classifier"), ("mips", "d1", "classifier"),
    ("snmips", "d1", "classifier"),
])
def test_mips_matches_obp(z, name, tag, route):
    data, ad = _embedded(z, tag, route == "exact")
    ours = evaluate(data, ad, [name], interval=None)["estimate"].iloc[0]
    assert ours == pytest.approx(float(z[f"obp_{name}_{tag}_{route}"]), rel=TOL)


def test_the_one_difference_snmipw_with_p_e_a_over_several_dimensions(z):
    """obp's SNMIPW with ``p_e_a`` multiplies the per-dimension marginals ``p(e_d | x, pi)`` (its
    MIPW uses the joint, as the paper); screentest's snmips is mips self-normalised, with the joint."""
    data, ad = _embedded(z, "d3", True)
    n, e, pea = data.n_rounds, data.action_embed, data.p_e_a
    pb, pe = data.pi_b[:, :, 0], ad[:, :, 0]
    joint = np.prod([pea[:, e[:, d], d].T for d in range(e.shape[1])], axis=0)  # (n, K): p(e_i | a)
    w = (pe * joint).sum(1) / (pb * joint).sum(1)
    marg = np.prod([(pe @ pea[:, :, d])[np.arange(n), e[:, d]] / (pb @ pea[:, :, d])[np.arange(n), e[:, d]]
                    for d in range(e.shape[1])], axis=0)
    r = data.reward
    assert float(z["obp_snmips_d3_exact"]) == pytest.approx(np.sum(r * marg) / np.sum(marg), rel=1e-12)
    ours = evaluate(data, ad, ["snmips"], interval=None)["estimate"].iloc[0]
    assert ours == pytest.approx(np.sum(r * w) / np.sum(w), rel=1e-12)
    assert float(z["obp_mips_d3_exact"]) == pytest.approx(np.mean(r * w), rel=1e-12)


@pytest.mark.parametrize("name", ["ipw", "dr", "switch-dr", "dr-os"])
def test_slope_matches_obps_tuning(z, name):
    data = {"reward": z["tune_reward"], "action": z["tune_action"], "pscore": z["tune_pscore"],
            "n_actions": z["tune_action_dist"].shape[1]}
    lams = list(z["tune_lambdas_os"] if name == "dr-os" else z["tune_lambdas"])
    res = slope(data, z["tune_action_dist"], name, lams, estimated_rewards=None if name == "ipw" else z["tune_q"])
    assert res.lambda_ == float(z[f"obp_tune_{name}_lambda"])
    assert res.value == pytest.approx(float(z[f"obp_tune_{name}_value"]), rel=TOL)
