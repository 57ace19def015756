"""MIPS (bandits.estimators.mips): float64 references of its three weight routes, unbiasedness over
200 logs against the exact value, its variance against IPW's with 1,000 items, learned item
groups, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bandits.data import LoggedData
from bandits.estimators import (
    EmbeddedLog,
    estimate,
    evaluate,
    item_clusters,
    learn_item_embedding,
    mips_weights,
)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _draw(p, rng):
    """One index per row of a probability matrix."""
    return (p.cumsum(axis=1) > rng.random((p.shape[0], 1))).argmax(axis=1)


def _stochastic_log(n=400, K=30, C=4, D=2, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    pb = _softmax(x @ rng.normal(size=(d, K)) * 0.5)
    pe = _softmax(x @ rng.normal(size=(d, K)))
    a = _draw(pb, rng)
    pea = rng.dirichlet(np.ones(C), size=(K, D)).transpose(0, 2, 1)  # (K, C, D)
    e = np.stack([_draw(pea[a, :, j], rng) for j in range(D)], axis=1)
    r = rng.binomial(1, 0.2 + 0.15 * (e[:, 0] % 2) + 0.1 * (e[:, 1] == 0)).astype(float)
    data = EmbeddedLog(context=x, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=K, action_embed=e,
                       pi_b=pb, p_e_a=pea)
    return data, pe


def test_exact_weights_match_the_float64_formula():
    data, pe = _stochastic_log()
    n, K = data.n_rounds, data.n_actions
    w = np.empty(n)
    for i in range(n):
        pa = np.array([np.prod([data.p_e_a[a, data.action_embed[i, j], j] for j in range(2)]) for a in range(K)])
        w[i] = (pe[i] * pa).sum() / (data.pi_b[i, :, 0] * pa).sum()
    np.testing.assert_allclose(mips_weights(data, pe), w, rtol=1e-12)
    df = evaluate(data, pe, ["mips", "snmips"]).set_index("estimator")
    r = data.reward
    assert df.loc["mips", "estimate"] == pytest.approx(np.mean(w * r), rel=1e-12)
    assert df.loc["snmips", "estimate"] == pytest.approx(np.sum(w * r) / np.sum(w), rel=1e-12)
    assert df.loc["mips", "std_err"] == pytest.approx(np.std(w * r, ddof=1) / np.sqrt(n), rel=1e-10)


def test_deterministic_categories_from_action_context_equal_the_one_hot_embedding_distribution():
    rng = np.random.default_rng(1)
    n, K, C = 300, 40, 5
    cat = rng.integers(0, C, K)
    pb = rng.dirichlet(np.ones(K), size=n)
    pe = rng.dirichlet(np.ones(K), size=n)
    a = _draw(pb, rng)
    r = rng.binomial(1, 0.3, n).astype(float)
    base = LoggedData(context=None, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=K,
                      action_context=np.c_[cat, cat * 2.0])
    via_context = EmbeddedLog.from_logged(base, pi_b=pb)
    onehot = np.zeros((K, C, 1))
    onehot[np.arange(K), cat, 0] = 1.0
    via_pea = EmbeddedLog.from_logged(base, action_embed=cat[a][:, None], pi_b=pb, p_e_a=onehot)
    w1, w2 = mips_weights(via_context, pe), mips_weights(via_pea, pe)
    np.testing.assert_allclose(w1, w2, rtol=1e-12)
    ref = np.array([pe[i, cat == cat[a[i]]].sum() / pb[i, cat == cat[a[i]]].sum() for i in range(n)])
    np.testing.assert_allclose(w1, ref, rtol=1e-12)


def test_estimated_routes_match_their_explicit_classifiers():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data, pe = _stochastic_log(seed=2)
    n, K = data.n_rounds, data.n_actions
    # obp's route: pi_b known, p(a | x, e) by a classifier
    d2 = EmbeddedLog.from_logged(data, action_embed=data.action_embed, pi_b=data.pi_b)
    xe = np.c_[data.context, OneHotEncoder(sparse_output=False, drop="first").fit_transform(data.action_embed)]
    m = LogisticRegression(max_iter=1000, random_state=12345).fit(xe, data.action)
    p = np.zeros((n, K))
    p[:, m.classes_] = m.predict_proba(xe)
    np.testing.assert_allclose(mips_weights(d2, pe), ((pe / data.pi_b[:, :, 0]) * p).sum(axis=1), rtol=1e-10)
    # no pi_b: p(e | x, pi_b) by a classifier of the (joint) embedding given the context
    d3 = EmbeddedLog.from_logged(data, action_embed=data.action_embed, p_e_a=data.p_e_a)
    _, joint = np.unique(data.action_embed, axis=0, return_inverse=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.context, joint)
    den = clf.predict_proba(data.context)[np.arange(n), np.searchsorted(clf.classes_, joint)]
    pa = data.p_e_a[:, data.action_embed[:, 0], 0].T * data.p_e_a[:, data.action_embed[:, 1], 1].T
    np.testing.assert_allclose(mips_weights(d3, pe), (pe * pa).sum(axis=1) / den, rtol=1e-10)


def _category_world(K, C, d, seed):
    """Items in C categories; the reward depends on (x, category) only; the logger picks a category by
    a multinomial logit in x, then an item uniformly within it (so p(e | x, pi_b) is logistic)."""
    rng = np.random.default_rng(seed)
    cat = np.arange(K) % C
    theta_b = rng.normal(size=(d, C)) * 0.8
    theta_r = rng.normal(size=(d, C))
    bias_r = rng.normal(size=C) - 1.0
    target_logit = rng.normal(size=K) * 1.5
    size = np.bincount(cat, minlength=C).astype(float)

    def pb_of(x):
        pc = _softmax(x @ theta_b)
        return pc[:, cat] / size[cat]

    def mean_r(x):
        return 1.0 / (1.0 + np.exp(-(x @ theta_r + bias_r)))  # (n, C)

    pe_row = _softmax(target_logit[None, :])[0]
    return cat, pb_of, mean_r, pe_row


def _mean_value(mean_r, cat, pe_row, d, rng, m=200_000):
    xs = rng.normal(size=(m, d))
    v = mean_r(xs) @ np.bincount(cat, weights=pe_row, minlength=mean_r(xs[:1]).shape[1])
    return float(v.mean()), float(v.std() / np.sqrt(m))


def test_mips_is_unbiased_over_200_logs_with_exact_and_frequency_weights():
    """Exact weights (pi_b logged) and, for a context-free logger, weights whose denominator
    p(e | pi_b) is estimated by the embeddings' frequencies (the no-pi_b route without context)."""
    K, C, d, n = 60, 4, 2, 300
    cat, pb_of, mean_r, pe_row = _category_world(K, C, d, seed=4)
    rng = np.random.default_rng(7)
    truth, tse = _mean_value(mean_r, cat, pe_row, d, rng)
    pb_free = pb_of(np.zeros((1, d)))[0]
    est = {"exact": [], "snmips": [], "frequency": []}
    ad = np.broadcast_to(pe_row, (n, K))[:, :, None]
    for _ in range(200):
        x = rng.normal(size=(n, d))
        pb = pb_of(x)
        a = _draw(pb, rng)
        r = rng.binomial(1, mean_r(x)[np.arange(n), cat[a]]).astype(float)
        exact = EmbeddedLog(context=x, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=K,
                            action_context=cat[:, None], pi_b=pb)
        df = evaluate(exact, ad, ["mips", "snmips"], interval=None)
        est["exact"].append(df["estimate"].iloc[0])
        est["snmips"].append(df["estimate"].iloc[1])
        a0 = rng.choice(K, size=n, p=pb_free)  # a context-free logger; contexts not logged
        r0 = rng.binomial(1, mean_r(x)[np.arange(n), cat[a0]]).astype(float)
        free = LoggedData(context=None, action=a0, reward=r0, pscore=pb_free[a0], n_actions=K,
                          action_context=cat[:, None])
        est["frequency"].append(estimate("mips", free, ad))
    for k, v in est.items():
        v = np.array(v)
        se = np.sqrt(v.var(ddof=1) / v.size + tse**2)
        assert abs(v.mean() - truth) < 3 * se, (k, v.mean(), truth, se)


