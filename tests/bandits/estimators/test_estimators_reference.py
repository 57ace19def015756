"""Estimators against an independent float64 loop and hand-computed closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bandits.estimators import Estimator, estimate, evaluate, evaluate_batches, round_rewards


def _log(seed=0, n=300, K=4, L=2, positions=True):
    rng = np.random.default_rng(seed)
    action = rng.integers(0, K, n)
    position = rng.integers(0, L, n) if positions else None
    pscore = rng.uniform(0.05, 1.0, n)
    reward = rng.binomial(1, 0.4, n).astype(float)
    ad = rng.dirichlet(np.ones(K), size=(n, L)).transpose(0, 2, 1)  # (n, K, L)
    q = rng.uniform(0, 1, (n, K, L))
    data = {"reward": reward, "action": action, "pscore": pscore, "position": position,
            "n_actions": K, "len_list": L, "context": rng.normal(size=(n, 3))}
    return data, ad, q


def _loop(name, data, ad, q, lam=None):
    """A plain python loop over rows, written from the estimators' textbook definitions."""
    n = len(data["reward"])
    pos = data["position"] if data["position"] is not None else np.zeros(n, int)
    w, wr, dm_i, res = [], [], [], []
    for i in range(n):
        a, k, r, p = int(data["action"][i]), int(pos[i]), float(data["reward"][i]), float(data["pscore"][i])
        wi = ad[i, a, k] / p
        w.append(wi)
        wr.append(wi * r)
        dm_i.append(sum(ad[i, b, k] * q[i, b, k] for b in range(ad.shape[1])))
        res.append(r - q[i, a, k])
    w, wr, dm_i, res = map(np.array, (w, wr, dm_i, res))
    if name == "ipw":
        return float(np.mean(wr)) if lam is None else float(np.mean(np.minimum(w, lam) * data["reward"]))
    if name == "snipw":
        return float(np.sum(wr) / np.sum(w))
    if name == "dm":
        return float(np.mean(dm_i))
    if name == "dr":
        ww = w if lam is None else np.minimum(w, lam)
        return float(np.mean(dm_i + ww * res))
    if name == "sndr":
        return float(np.mean(dm_i) + np.sum(w * res) / np.sum(w))
    if name == "switch-dr":
        return float(np.mean(dm_i + np.where(w <= lam, w, 0.0) * res))
    if name == "dr-os":
        # Su et al. (2020): the shrunk weight is lam w / (w^2 + lam) (obp's code; its docstring has an extra w)
        return float(np.mean(dm_i + lam * w / (w**2 + lam) * res))
    raise KeyError(name)


CASES = [("ipw", None), ("ipw", 2.0), ("snipw", None), ("dm", None), ("dr", None), ("dr", 2.0),
         ("sndr", None), ("switch-dr", 2.0), ("dr-os", 3.0)]


@pytest.mark.parametrize("positions", [True, False])
@pytest.mark.parametrize("name,lam", CASES)
def test_matches_python_loop(name, lam, positions):
    data, ad, q = _log(positions=positions, L=2 if positions else 1)
    kw = {} if lam is None else {"lambda_": lam}
    got = estimate(name, data, ad, q, **kw)
    assert got == pytest.approx(_loop(name, data, ad, q, lam), rel=1e-12, abs=1e-15)
    # round_rewards average to the estimate
    assert np.mean(round_rewards(name, data, ad, q, **kw)) == pytest.approx(got, rel=1e-12)


def test_position_selects_the_logged_slot():
    # two rows, two actions, two slots; the policy differs by slot, so using the wrong slot changes IPW
    data = {"reward": np.array([1.0, 0.0]), "action": np.array([1, 0]), "pscore": np.array([0.5, 0.5]),
            "position": np.array([1, 0]), "n_actions": 2, "len_list": 2}
    ad = np.zeros((2, 2, 2))
    ad[:, :, 0] = [0.9, 0.1]  # slot 0
    ad[:, :, 1] = [0.2, 0.8]  # slot 1
    # row 0: action 1 in slot 1 -> w = 0.8 / 0.5 = 1.6, r = 1; row 1: action 0 in slot 0 -> w = 1.8, r = 0
    assert estimate("ipw", data, ad) == pytest.approx((1.6 * 1 + 1.8 * 0) / 2)
    assert estimate("snipw", data, ad) == pytest.approx(1.6 / (1.6 + 1.8))


