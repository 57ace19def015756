"""Slate estimators (bandits.estimators.slate): float64 references of every formula, unbiasedness
over 200 synthetic slate logs against the exact value (enumerated slates), the Plackett-Luce
probabilities against brute force, the Open Bandit Dataset sample (one row per impression), the
streamed evaluation, and bad input."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from bandits.data import LoggedData
from bandits.estimators import evaluate, evaluate_batches
from bandits.estimators.slate import SlateLog, SlateTarget, fit_slate_reward_model, plackett_luce_pscores

ALL = ["sips", "iips", "rips", "snsips", "sniips", "snrips", "cascade-dr", "sn-cascade-dr"]


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


class World:
    """Context-free slate world: Plackett-Luce logger and target over K items, L slots.

    independent: slot k's click probability is sigmoid(u[a_k]) * kappa_k (position-based model).
    cascade: sigmoid(u[a_k] + sum_{j<k} W[a_k, a_j]) (items above change the click: obp's
    cascade_additive structure)."""

    def __init__(self, structure, K=5, L=3, seed=0, strength=2.0):
        rng = np.random.default_rng(seed)
        self.K, self.L, self.structure = K, L, structure
        self.zb = rng.normal(size=K) * 0.7
        self.ze = self.zb + rng.normal(size=K)
        self.u = rng.normal(size=K) - 0.5
        W = rng.normal(size=(K, K)) * strength
        self.W = (W + W.T) / 2
        self.kappa = 1.0 / (1.0 + np.arange(L))

    def q(self, slates):
        """Expected reward per slot (S, L)."""
        S, L = slates.shape
        if self.structure == "independent":
            return _sig(self.u[slates]) * self.kappa[None, :]
        out = np.empty((S, L))
        for k in range(L):
            inter = sum(self.W[slates[:, k], slates[:, j]] for j in range(k)) if k else 0.0
            out[:, k] = _sig(self.u[slates[:, k]] + inter)
        return out

    def truth(self):
        perm = np.array(list(permutations(range(self.K), self.L)))
        p = plackett_luce_pscores(np.tile(self.ze, (len(perm), 1)), perm, None)["pscore"][:: self.L]
        assert abs(p.sum() - 1.0) < 1e-12
        return float((p * self.q(perm).sum(axis=1)).sum())

    def sample(self, S, rng, slate_id=True):
        g = self.zb[None, :] + rng.gumbel(size=(S, self.K))
        slates = np.argsort(-g, axis=1)[:, : self.L]
        r = rng.binomial(1, self.q(slates)).astype(float)
        b = plackett_luce_pscores(np.tile(self.zb, (S, 1)), slates)
        e = plackett_luce_pscores(np.tile(self.ze, (S, 1)), slates)
        log = SlateLog(action=slates.reshape(-1), reward=r.reshape(-1), position=np.tile(np.arange(self.L), S),
                       slate_id=np.repeat(np.arange(S), self.L) if slate_id else None, pscore=b["pscore"],
                       pscore_cascade=b["pscore_cascade"], pscore_item_position=b["pscore_item_position"],
                       context=rng.normal(size=(S, 1)), n_actions=self.K)
        tg = SlateTarget(e["pscore"], e["pscore_cascade"], e["pscore_item_position"], e["action_dist"], e["marginal"])
        return log, tg


def _reference(log, tg, q):
    """Every slate estimator as a float64 loop over slates and slots."""
    S, L = log.n_slates, log.len_list
    rows = {(int(log.unit[i]), int(log.position[i])): i for i in range(log.n_rounds)}
    out = {}
    for nm, b, t in (("sips", log.pscore, tg.pscore), ("iips", log.pscore_item_position, tg.pscore_item_position),
                     ("rips", log.pscore_cascade, tg.pscore_cascade)):
        tot, num, den = 0.0, np.zeros(L), np.zeros(L)
        for s in range(S):
            for k in range(L):
                i = rows[(s, k)]
                w = t[i] / b[i]
                tot += w * log.reward[i]
                num[k] += w * log.reward[i]
                den[k] += w
        out[nm] = tot / S
        out["sn" + nm] = float(np.sum(num / den))
    cdr, res, qq, wc, wp = 0.0, np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
    for s in range(S):
        prev = 1.0
        for k in range(L):
            i = rows[(s, k)]
            w = tg.pscore_cascade[i] / log.pscore_cascade[i]
            q_pi = sum(tg.action_dist[i, a] * q[i, a] for a in range(log.n_actions))
            cdr += w * (log.reward[i] - q[i, log.action[i]]) + prev * q_pi
            res[k] += w * (log.reward[i] - q[i, log.action[i]])
            qq[k] += prev * q_pi
            wc[k] += w
            wp[k] += prev
            prev = w
    out["cascade-dr"] = cdr / S
    out["sn-cascade-dr"] = float(np.sum(res / wc) + np.sum(qq / wp))
    return out


def test_every_slate_estimator_matches_its_float64_reference_and_the_slate_level_standard_error():
    w = World("cascade", seed=1)
    rng = np.random.default_rng(0)
    log, tg = w.sample(60, rng)
    q = rng.uniform(0.0, 1.0, (log.n_rounds, log.n_actions))
    df = evaluate(log, tg, ALL, estimated_rewards=q).set_index("estimator")
    ref = _reference(log, tg, q)
    for nm in ALL:
        assert df.loc[nm, "estimate"] == pytest.approx(ref[nm], rel=1e-12), nm
    # a plain slate estimator's standard error is the SD of its per-slate sums over sqrt(S)
    W = log.wide(tg.pscore / log.pscore * log.reward).sum(axis=1)
    assert df.loc["sips", "std_err"] == pytest.approx(np.std(W, ddof=1) / np.sqrt(log.n_slates), rel=1e-10)
    assert (df["n_rounds"] == log.n_slates).all()
    # the slate weight is the diagnostic weight
    ws = tg.pscore[:: log.len_list] / log.pscore[:: log.len_list]
    assert df.loc["sips", "ess"] == pytest.approx(ws.sum() ** 2 / (ws**2).sum(), rel=1e-12)
    assert df.loc["sips", "max_iw"] == pytest.approx(ws.max(), rel=1e-12)
    assert df.attrs["logged_mean_reward"] == pytest.approx(log.reward.sum() / log.n_slates, rel=1e-12)


@pytest.mark.parametrize("structure,unbiased,biased", [
    ("independent", ["sips", "iips", "rips", "cascade-dr", "sniips"], []),
    ("cascade", ["sips", "rips", "cascade-dr"], ["iips", "sniips"]),
])
def test_unbiased_over_200_logs_where_their_assumption_holds(structure, unbiased, biased):
    """Mean over 200 logs within 3 SE of the enumerated truth; IIPS and SNIIPS, whose assumption
    fails under the cascade structure, are far off there (the check can fail). Self-normalised
    forms are consistent, with O(1/n) bias: within 3 SE as well at this size."""
    w = World(structure, seed=3)
    truth = w.truth()
    rng = np.random.default_rng(11)
    names = unbiased + biased + ["snsips", "snrips", "sn-cascade-dr"]
    est = {nm: [] for nm in names}
    for _ in range(200):
        log, tg = w.sample(300, rng)
        q = np.full((log.n_rounds, log.n_actions), 0.3)  # a wrong reward model: cascade DR stays unbiased
        df = evaluate(log, tg, names, estimated_rewards=q, interval=None)
        for nm, v in zip(df["estimator"], df["estimate"], strict=True):
            est[nm].append(v)
    for nm in names:
        v = np.array(est[nm])
        z = (v.mean() - truth) / (v.std(ddof=1) / np.sqrt(v.size))
        if nm in biased:
            assert abs(z) > 6, (nm, z)
        else:
            assert abs(z) < 3, (nm, z, v.mean(), truth)


def test_cascade_dr_with_the_fitted_slate_model_is_close_to_the_truth_and_tighter_than_rips():
    w = World("cascade", seed=3)
    truth = w.truth()
    log, tg = w.sample(4000, np.random.default_rng(5))
    df = evaluate(log, tg, ["rips", "cascade-dr"]).set_index("estimator")  # evaluate fits the slate model
    assert abs(df.loc["cascade-dr", "estimate"] - truth) < 3 * df.loc["cascade-dr", "std_err"]
    assert df.loc["cascade-dr", "std_err"] < df.loc["rips", "std_err"]
    q = fit_slate_reward_model(log, tg, n_folds=2)
    assert q.shape == (log.n_rounds, log.n_actions) and np.isfinite(q).all()


def test_plackett_luce_probabilities_against_brute_force_and_monte_carlo():
    rng = np.random.default_rng(0)
    K, L, S = 5, 3, 4
    z = rng.normal(size=(S, K))
    slates = np.array([rng.permutation(K)[:L] for _ in range(S)])
    out = plackett_luce_pscores(z, slates)
    perm = np.array(list(permutations(range(K), L)))
    for s in range(S):
        p = np.exp(z[s]) / np.exp(z[s]).sum()
        joint = {}
        for sl in perm:
            pr, left = 1.0, 1.0
            for a in sl:
                pr *= p[a] / left
                left -= p[a]
            joint[tuple(sl)] = pr
        for k in range(L):
            i = s * L + k
            assert out["pscore_cascade"][i] == pytest.approx(
                sum(v for sl, v in joint.items() if sl[: k + 1] == tuple(slates[s, : k + 1])), rel=1e-12)
            assert out["pscore_item_position"][i] == pytest.approx(
                sum(v for sl, v in joint.items() if sl[k] == slates[s, k]), rel=1e-12)
            marg = np.array([sum(v for sl, v in joint.items() if sl[k] == a) for a in range(K)])
            np.testing.assert_allclose(out["marginal"][i, :, k], marg, rtol=1e-12)
        assert out["pscore"][s * L] == pytest.approx(joint[tuple(slates[s])], rel=1e-12)
    mc = plackett_luce_pscores(z, slates, item_position="mc", n_mc=20_000, random_state=1)
    se = np.sqrt(out["pscore_item_position"] * (1 - out["pscore_item_position"]) / 20_000)
    assert np.all(np.abs(mc["pscore_item_position"] - out["pscore_item_position"]) < 4 * se)
    with pytest.raises(ValueError, match=r"item_position: 'exact' needs .* ordered prefixes"):
        plackett_luce_pscores(rng.normal(size=(2, 60)), np.tile(np.arange(3), (2, 1)), max_prefixes=1000)


def test_open_bandit_dataset_rows_are_single_slot_impressions():
    """The OBD sample logs the item-in-slot marginal only, one row per impression: iips and sniips
    apply (each slot's mean over the rows of that slot); the others are refused by name."""
    from bandits.datasets.obd import load_obd

    data = load_obd("random", "all")
    log = SlateLog.from_logged(data)
    assert log.n_slates == data.n_rounds and log.pscore_item_position is not None
    rng = np.random.default_rng(0)
    ad = rng.dirichlet(np.ones(data.n_actions), size=(data.n_rounds, data.len_list)).transpose(0, 2, 1)
    df = evaluate(log, ad, ["iips", "sniips"]).set_index("estimator")
    w = ad[np.arange(data.n_rounds), data.action, data.position] / data.pscore
    ref = sum((w * data.reward)[data.position == k].mean() for k in range(3))
    ref_sn = sum((w * data.reward)[data.position == k].sum() / w[data.position == k].sum() for k in range(3))
    assert df.loc["iips", "estimate"] == pytest.approx(ref, rel=1e-12)
    assert df.loc["sniips", "estimate"] == pytest.approx(ref_sn, rel=1e-12)
    # rows are independent impressions: the slot-wise means' variances add up
    var = sum(np.var((w * data.reward)[data.position == k], ddof=1) / (data.position == k).sum() for k in range(3))
    assert df.loc["iips", "std_err"] == pytest.approx(np.sqrt(var), rel=2e-3)
    assert 0.0 <= df.loc["iips", "unsupported_mass"] < 1.0
    with pytest.raises(ValueError, match=r"pscore_cascade: estimator 'rips' needs the logger's pscore_cascade"):
        evaluate(log, ad, ["rips"])
    with pytest.raises(ValueError, match=r"pscore: estimator 'sips' needs the logger's pscore"):
        evaluate(log, ad, ["sips"])


def test_streamed_slates_equal_the_whole_log_and_bca_runs():
    w = World("independent", seed=2)
    log, tg = w.sample(400, np.random.default_rng(3))
    q = np.full((log.n_rounds, log.n_actions), 0.2)
    whole = evaluate(log, tg, ALL, estimated_rewards=q)
    parts = [log.take_slates(np.arange(0, 150)), log.take_slates(np.arange(150, 400))]
    targets = iter([tg.take(rows) for _, rows in parts])
    qs = iter([q[rows] for _, rows in parts])
    streamed = evaluate_batches([p for p, _ in parts], lambda b: next(targets), ALL, estimated_rewards=lambda b: next(qs))
    np.testing.assert_allclose(streamed["estimate"], whole["estimate"], rtol=1e-12)
    np.testing.assert_allclose(streamed["std_err"], whole["std_err"], rtol=1e-9)
    bca = evaluate(log, tg, ["sips", "sniips"], interval="bca", n_bootstrap=400)
    assert ((bca["ci_low"] < bca["estimate"]) & (bca["estimate"] < bca["ci_high"])).all()


def _small():
    w = World("cascade", K=4, L=2, seed=0)
    return w.sample(5, np.random.default_rng(0))


def test_bad_slate_input_names_the_argument():
    log, tg = _small()
    n, K = log.n_rounds, log.n_actions
    # the target's slot distributions must sum to 1
    bad = tg.action_dist.copy()
    bad[3] *= 0.9
    with pytest.raises(ValueError, match=r"action_dist: expected each row's probabilities over actions .* sum to 1"):
        evaluate(log, SlateTarget(tg.pscore, tg.pscore_cascade, tg.pscore_item_position, bad), ["rips"])
    mg = tg.marginal.copy()
    mg[0, :, 1] *= 2
    with pytest.raises(ValueError, match=r"marginal: expected each row's probabilities over actions"):
        evaluate(log, SlateTarget(pscore_item_position=tg.pscore_item_position, marginal=mg), ["iips"])
    # cascade probabilities must be products of the slot distributions
    pc = tg.pscore_cascade.copy()
    pc[1] *= 0.5
    with pytest.raises(ValueError, match=r"action_dist: expected pscore_cascade at a slot to be the one above times"):
        evaluate(log, SlateTarget(pscore_cascade=pc, action_dist=tg.action_dist), ["rips"])
    # the slate probability is the last cascade probability, and one number per slate
    ps = log.pscore.copy()
    ps[0] *= 0.5
    with pytest.raises(ValueError, match=r"pscore: expected one slate probability per slate"):
        SlateLog(action=log.action, reward=log.reward, position=log.position, slate_id=log.slate_id, pscore=ps)
    with pytest.raises(ValueError, match=r"pscore: expected the slate probability to equal pscore_cascade at the last"):
        SlateLog(action=log.action, reward=log.reward, position=log.position, slate_id=log.slate_id,
                 pscore=log.pscore * 0.5, pscore_cascade=log.pscore_cascade)
    up = log.pscore_cascade.copy()
    up[1] = 1.0
    with pytest.raises(ValueError, match=r"pscore_cascade: expected probabilities of the top-k items that do not increase"):
        SlateLog(action=log.action, reward=log.reward, position=log.position, slate_id=log.slate_id, pscore_cascade=up)
    with pytest.raises(ValueError, match=r"pscore_item_position: expected every value in \(0, 1\], got 0.0 at row 2"):
        SlateLog(action=log.action, reward=log.reward, position=log.position,
                 pscore_item_position=np.where(np.arange(n) == 2, 0.0, 0.5))
    with pytest.raises(ValueError, match=r"position: expected each slot at most once per slate, got slot 0 2 times"):
        SlateLog(action=log.action, reward=log.reward, position=np.zeros(n, int), slate_id=log.slate_id)
    # the estimators and the log kinds must agree
    with pytest.raises(ValueError, match=r"estimators: a SlateLog is evaluated with the slate estimators .* got row "
                                         r"estimators \['ipw'\]"):
        evaluate(log, tg, ["ipw"])
    rows = LoggedData(context=None, action=log.action, reward=log.reward, pscore=log.pscore_item_position,
                      position=log.position, n_actions=K)
    with pytest.raises(ValueError, match=r"data: estimators \['iips'\] are slate estimators"):
        evaluate(rows, tg.marginal, ["iips"])
    no_id = SlateLog(action=log.action, reward=log.reward, position=log.position, pscore_cascade=log.pscore_cascade)
    with pytest.raises(ValueError, match=r"slate_id: estimator 'cascade-dr' needs the slates"):
        evaluate(no_id, tg, ["cascade-dr"], estimated_rewards=np.zeros((n, K)))
    with pytest.raises(ValueError, match=r"estimated_rewards: expected a slate reward model of shape \(n_rows=10, "):
        evaluate(log, tg, ["cascade-dr"], estimated_rewards=np.zeros((n, K + 1)))
    with pytest.raises(ValueError, match=r"len_list: estimator 'sips\(len_list=3\)' was given len_list=3, but the log"):
        evaluate(log, tg, [("sips", {"len_list": 3})])