def test_mips_with_a_classifier_for_the_logger_is_consistent():
    """No pi_b, contextual logger: p(e | x, pi_b) by logistic regression (well specified here: the
    logger draws a category by a multinomial logit in x). One large log, within 3 SE of the truth."""
    K, C, d, n = 60, 4, 2, 20_000
    cat, pb_of, mean_r, pe_row = _category_world(K, C, d, seed=4)
    rng = np.random.default_rng(8)
    truth, _ = _mean_value(mean_r, cat, pe_row, d, rng)
    x = rng.normal(size=(n, d))
    pb = pb_of(x)
    a = _draw(pb, rng)
    r = rng.binomial(1, mean_r(x)[np.arange(n), cat[a]]).astype(float)
    base = LoggedData(context=x, action=a, reward=r, pscore=pb[np.arange(n), a], n_actions=K,
                      action_context=cat[:, None])
    ad = np.broadcast_to(pe_row, (n, K))[:, :, None]
    df = evaluate(base, ad, ["mips", ("mips", {"n_folds": 2})]).set_index("estimator")
    for row in df.itertuples():
        assert abs(row.estimate - truth) < 3 * row.std_err, (row.Index, row.estimate, truth)


def test_mips_variance_is_far_below_ipw_with_1000_items():
    K, C, n = 1000, 10, 500
    rng = np.random.default_rng(0)
    cat = np.arange(K) % C
    pb = _softmax(rng.normal(size=K) * 1.5)
    pe = _softmax(rng.normal(size=K) * 1.5)
    p_click = rng.uniform(0.05, 0.5, C)
    truth = float(pe @ p_click[cat])
    ad = np.broadcast_to(pe, (n, K))[:, :, None]
    out = {"ipw": [], "mips": []}
    for _ in range(200):
        a = rng.choice(K, size=n, p=pb)
        r = rng.binomial(1, p_click[cat[a]]).astype(float)
        data = EmbeddedLog(context=None, action=a, reward=r, pscore=pb[a], n_actions=K,
                           action_context=cat[:, None], pi_b=np.broadcast_to(pb, (n, K)))
        df = evaluate(data, ad, ["ipw", "mips"], interval=None)
        out["ipw"].append(df["estimate"].iloc[0])
        out["mips"].append(df["estimate"].iloc[1])
    ipw, mips = np.array(out["ipw"]), np.array(out["mips"])
    for v in (ipw, mips):
        assert abs(v.mean() - truth) < 3 * v.std(ddof=1) / np.sqrt(v.size)
    assert mips.var() < ipw.var() / 10, (mips.var(), ipw.var())