def test_closed_form_small_case():
    # uniform logging over 2 actions; target always plays action 0
    data = {"reward": np.array([1.0, 0.0, 1.0, 1.0]), "action": np.array([0, 0, 1, 0]),
            "pscore": np.full(4, 0.5), "n_actions": 2}
    ad = np.array([[1.0, 0.0]] * 4)[:, :, None]
    q = np.array([[0.5, 0.2]] * 4)[:, :, None]
    # w = [2, 2, 0, 2]; w r = [2, 0, 0, 2]
    assert estimate("ipw", data, ad) == pytest.approx(1.0)
    assert estimate("snipw", data, ad) == pytest.approx(4 / 6)
    assert estimate("dm", data, ad, q) == pytest.approx(0.5)
    # DR: 0.5 + w (r - q_a): [2*0.5, 2*(-0.5), 0, 2*0.5] -> mean 0.25 -> 0.75
    assert estimate("dr", data, ad, q) == pytest.approx(0.75)
    # replay: the policy is deterministic; rows where it agrees with the log: 0, 1, 3 -> rewards 1, 0, 1
    assert estimate("rm", data, ad) == pytest.approx(2 / 3)
    # normal interval for IPW: sd(w r) / sqrt(n) with ddof 1
    df = evaluate(data, ad, estimators=["ipw", "snipw"], interval="normal", alpha=0.05)
    se = np.std([2, 0, 0, 2], ddof=1) / 2
    row = df.set_index("estimator").loc["ipw"]
    assert row["std_err"] == pytest.approx(se)
    assert row["ci_low"] == pytest.approx(1.0 - 1.959963984540054 * se)
    # SNIPS delta method: psi_i = (w_i r_i - R w_i) / mean(w)
    w, wr = np.array([2, 2, 0, 2.0]), np.array([2, 0, 0, 2.0])
    R = wr.sum() / w.sum()
    psi = (wr - R * w) / w.mean()
    assert df.set_index("estimator").loc["snipw", "std_err"] == pytest.approx(np.std(psi, ddof=1) / 2)
    # diagnostics: Kish ESS = (sum w)^2 / sum w^2 = 36 / 12 = 3; action 1 was logged, so no unsupported mass
    assert row["ess"] == pytest.approx(3.0)
    assert row["max_iw"] == pytest.approx(2.0)
    assert row["unsupported_mass"] == 0.0
    assert row["relative"] == pytest.approx(1.0 / 0.75)


def test_unsupported_mass_counts_never_logged_actions():
    data = {"reward": np.zeros(4), "action": np.array([0, 0, 1, 1]), "pscore": np.full(4, 0.5), "n_actions": 3}
    ad = np.array([[0.5, 0.25, 0.25]] * 4)[:, :, None]  # 25% on action 2, never logged
    df = evaluate(data, ad, estimators=["ipw"])
    assert df["unsupported_mass"].iloc[0] == pytest.approx(0.25)


def test_replay_requires_uniform_logging():
    data, ad, _ = _log(positions=False, L=1)
    with pytest.raises(ValueError, match="pscore.*uniformly logged"):
        estimate("rm", data, ad)


def test_streamed_equals_in_memory():
    data, ad, q = _log(n=1000)
    full = evaluate(data, ad, estimators=["ipw", "snipw", "dr", "sndr"], estimated_rewards=q)
    parts = np.array_split(np.arange(1000), 7)

    def batch(ix):
        return {k: (v[ix] if isinstance(v, np.ndarray) else v) for k, v in data.items()} | {"_ix": ix}

    batches = [batch(ix) for ix in parts]
    streamed = evaluate_batches(batches, action_dist=lambda b: ad[b["_ix"]], estimated_rewards=lambda b: q[b["_ix"]],
                                estimators=["ipw", "snipw", "dr", "sndr"])
    for col in ("estimate", "ci_low", "ci_high", "std_err", "ess", "max_iw", "unsupported_mass"):
        np.testing.assert_allclose(streamed[col], full[col], rtol=1e-10, atol=1e-15)


def test_estimator_objects_and_labels():
    e = Estimator("SNIPS")
    assert e.name == "snipw" and e.label == "snipw"
    assert Estimator("switch-dr", lambda_=7).label == "switch-dr(lambda=7)"
    with pytest.raises(ValueError, match="estimators: unknown estimator 'foo'"):
        Estimator("foo")
    with pytest.raises(ValueError, match="lambda_"):
        Estimator("snipw", lambda_=3.0)
    with pytest.raises(ValueError, match="lambda_"):
        Estimator("ipw", lambda_=-1.0)
    assert math.isinf(Estimator("ipw").lambda_)


def test_streamed_bootstrap_agrees_with_the_delta_method():
    """Batch bootstrap sums add up: the streamed bootstrap SE matches the delta-method SE within
    the Monte-Carlo error of a B-replicate SD (relative sd ~ 1/sqrt(2B))."""
    data, ad, q = _log(n=8000, seed=4)
    names = ["ipw", "snipw", "dr"]
    full = evaluate(data, ad, estimators=names, estimated_rewards=q, interval="normal")
    parts = np.array_split(np.arange(8000), 4)
    batches = [{k: (v[ix] if isinstance(v, np.ndarray) else v) for k, v in data.items()} | {"_ix": ix} for ix in parts]
    B = 2000
    boot = evaluate_batches(batches, action_dist=lambda b: ad[b["_ix"]], estimated_rewards=lambda b: q[b["_ix"]],
                            estimators=names, interval="bootstrap", n_bootstrap=B, random_state=1)
    np.testing.assert_allclose(boot["estimate"], full["estimate"], rtol=1e-12)
    np.testing.assert_allclose(boot["std_err"], full["std_err"], rtol=3 / np.sqrt(2 * (B - 1)) + 0.01)
