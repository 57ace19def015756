"""Exploration policies against independent float64 numpy references and closed forms.

Each test feeds a fixed sequence of (context, action, reward) to ``update`` (one ``lax.scan``)
and compares the resulting scores / probabilities with a numpy loop written from the papers'
formulas (or a closed form such as the joint ridge solution), in float64; a float32 leg checks
the default dtype with tolerances set by float32 round-off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from bandits.policies import REGISTRY, make
from bandits.policies.hybrid_linucb import hybrid_mean_and_variance
from bandits.policies.logistic_ts import laplace_step
from bandits.policies.priors import (
    fit_beta_item_prior,
    fit_linear_item_prior,
    lints_prior_posterior,
    predict_beta_item_prior,
    predict_linear_item_prior,
)
from bandits.policies.squarecb import igw_probs

MINE = [
    "discounted_linucb", "discounted_lints", "sliding_window_linucb", "discounted_ts", "hybrid_linucb",
    "logistic_ts", "slate_linucb", "slate_lints", "slate_epsilon_greedy", "squarecb", "lints_feature_prior",
    "bernoulli_ts_feature_prior", "batched", "delayed",
]


def _data(T, K, d, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, d)) / np.sqrt(d)
    A = rng.integers(0, K, size=T)
    R = (rng.random(T) < 0.4).astype(float) if binary else rng.normal(size=T)
    return X, A, R


def _feed(policy, hp, X, A, R, dtype):
    """Apply ``update`` to the whole sequence in one scan; returns the final state."""
    h = jax.tree.map(lambda v: jnp.asarray(v, dtype), hp)
    s0 = policy.init(jax.random.key(0), h)

    def body(s, row):
        x, a, r = row
        return policy.update(s, x, a, r, h), None

    s, _ = jax.jit(lambda s0, xs, as_, rs: jax.lax.scan(body, s0, (xs, as_, rs)))(
        s0, jnp.asarray(X, dtype), jnp.asarray(A, jnp.int32), jnp.asarray(R, dtype)
    )
    return s, h


def test_all_registered_with_protocol_defaults():
    for name in MINE:
        assert name in REGISTRY, name
        p = make(name, num_actions=4, context_dim=2, dtype=jnp.float32)
        assert p.num_actions == 4 and p.context_dim == 2
        assert all(isinstance(v, float) for v in p.default_hparams), name


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("discounted_linucb", {"num_actions": 0, "context_dim": 2}, "num_actions"),
        ("sliding_window_linucb", {"num_actions": 3, "context_dim": 2, "window": 0}, "window"),
        ("hybrid_linucb", {"num_actions": 3, "context_dim": 2, "item_features": np.ones((4, 2))}, "item_features"),
        ("logistic_ts", {"num_actions": 3, "context_dim": 2, "covariance": "low-rank"}, "covariance"),
        ("slate_linucb", {"num_actions": 2, "context_dim": 2, "len_list": 3}, "len_list"),
        ("slate_lints", {"num_actions": 5, "context_dim": 2, "position_weights": [0.5, 1.0, 0.2]},
         "position_weights"),
        ("delayed", {"num_actions": 3, "context_dim": 2, "mode": "sometimes"}, "mode"),
        ("discounted_ts", {"num_actions": 3, "context_dim": 2, "dtype": jnp.int32}, "dtype"),
    ],
)
def test_bad_arguments_name_the_argument(name, kw, match):
    with pytest.raises(ValueError, match=match):
        make(name, **kw)


# ----------------------------------------------------------------------------- hybrid LinUCB


def _hybrid_numpy(X, A, R, phi, lam):
    """Li et al. (2010) Algorithm 2, verbatim, float64 with explicit inverses."""
    K, p = phi.shape
    d = X.shape[1]
    k = d * p
    A0, b0 = lam * np.eye(k), np.zeros(k)
    Aa = np.stack([lam * np.eye(d)] * K)
    Ba = np.zeros((K, d, k))
    ba = np.zeros((K, d))
    for x, a, r in zip(X, A, R, strict=True):
        z = np.outer(x, phi[a]).ravel()
        Ai = np.linalg.inv(Aa[a])
        A0 += Ba[a].T @ Ai @ Ba[a]
        b0 += Ba[a].T @ Ai @ ba[a]
        Aa[a] += np.outer(x, x)
        Ba[a] += np.outer(x, z)
        ba[a] += r * x
        Ai = np.linalg.inv(Aa[a])
        A0 += np.outer(z, z) - Ba[a].T @ Ai @ Ba[a]
        b0 += r * z - Ba[a].T @ Ai @ ba[a]
    return A0, b0, Aa, Ba, ba


def _hybrid_scores_numpy(state, x, phi):
    A0, b0, Aa, Ba, ba = state
    A0i = np.linalg.inv(A0)
    beta = A0i @ b0
    mean, s = [], []
    for a in range(phi.shape[0]):
        z = np.outer(x, phi[a]).ravel()
        Ai = np.linalg.inv(Aa[a])
        th = Ai @ (ba[a] - Ba[a] @ beta)
        s.append(z @ A0i @ z - 2 * z @ A0i @ Ba[a].T @ Ai @ x + x @ Ai @ x
                 + x @ Ai @ Ba[a] @ A0i @ Ba[a].T @ Ai @ x)
        mean.append(z @ beta + x @ th)
    return np.array(mean), np.array(s)


@pytest.mark.parametrize("x64", [True, False])
def test_hybrid_linucb_matches_algorithm2_and_joint_ridge(x64):
    K, d, p, lam = 4, 3, 2, 0.7
    X, A, R = _data(60, K, d, seed=1)
    phi = np.random.default_rng(2).normal(size=(K, p))
    x = np.array([0.3, -1.0, 0.5])
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pol = make("hybrid_linucb", num_actions=K, context_dim=d, dtype=dtype, item_features=phi)
        s, h = _feed(pol, pol.hparams(lam=lam), X, A, R, dtype)
        mean, var = (np.asarray(v, np.float64) for v in hybrid_mean_and_variance(s, jnp.asarray(x, dtype)))
        dec = jax.jit(pol.select)(jax.random.key(3), s, jnp.asarray(x, dtype), jnp.ones(K, bool), h)
    ref_mean, ref_s = _hybrid_scores_numpy(_hybrid_numpy(X, A, R, phi, lam), x, phi)
    # independent closed form: one joint ridge regression on [z_a, x (x) e_a] with penalty lam
    F = np.stack([np.concatenate([np.outer(xt, phi[a]).ravel(), np.kron(np.eye(K)[a], xt)])
                  for xt, a in zip(X, A, strict=True)])
    P = lam * np.eye(F.shape[1]) + F.T @ F
    w = np.linalg.solve(P, F.T @ R)
    Fx = np.stack([np.concatenate([np.outer(x, phi[a]).ravel(), np.kron(np.eye(K)[a], x)]) for a in range(K)])
    joint_mean, joint_s = Fx @ w, np.einsum("ki,ki->k", Fx, np.linalg.solve(P, Fx.T).T)
    np.testing.assert_allclose(ref_mean, joint_mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ref_s, joint_s, rtol=1e-9, atol=1e-10)
    tol = dict(rtol=1e-9, atol=1e-10) if x64 else dict(rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(mean, joint_mean, **tol)
    np.testing.assert_allclose(var, joint_s, **tol)
    ucb = joint_mean + 1.0 * np.sqrt(joint_s)
    assert int(dec.action) == int(np.argmax(ucb))
    np.testing.assert_array_equal(np.asarray(dec.probs), np.eye(K)[np.argmax(ucb)])


# ----------------------------------------------------------------------------- non-stationary


def _dlinucb_numpy(X, A, R, K, gamma, lam):
    d = X.shape[1]
    V = np.stack([lam * np.eye(d)] * K)
    Vt, b = V.copy(), np.zeros((K, d))
    for x, a, r in zip(X, A, R, strict=True):
        for k in range(K):
            hit = float(k == a)
            V[k] = gamma * V[k] + hit * np.outer(x, x) + (1 - gamma) * lam * np.eye(d)
            Vt[k] = gamma**2 * Vt[k] + hit * np.outer(x, x) + (1 - gamma**2) * lam * np.eye(d)
            b[k] = gamma * b[k] + hit * r * x
    return V, Vt, b


def test_discounted_linucb_matches_numpy_and_reduces_to_linucb():
    K, d = 3, 2
    X, A, R = _data(80, K, d, seed=4)
    x = np.array([0.8, -0.2])
    with jax.enable_x64(True):
        pol = make("discounted_linucb", num_actions=K, context_dim=d, dtype=jnp.float64)
        sel = jax.jit(pol.select)
        for gamma in (0.9, 1.0):
            hp = pol.hparams(gamma=gamma, lam=0.5, alpha=0.8)
            s, h = _feed(pol, hp, X, A, R, jnp.float64)
            V, Vt, b = _dlinucb_numpy(X, A, R, K, gamma, 0.5)
            sV, sVt, sb = s.matrices(gamma, 0.5)
            np.testing.assert_allclose(np.asarray(sV), V, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(np.asarray(sVt), Vt, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(np.asarray(sb), b, rtol=1e-10, atol=1e-12)
            score = [x @ np.linalg.solve(V[k], b[k]) + 0.8 * np.sqrt(
                x @ np.linalg.solve(V[k], Vt[k] @ np.linalg.solve(V[k], x))) for k in range(K)]
            if gamma == 1.0:  # plain disjoint LinUCB: ridge on each action's rows
                for k in range(K):
                    Xk, Rk = X[A == k], R[A == k]
                    G = 0.5 * np.eye(d) + Xk.T @ Xk
                    ref = x @ np.linalg.solve(G, Xk.T @ Rk) + 0.8 * np.sqrt(x @ np.linalg.solve(G, x))
                    assert abs(ref - score[k]) < 1e-10
            dec = sel(jax.random.key(0), s, jnp.asarray(x), jnp.ones(K, bool), h)
            assert int(dec.action) == int(np.argmax(score))


@pytest.mark.parametrize("x64", [True, False])
def test_sliding_window_is_ridge_on_last_window(x64):
    K, d, W = 3, 2, 25
    T = 3 * W + 7  # wraps several times and ends mid-window (incremental path and refactor path)
    X, A, R = _data(T, K, d, seed=5)
    x = np.array([0.1, 0.9])
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pol = make("sliding_window_linucb", num_actions=K, context_dim=d, dtype=dtype, window=W)
        hp = pol.hparams(lam=1.0, alpha=0.5)
        s, h = _feed(pol, hp, X, A, R, dtype)
        for t_end in (T,):
            Xw, Aw, Rw = X[t_end - W:t_end], A[t_end - W:t_end], R[t_end - W:t_end]
            cov, theta = (np.asarray(v, np.float64) for v in s.window_ridge(1.0))
            for k in range(K):
                G = np.eye(d) + Xw[Aw == k].T @ Xw[Aw == k]
                tol = 1e-10 if x64 else 2e-5
                np.testing.assert_allclose(cov[k], np.linalg.inv(G), atol=tol * 10)
                np.testing.assert_allclose(theta[k], np.linalg.solve(G, Xw[Aw == k].T @ Rw[Aw == k]),
                                           atol=tol * 10)
        dec = jax.jit(pol.select)(jax.random.key(0), s, jnp.asarray(x, dtype), jnp.ones(K, bool), h)
    ref = []
    for k in range(K):
        G = np.eye(d) + Xw[Aw == k].T @ Xw[Aw == k]
        ref.append(x @ np.linalg.solve(G, Xw[Aw == k].T @ Rw[Aw == k]) + 0.5 * np.sqrt(x @ np.linalg.solve(G, x)))
    assert int(dec.action) == int(np.argmax(ref))


def test_sliding_window_float32_drift_bounded():
    """20k rounds in float32 (800 wraps): windowed stats stay at float32 round-off of the truth."""
    K, d, W = 2, 3, 25
    X, A, R = _data(20_000, K, d, seed=6)
    pol = make("sliding_window_linucb", num_actions=K, context_dim=d, window=W)
    s, _ = _feed(pol, pol.default_hparams, X, A, R, jnp.float32)
    Xw, Aw = X[-W:], A[-W:]
    cov, _ = s.window_ridge(1.0)
    for k in range(K):
        np.testing.assert_allclose(np.asarray(cov[k]), np.linalg.inv(np.eye(d) + Xw[Aw == k].T @ Xw[Aw == k]),
                                   atol=1e-4)


def _beta_argmax_probs(a, b):
    """P(action k has the largest Beta draw), by quadrature (independent of Monte Carlo)."""
    out = []
    for k in range(len(a)):
        def f(u, k=k):
            val = stats.beta.pdf(u, a[k], b[k])
            for j in range(len(a)):
                if j != k:
                    val *= stats.beta.cdf(u, a[j], b[j])
            return val
        out.append(integrate.quad(f, 0, 1, limit=200)[0])
    return np.array(out)


def test_discounted_ts_counts_and_mc_probabilities():
    K, n_mc = 3, 20_000
    X, A, R = _data(50, K, 1, seed=7, binary=True)
    gamma = 0.95
    S, F = np.zeros(K), np.zeros(K)
    for a, r in zip(A, R, strict=True):
        S, F = gamma * S, gamma * F
        S[a] += r
        F[a] += 1 - r
    with jax.enable_x64(True):
        pol = make("discounted_ts", num_actions=K, context_dim=1, dtype=jnp.float64, n_mc=n_mc)
        s, h = _feed(pol, pol.hparams(gamma=gamma, alpha0=1.0, beta0=2.0), X, A, R, jnp.float64)
        np.testing.assert_allclose(np.asarray(s.S), S, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(s.F), F, rtol=1e-12)
        mask = jnp.array([True, True, True])
        dec = jax.jit(pol.select)(jax.random.key(1), s, jnp.ones(1), mask, h)
    exact = _beta_argmax_probs(1.0 + S, 2.0 + F)
    se = np.sqrt(exact * (1 - exact) / n_mc)
    assert np.all(np.abs(np.asarray(dec.probs) - exact) <= 4 * se + 1e-12), (np.asarray(dec.probs), exact)
    assert float(dec.probs[int(dec.action)]) > 0


def test_discounted_lints_probs_match_gaussian_quadrature():
    K, d, n_mc = 3, 2, 20_000
    X, A, R = _data(30, K, d, seed=8)
    x = np.array([1.0, 0.4])
    with jax.enable_x64(True):
        pol = make("discounted_lints", num_actions=K, context_dim=d, dtype=jnp.float64, n_mc=n_mc)
        hp = pol.hparams(gamma=0.97, nu=0.7)
        s, h = _feed(pol, hp, X, A, R, jnp.float64)
        dec = jax.jit(pol.select)(jax.random.key(2), s, jnp.asarray(x), jnp.array([True, False, True]), h)
    V, _, b = _dlinucb_numpy(X, A, R, K, 0.97, 1.0)
    mu = np.array([x @ np.linalg.solve(V[k], b[k]) for k in range(K)])
    sd = 0.7 * np.sqrt([x @ np.linalg.solve(V[k], x) for k in range(K)])
    p0 = integrate.quad(lambda u: stats.norm.pdf(u, mu[0], sd[0]) * stats.norm.cdf(u, mu[2], sd[2]), -np.inf, np.inf)[0]
    exact = np.array([p0, 0.0, 1 - p0])
    se = np.sqrt(exact * (1 - exact) / n_mc)
    assert float(dec.probs[1]) == 0.0
    assert np.all(np.abs(np.asarray(dec.probs) - exact) <= 4 * se + 1e-12)


# ----------------------------------------------------------------------------- logistic TS


def _laplace_numpy(X, A, R, K, lam, full):
    """Per observation: full d-dim Newton on the regularised log-loss, then add the curvature."""
    d = X.shape[1]
    m = np.zeros((K, d))
    P = np.stack([lam * np.eye(d)] * K) if full else np.full((K, d), lam)
    for x, a, y in zip(X, A, R, strict=True):
        Pa = P[a] if full else np.diag(P[a])
        w = m[a].copy()

        def obj(v, Pa=Pa, x=x, y=y, m0=m[a].copy()):
            return 0.5 * (v - m0) @ Pa @ (v - m0) + np.logaddexp(0, x @ v) - y * (x @ v)

        for _ in range(60):  # Newton with backtracking line search
            s = 1 / (1 + np.exp(-x @ w))
            grad = Pa @ (w - m[a]) + (s - y) * x
            H = Pa + s * (1 - s) * np.outer(x, x)
            step = np.linalg.solve(H, grad)
            eta = 1.0
            while obj(w - eta * step) > obj(w) and eta > 1e-8:
                eta /= 2
            w = w - eta * step
        s = 1 / (1 + np.exp(-x @ w))
        m[a] = w
        P[a] = Pa + s * (1 - s) * np.outer(x, x) if full else P[a] + s * (1 - s) * x * x
    return m, P


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_logistic_ts_laplace_matches_newton_reference(covariance):
    K, d = 3, 3
    X, A, R = _data(60, K, d, seed=9, binary=True)
    X = X * 3  # larger logits so the Newton steps matter
    m_ref, P_ref = _laplace_numpy(X, A, R, K, 0.5, covariance == "full")
    with jax.enable_x64(True):
        pol = make("logistic_ts", num_actions=K, context_dim=d, dtype=jnp.float64, covariance=covariance)
        s, _ = _feed(pol, pol.hparams(lam=0.5), X, A, R, jnp.float64)
    np.testing.assert_allclose(np.asarray(s.m), m_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(s.P), P_ref, rtol=1e-8, atol=1e-10)
    # float32 leg of the single-observation step
    m32, P32 = laplace_step(jnp.zeros(d), jnp.full((d,), 0.5) if covariance == "diag" else 0.5 * jnp.eye(d),
                            jnp.asarray(X[0], jnp.float32), jnp.float32(R[0]), covariance == "full", 60)
    m1, P1 = _laplace_numpy(X[:1], np.zeros(1, int), R[:1], 1, 0.5, covariance == "full")
    np.testing.assert_allclose(np.asarray(m32), m1[0], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- SquareCB


def test_squarecb_igw_probabilities_match_formula():
    K, d = 4, 2
    X, A, R = _data(40, K, d, seed=10)
    x = np.array([0.5, 0.5])
    with jax.enable_x64(True):
        pol = make("squarecb", num_actions=K, context_dim=d, dtype=jnp.float64)
        hp = pol.hparams(gamma=3.0, gamma_power=0.5, lam=1.0)
        s, h = _feed(pol, hp, X, A, R, jnp.float64)
        mask = jnp.array([True, True, False, True])
        dec = jax.jit(pol.select)(jax.random.key(0), s, jnp.asarray(x), mask, h)
        tied = np.asarray(igw_probs(jnp.array([1.0, 1.0, 0.5, 0.0]), jnp.array([True, True, True, True]), 2.0))
    yhat = np.array([x @ np.linalg.solve(np.eye(d) + X[A == k].T @ X[A == k], X[A == k].T @ R[A == k])
                     for k in range(K)])
    avail = np.array([0, 1, 3])
    gamma_t = 3.0 * np.sqrt(41)
    b = avail[np.argmax(yhat[avail])]
    ref = np.zeros(K)
    for a in avail:
        if a != b:
            ref[a] = 1 / (3 + gamma_t * (yhat[b] - yhat[a]))
    ref[b] = 1 - ref.sum()
    np.testing.assert_allclose(np.asarray(dec.probs), ref, rtol=1e-10)
    # ties share the leftover mass evenly; others get 1 / (mu + gamma gap)
    np.testing.assert_allclose(tied[2:], [1 / (4 + 1.0), 1 / (4 + 2.0)])
    np.testing.assert_allclose(tied[0], tied[1])
    np.testing.assert_allclose(tied.sum(), 1.0)


# ----------------------------------------------------------------------------- priors


def test_linear_item_prior_matches_weighted_ridge():
    rng = np.random.default_rng(11)
    n, p, d = 12, 3, 2
    phi = rng.normal(size=(n, p))
    Wtrue = rng.normal(size=(p, d))
    theta = phi @ Wtrue + 0.3 * rng.normal(size=(n, d))
    w = rng.integers(0, 2, size=n).astype(float)
    with jax.enable_x64(True):
        prior = fit_linear_item_prior(jnp.asarray(phi), jnp.asarray(theta), jnp.asarray(w), ridge=0.5)
        mean, var = predict_linear_item_prior(prior, jnp.asarray(phi[:2]))
    G = (phi * w[:, None]).T @ phi + 0.5 * np.eye(p)
    W = np.linalg.solve(G, (phi * w[:, None]).T @ theta)
    tau2 = np.sum(w * np.sum((theta - phi @ W) ** 2, 1)) / (w.sum() * d)
    np.testing.assert_allclose(np.asarray(prior.coef), W, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(mean), phi[:2] @ W, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(var), tau2 * (1 + np.einsum("mi,ij,mj->m", phi[:2], np.linalg.inv(G), phi[:2])),
                               rtol=1e-10)


def test_beta_item_prior_recovers_ctr_structure():
    """Titles whose CTR depends on a feature: the prior for an unseen title is centred on its CTR."""
    rng = np.random.default_rng(12)
    n = 200
    phi = np.column_stack([np.ones(n), rng.choice([0.0, 1.0], size=n)])
    ctr = np.where(phi[:, 1] == 1, 0.2, 0.05)
    imp = np.full(n, 400.0)
    clicks = rng.binomial(400, ctr).astype(float)
    with jax.enable_x64(True):
        prior = fit_beta_item_prior(jnp.asarray(phi), jnp.asarray(clicks), jnp.asarray(imp))
        a0, b0 = predict_beta_item_prior(prior, jnp.asarray([[1.0, 0.0], [1.0, 1.0]]))
    m = np.asarray(a0 / (a0 + b0))
    # prior mean within 3 SE of the truth (SE of a logit mean over 100 titles x 400 impressions)
    se = np.sqrt(np.array([0.05 * 0.95, 0.2 * 0.8]) / (100 * 400))
    assert np.all(np.abs(m - np.array([0.05, 0.2])) < 3 * se + 0.01 * np.array([0.05, 0.2])), m
    # no between-title spread beyond sampling noise -> a strong prior (>= 100 pseudo-impressions)
    assert np.all(np.asarray(a0 + b0) > 100)


def test_beta_item_prior_matches_numpy_formulas():
    rng = np.random.default_rng(15)
    n, p = 9, 2
    phi = np.column_stack([np.ones(n), rng.normal(size=n)])
    imp = rng.integers(0, 300, size=n).astype(float)
    imp[0] = 0.0  # a title without impressions is ignored
    clicks = rng.binomial(imp.astype(int), 0.1).astype(float)
    with jax.enable_x64(True):
        prior = fit_beta_item_prior(jnp.asarray(phi), jnp.asarray(clicks), jnp.asarray(imp), ridge=0.5)
        a0, b0 = predict_beta_item_prior(prior, jnp.asarray(phi[:3]), min_strength=2.0, max_strength=1e4)
    ph = (clicks + 0.5) / (imp + 1)
    y = np.log(ph / (1 - ph))
    w = imp * ph * (1 - ph)
    G = (phi * w[:, None]).T @ phi + 0.5 * np.eye(p)
    coef = np.linalg.solve(G, (phi * w[:, None]).T @ y)
    has = imp > 0
    tau2 = max(np.mean((y[has] - phi[has] @ coef) ** 2 - 1 / w[has]), 1e-3)
    mu = phi[:3] @ coef
    v = tau2 * (1 + np.einsum("mi,ij,mj->m", phi[:3], np.linalg.inv(G), phi[:3]))
    m = 1 / (1 + np.exp(-mu))
    strength = np.clip(m * (1 - m) / ((m * (1 - m)) ** 2 * v) - 1, 2.0, 1e4)
    np.testing.assert_allclose(np.asarray(prior.coef), coef, rtol=1e-10)
    np.testing.assert_allclose(float(prior.tau2), tau2, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(a0), m * strength, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(b0), (1 - m) * strength, rtol=1e-9)


def test_lints_feature_prior_posterior_matches_numpy():
    K, d, p = 5, 2, 2
    X, A, R = _data(120, K, d, seed=13)
    A = np.where(np.arange(120) < 100, A % 4, 4)  # item 4 only appears at the end (a new title)
    phi = np.random.default_rng(14).normal(size=(K, p))
    with jax.enable_x64(True):
        pol = make("lints_feature_prior", num_actions=K, context_dim=d, dtype=jnp.float64, item_features=phi)
        hp = pol.hparams(n_min=30.0, ridge=0.5, noise_var=0.8, lam=1.0)
        s, h = _feed(pol, hp, X, A, R, jnp.float64)
        mean, P = lints_prior_posterior(s, h)
    G = np.stack([X[A == k].T @ X[A == k] for k in range(K)])
    g = np.stack([X[A == k].T @ R[A == k] for k in range(K)])
    n = np.array([(A == k).sum() for k in range(K)])
    th = np.stack([np.linalg.solve(G[k] + np.eye(d), g[k]) for k in range(K)])
    w = (n >= 30).astype(float)
    Gp = (phi * w[:, None]).T @ phi + 0.5 * np.eye(p)
    W = np.linalg.solve(Gp, (phi * w[:, None]).T @ th)
    tau2 = max(np.sum(w * np.sum((th - phi @ W) ** 2, 1)) / (w.sum() * d), 1e-3)
    v0 = tau2 * (1 + np.einsum("ki,ij,kj->k", phi, np.linalg.inv(Gp), phi))
    for k in range(K):
        Pk = np.eye(d) / v0[k] + G[k] / 0.8
        np.testing.assert_allclose(np.asarray(P[k]), Pk, rtol=1e-10)
        np.testing.assert_allclose(np.asarray(mean[k]), np.linalg.solve(Pk, phi[k] @ W / v0[k] + g[k] / 0.8),
                                   rtol=1e-9, atol=1e-12)
