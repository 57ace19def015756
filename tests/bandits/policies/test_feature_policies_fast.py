"""Hybrid LinUCB and LinTS with feature priors (their rank-one state) against float64 references.

The references are written from the definitions, not from the policies' update rules: the hybrid
model's scores are the joint ridge regression on ``[x (x) phi_a, x (x) e_a]`` solved directly in
float64; ``lints_feature_prior`` with ``refit_every=1`` is compared with the per-round refit of
:func:`bandits.policies.priors.lints_prior_posterior` and a numpy posterior.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import make
from bandits.policies.hybrid_linucb import hybrid_mean_and_variance

F32_EPS = float(np.finfo(np.float32).eps)


def _data(T, K, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, d)) / np.sqrt(d)
    X[:, 0] = 1.0  # an intercept, as in the workload's contexts
    return X, rng.integers(0, K, size=T), rng.normal(size=T)


def _updater(policy, h, dtype):
    """``run(state, X, A, R)``: the policy's updates over a sequence, one jitted scan."""

    def body(s, row):
        x, a, r = row
        return policy.update(s, x, a, r, h), None

    scan = jax.jit(lambda s0, xs, as_, rs: jax.lax.scan(body, s0, (xs, as_, rs))[0])
    return lambda s, X, A, R: scan(s, jnp.asarray(X, dtype), jnp.asarray(A, jnp.int32), jnp.asarray(R, dtype))


def _joint_ridge(X, items, R, feats, lam, slot_item, x_eval):
    """Scores of the joint ridge regression on ``[beta, theta_item]``, float64.

    items: (T,) the title behind each observation; feats: (n_items, p); slot_item: (K,) the title
    now in each slot. Returns ``(mean (K,), s (K,))`` at context ``x_eval``.
    """
    n_items, p = feats.shape
    d = X.shape[1]

    def row(x, j):
        return np.concatenate([np.outer(x, feats[j]).ravel(), np.kron(np.eye(n_items)[j], x)])

    F = np.stack([row(x, j) for x, j in zip(X, items, strict=True)])
    P = lam * np.eye(d * p + n_items * d) + F.T @ F
    w = np.linalg.solve(P, F.T @ R)
    Fx = np.stack([row(x_eval, j) for j in slot_item])
    return Fx @ w, np.einsum("ki,ki->k", Fx, np.linalg.solve(P, Fx.T).T)


@pytest.mark.parametrize("x64", [True, False])
def test_hybrid_rank_one_state_matches_joint_ridge_through_a_new_title(x64):
    """400 rounds; at round 200 slot 2 gets a new title (new features): from then on the policy
    must equal the joint ridge in which the old title is a separate item no longer shown."""
    K, d, p, lam, T, T1 = 6, 5, 3, 0.8, 400, 200
    X, A, R = _data(T, K, d, seed=5)
    rng = np.random.default_rng(6)
    phi = rng.normal(size=(K, p))
    phi_new = rng.normal(size=p)
    feats = np.vstack([phi, phi_new])  # title K is the newcomer in slot 2
    items = np.where((A == 2) & (np.arange(T) >= T1), K, A)
    x_eval = X[-1] * 0.7 + 0.1
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pol = make("hybrid_linucb", num_actions=K, context_dim=d, dtype=dtype, item_features=phi)
        h = jax.tree.map(lambda v: jnp.asarray(v, dtype), pol.hparams(lam=lam))
        run, score = _updater(pol, h, dtype), jax.jit(hybrid_mean_and_variance)
        s = run(pol.init(jax.random.key(0), h), X[:T1], A[:T1], R[:T1])
        s = s._replace(item_features=s.item_features.at[2].set(jnp.asarray(phi_new, dtype)))
        got_swap = [np.asarray(v, np.float64) for v in score(s, jnp.asarray(x_eval, dtype))]
        s = run(s, X[T1:], A[T1:], R[T1:])
        got_end = [np.asarray(v, np.float64) for v in score(s, jnp.asarray(x_eval, dtype))]
    slots_after = [0, 1, K, 3, 4, 5]
    ref_swap = _joint_ridge(X[:T1], items[:T1], R[:T1], feats, lam, slots_after, x_eval)
    ref_end = _joint_ridge(X, items, R, feats, lam, slots_after, x_eval)
    # float32: T rank-one steps, each adding at most O(eps) relative error to quantities of order
    # <= 1 here (|mean| < 1, s < 0.1): linear worst-case accumulation T * eps ~ 5e-5
    tol = dict(rtol=1e-9, atol=1e-10) if x64 else dict(rtol=T * F32_EPS, atol=T * F32_EPS)
    for got, ref in ((got_swap, ref_swap), (got_end, ref_end)):
        np.testing.assert_allclose(got[0], ref[0], **tol)
        np.testing.assert_allclose(got[1], ref[1], **tol)


