"""Generative member models (envs/logged/members.py), checked by held-out likelihood.

Reference: data drawn from a known latent class model whose exact log-likelihood is computed in
float64 numpy here; resampling's held-out likelihood (empirical frequencies of the training rows).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from envs.logged.members import _column_kinds, fit_members, member_likelihood_check


def _truth(seed=0):
    """A 3-class model: one 4-level feature one-hot encoded with its first level dropped (3
    columns), 8 Bernoulli features."""
    rng = np.random.default_rng(seed)
    pi = np.array([0.5, 0.3, 0.2])
    cat = rng.dirichlet(np.ones(4) * 2, size=3)  # (3 classes, 4 levels)
    p = rng.beta(0.7, 0.7, size=(3, 8))

    def sample(n, s):
        r = np.random.default_rng(s)
        z = r.choice(3, n, p=pi)
        lvl = np.array([r.choice(4, p=cat[c]) for c in z])
        X = np.zeros((n, 11))
        X[lvl > 0, lvl[lvl > 0] - 1] = 1.0
        X[:, 3:] = r.random((n, 8)) < p[z]
        return X

    def loglik(X):
        lvl = np.where(X[:, :3].sum(1) > 0, X[:, :3].argmax(1) + 1, 0)
        ll = np.log(pi)[None, :] + np.log(cat[:, lvl]).T
        xb = X[:, 3:]
        ll += xb @ np.log(p).T + (1 - xb) @ np.log1p(-p).T
        return logsumexp(ll, axis=1)

    return sample, loglik


def test_recovers_a_known_latent_class_model():
    sample, loglik = _truth()
    X, H = sample(4000, 1), sample(2000, 2)
    m = fit_members(X, n_components=(1, 3, 6), n_iter=200, seed=0)
    assert m.groups == [[0, 1, 2]] and m.bern == list(range(3, 11)) and m.gauss == []
    gap = loglik(H).mean() - m.log_likelihood(H).mean()
    assert 0 <= gap < 0.05  # nats per row: the fitted model is almost as good as the truth
    assert m.n_components >= 2
    # generated rows are valid: at most one 1 in the one-hot block
    S = m.sample(3000, seed=3)
    assert np.all(S[:, :3].sum(1) <= 1) and set(np.unique(S)) <= {0.0, 1.0}
    # and follow the fitted marginals within sampling error
    se = np.sqrt(0.25 / 3000)
    assert np.all(np.abs(S.mean(0) - X.mean(0)) < 4 * se + 0.02)


def test_beats_resampling_on_held_out_members():
    sample, loglik = _truth(5)
    X = sample(3000, 7)
    r = member_likelihood_check(X, n_components=(1, 3, 6), n_iter=200, seed=0)
    # 2^8 x 4 = 1,024 possible members: resampling 2,250 rows cannot produce some held-out ones
    # (probability 0, log-likelihood -inf); the model gives every held-out member its due
    assert r["unseen_share"] > 0.02 and r["resample_loglik"] == -np.inf
    rng = np.random.default_rng(0)
    held = X[rng.permutation(3000)[:750]]  # the check's held-out rows (same seed and split)
    assert abs(r["model_loglik"] - loglik(held).mean()) < 0.1
    assert r["comparable"] and r["n_heldout"] == 750


def test_column_kinds_and_continuous_columns():
    rng = np.random.default_rng(0)
    X = np.c_[np.eye(3)[rng.integers(0, 3, 200)], rng.normal(size=200), rng.integers(0, 2, 200)]
    groups, bern, gauss = _column_kinds(X)
    assert groups == [[0, 1, 2]] and gauss == [3] and bern == [4]
    m = fit_members(X, n_components=(1, 2), n_iter=50)
    assert not m.is_discrete and np.all(np.isfinite(m.log_likelihood(X)))
    r = member_likelihood_check(X, n_components=(1, 2), n_iter=50)
    assert r["comparable"] is False  # a density is not compared with resampling's probabilities


def test_simulator_option_and_bad_arguments():
    from bandits.datasets import load_obd
    from envs.logged import fit_member_simulator

    data = load_obd("random", "all")
    sim = fit_member_simulator(data, len_list=1, penalties=(300.0, 3000.0), members="latent_class", n_members=3000,
                               add_intercept=True)
    assert sim.contexts.shape == (3000, 20) and sim.member_model is not None
    assert sim.env.default_params.contexts.shape == (3000, 21)
    # every generated member is a valid one-hot row of the four OBD user features
    for g in sim.member_model.groups:
        assert np.all(sim.contexts[:, g].sum(1) <= 1)
    with pytest.raises(ValueError, match="members"):
        fit_member_simulator(data, members="gan")
    with pytest.raises(ValueError, match="n_members"):
        fit_member_simulator(data, members="latent_class", n_members=0)
    with pytest.raises(ValueError, match="contexts"):
        fit_members(np.zeros((5, 2)))