def test_item_groups_from_features_and_from_the_log():
    rng = np.random.default_rng(0)
    K, C = 30, 3
    cat = np.arange(K) % C
    centers = rng.normal(size=(C, 4)) * 5
    feats = centers[cat] + rng.normal(size=(K, 4)) * 0.1
    lab = item_clusters(feats, C)
    assert len({(int(a), int(b)) for a, b in zip(lab, cat, strict=True)}) == C  # a relabelling of cat
    n = 6000
    x = rng.normal(size=(n, 2))
    a = rng.integers(0, K, n)
    rate = np.array([0.05, 0.3, 0.7])[cat[a]]
    r = rng.binomial(1, rate).astype(float)
    data = LoggedData(context=x, action=a, reward=r, pscore=np.full(n, 1 / K), n_actions=K)
    learned = learn_item_embedding(data, C, n_contexts=200)
    assert len({(int(u), int(v)) for u, v in zip(learned, cat, strict=True)}) == C


def test_bad_mips_input_names_the_argument():
    data, pe = _stochastic_log(n=50)
    base = LoggedData.coerce({"context": data.context, "action": data.action, "reward": data.reward,
                              "pscore": data.pscore, "n_actions": data.n_actions})
    with pytest.raises(ValueError, match=r"action_embed: expected integer categories of shape \(n_rounds=50, n_dims\)"):
        EmbeddedLog.from_logged(base, action_embed=np.zeros((49, 2), int))
    with pytest.raises(ValueError, match=r"p_e_a: expected n_dims=2 \(axis 2, as action_embed\)"):
        EmbeddedLog.from_logged(base, action_embed=data.action_embed, p_e_a=data.p_e_a[:, :, :1])
    bad = data.p_e_a.copy()
    bad[3, :, 1] *= 0.5
    with pytest.raises(ValueError, match=r"p_e_a: expected each item's distribution over categories \(axis 1\) to sum "
                                         r"to 1, got sum 0.5 for action 3, dimension 1"):
        EmbeddedLog.from_logged(base, action_embed=data.action_embed, p_e_a=bad)
    pb = data.pi_b.copy()
    pb[:, [0, 1]] = pb[:, [1, 0]]
    with pytest.raises(ValueError, match=r"pi_b: expected pi_b at the logged action to equal pscore"):
        EmbeddedLog.from_logged(base, pi_b=pb)
    with pytest.raises(ValueError, match=r"action_embed: 'mips' needs item embeddings"):
        estimate("mips", base, pe)
    with pytest.raises(ValueError, match=r"p_e_a: with per-row embeddings and no pi_b, 'mips' needs"):
        estimate("mips", EmbeddedLog.from_logged(base, action_embed=data.action_embed), pe)
    with pytest.raises(ValueError, match=r"n_folds: expected an integer >= 1 for 'mips', got 0"):
        estimate("mips", data, pe, n_folds=0)