# ----------------------------------------------------------------------------- LinTS feature prior


def _np_item_prior(th, n, phi, hp):
    """The empirical-Bayes prior ``(m0 (K, d), v0 (K,))`` from the module's formulas, float64."""
    d = th.shape[1]
    w = (n >= hp.n_min).astype(float)
    Gp = (phi * w[:, None]).T @ phi + hp.ridge * np.eye(phi.shape[1])
    W = np.linalg.solve(Gp, (phi * w[:, None]).T @ th)
    tau2 = np.sum(w * np.sum((th - phi @ W) ** 2, 1)) / (w.sum() * d) if w.sum() > 0 else hp.prior_var
    tau2 = max(tau2, hp.min_var)
    return phi @ W, tau2 * (1 + np.einsum("ki,ij,kj->k", phi, np.linalg.inv(Gp), phi))


def _np_lints_prior(X, A, R, phi, hp, refit_every, x_eval):
    """Posterior mean and variance at ``x_eval`` when title ``a``'s prior is the one fitted at the
    last round it was refreshed: after round ``t`` (1-based) the block ``t mod n_blocks`` of
    ``size = ceil(K / refit_every)`` consecutive titles (the last block ending at title ``K - 1``),
    every title when ``size >= K``."""
    K, d = phi.shape[0], X.shape[1]
    G, g, n = np.zeros((K, d, d)), np.zeros((K, d)), np.zeros(K)
    m0, v0 = _np_item_prior(np.zeros((K, d)), n, phi, hp)
    size = min(-(-K // refit_every), K)
    n_blocks = -(-K // size)
    for t, (x, a, r) in enumerate(zip(X, A, R, strict=True), start=1):
        G[a] += np.outer(x, x)
        g[a] += r * x
        n[a] += 1
        th = np.stack([np.linalg.solve(G[k] + hp.lam * np.eye(d), g[k]) for k in range(K)])
        m_now, v_now = _np_item_prior(th, n, phi, hp)
        start = min((t % n_blocks) * size, K - size)
        idx = np.arange(start, start + size)
        m0[idx], v0[idx] = m_now[idx], v_now[idx]
    P = np.eye(d)[None] / v0[:, None, None] + G / hp.noise_var
    mean = np.stack([np.linalg.solve(P[k], m0[k] / v0[k] + g[k] / hp.noise_var) for k in range(K)])
    return mean @ x_eval, np.array([x_eval @ np.linalg.solve(P[k], x_eval) for k in range(K)])


@pytest.mark.parametrize("refit_every,x64", [(1, True), (3, True), (3, False)])
def test_lints_feature_prior_stored_posterior_matches_reference(refit_every, x64):
    from bandits.policies.priors import lints_prior_posterior, lints_prior_scores

    K, d, p, T = 5, 3, 2, 150
    X, A, R = _data(T, K, d, seed=21)
    A = np.where(np.arange(T) < 110, A % 4, 4)  # title 4 only appears at the end (a new title)
    phi = np.random.default_rng(22).normal(size=(K, p))
    x_eval = np.array([1.0, -0.4, 0.8])
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pol = make("lints_feature_prior", num_actions=K, context_dim=d, dtype=dtype, item_features=phi,
                   refit_every=refit_every)
        hp = pol.hparams(n_min=12.0, ridge=0.5, noise_var=0.8, lam=1.0, prior_var=2.0)
        h = jax.tree.map(lambda v: jnp.asarray(v, dtype), hp)
        s = _updater(pol, h, dtype)(pol.init(jax.random.key(0), h), X, A, R)
        mean, var = (np.asarray(v, np.float64) for v in lints_prior_scores(s, jnp.asarray(x_eval, dtype)))
        if refit_every == 1:  # the from-scratch per-round refit
            mu, P = (np.asarray(v) for v in jax.jit(lints_prior_posterior)(s, h))
            np.testing.assert_allclose(mean, mu @ x_eval, rtol=1e-9)
            np.testing.assert_allclose(var, [x_eval @ np.linalg.solve(Pk, x_eval) for Pk in P], rtol=1e-9)
    ref_mean, ref_var = _np_lints_prior(X, A, R, phi, hp, refit_every, x_eval)
    # float32: T rank-one ridge steps and one d x d inverse per refresh, quantities of order 1
    tol = dict(rtol=1e-9, atol=1e-12) if x64 else dict(rtol=T * F32_EPS, atol=T * F32_EPS)
    np.testing.assert_allclose(mean, ref_mean, **tol)
    np.testing.assert_allclose(var, ref_var, **tol)
    if refit_every > 1:  # the staleness is real: the per-round refit gives other numbers
        assert not np.allclose(ref_mean, _np_lints_prior(X, A, R, phi, hp, 1, x_eval)[0], rtol=1e-6)


def test_small_spd_inverse_and_sliced_packing_match_numpy():
    from bandits.policies._linalg import pack_sym_sliced, spd_inverse_small, tri_indices, unpack_sym_sliced

    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        for n in (1, 4, 21):
            B = rng.normal(size=(3, n, n))
            A = B @ np.swapaxes(B, 1, 2) + 0.1 * np.eye(n)
            inv = np.asarray(jax.jit(spd_inverse_small)(jnp.asarray(A)))
            np.testing.assert_allclose(inv, np.linalg.inv(A), rtol=1e-8, atol=1e-8 * np.abs(np.linalg.inv(A)).max())
            rows, cols, _, _ = tri_indices(n)
            S = 0.5 * (A + np.swapaxes(A, 1, 2)) + B  # any square matrix: only its upper triangle is packed
            np.testing.assert_array_equal(np.asarray(jax.jit(pack_sym_sliced)(jnp.asarray(S))), S[:, rows, cols])
            full = np.asarray(jax.jit(unpack_sym_sliced, static_argnums=1)(jnp.asarray(S[:, rows, cols]), n))
            upper = np.triu(S)
            np.testing.assert_array_equal(full, upper + np.swapaxes(np.triu(S, 1), 1, 2))


def test_blocked_spd_inverse_matches_numpy_in_float64_and_float32():
    """The recursive block inverse (closed-form leaves of at most 3 rows) against numpy's inverse,
    at every leaf size (1, 2, 3) and the splits of d = 21, and in float32 within ``n * cond * eps``."""
    from bandits.policies._spd_blocks import spd_inverse_blocked

    rng = np.random.default_rng(4)
    for n in (4, 5, 21):  # leaves of 3 + 1, 3 + 2, and splits 12 + 9 -> 6 + 6, 6 + 3
        B = rng.normal(size=(3, n, n))
        A = B @ np.swapaxes(B, 1, 2) / n + 0.2 * np.eye(n)
        ref = np.linalg.inv(A)
        with jax.enable_x64(True):
            got = np.asarray(jax.jit(spd_inverse_blocked)(jnp.asarray(A)))
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10 * np.abs(ref).max())
        got32 = np.asarray(jax.jit(spd_inverse_blocked)(jnp.asarray(A, jnp.float32)), np.float64)
        cond = np.linalg.cond(A).max()
        assert np.abs(got32 - ref).max() <= 4 * n * cond * F32_EPS * np.abs(ref).max()
