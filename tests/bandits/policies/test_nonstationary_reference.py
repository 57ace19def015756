"""D-LinUCB, discounted LinTS and SW-LinUCB against float64 numpy loops of their defining recursions.

The policies keep lazily decayed eigenbases (discounted) or inverse banks (sliding window) rather
than the matrices of the recursions; these tests run the policies' own decisions for a few hundred
rounds and recompute every round's scores from the recursions in the module docstring
(:mod:`bandits.policies.nonstationary`) in float64.

Float32 tolerance. One score is a few O(d^2) reductions of state that has seen at most ``T``
rank-one changes; with round-off ``eps`` per operation accumulating as a random walk the error is
about ``d eps sqrt(T)`` relative to the scale ``1 + |score|``. The bound used is ten times that,
``TOL32 = 10 d eps sqrt(T)`` (about 6e-4 at d = 6, T = 300), and the played action must be the
reference argmax whenever the reference's best two scores differ by more than ``2 TOL32``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import make
from bandits.policies._linalg import rank_one_eig, ridge_scores
from bandits.policies.nonstationary import (
    discounted_linucb_scores,
    discounted_mean_var,
    sliding_window_scores,
)

K, D, T = 4, 6, 300


def _tol32(d, t):
    return 10 * d * np.finfo(np.float32).eps * np.sqrt(t)


def _run(policy, hp, score_fn, dtype, seed):
    """The policy's own decisions over T rounds (one scan). Returns (scores (T, K), actions (T,), X, R)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, D)) / np.sqrt(D) + np.eye(D)[0]  # a shared intercept-like feature
    R = rng.normal(size=(T, K)) + np.linspace(-0.5, 0.5, K)
    h = jax.tree.map(lambda v: jnp.asarray(v, dtype), hp)
    mask = jnp.ones(K, bool)

    def body(s, row):
        key, x, r = row
        dec = policy.select(key, s, x, mask, h)
        return policy.update(s, x, dec.action, r[dec.action], h), (score_fn(s, x, h), dec.action)

    keys = jax.random.split(jax.random.key(seed), T)
    _, (scores, acts) = jax.jit(lambda s0, xs, rs: jax.lax.scan(body, s0, (keys, xs, rs)))(
        policy.init(jax.random.key(0), h), jnp.asarray(X, dtype), jnp.asarray(R, dtype))
    return np.asarray(scores, np.float64), np.asarray(acts), X, R


def _dlin_reference(X, R, acts, gamma, lam, alpha):
    """The D-LinUCB recursion in float64: every arm discounted every round, the chosen one adds x.

    Returns (ucb (T, K), mean (T, K), var (T, K)) computed before each round's update."""
    d = X.shape[1]
    eye = np.eye(d)
    V = np.stack([lam * eye] * K)
    Vt, b = V.copy(), np.zeros((K, d))
    ucb, mean, var = (np.zeros((T, K)) for _ in range(3))
    for t in range(T):
        x = X[t]
        for k in range(K):
            w = np.linalg.solve(V[k], x)
            mean[t, k] = w @ b[k]
            var[t, k] = w @ x
            ucb[t, k] = mean[t, k] + alpha * np.sqrt(w @ Vt[k] @ w)
        a = acts[t]
        for k in range(K):
            hit = float(k == a)
            V[k] = gamma * V[k] + hit * np.outer(x, x) + (1 - gamma) * lam * eye
            Vt[k] = gamma**2 * Vt[k] + hit * np.outer(x, x) + (1 - gamma**2) * lam * eye
            b[k] = gamma * b[k] + hit * R[t, a] * x
    return ucb, mean, var


def _check_decisions(scores, acts, ref, tol):
    scale = 1 + np.abs(ref)
    err = np.max(np.abs(scores - ref) / scale)
    assert err <= tol, (err, tol)
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * tol * scale.max(axis=1)
    assert clear.mean() > 0.8  # the comparison below covers most rounds
    np.testing.assert_array_equal(acts[clear], np.argmax(ref, axis=1)[clear])


@pytest.mark.parametrize("gamma", [0.9, 0.995])
def test_discounted_linucb_float32_tracks_the_float64_recursion(gamma):
    pol = make("discounted_linucb", num_actions=K, context_dim=D)
    hp = pol.hparams(alpha=0.7, gamma=gamma, lam=0.5)
    scores, acts, X, R = _run(pol, hp, discounted_linucb_scores, jnp.float32, seed=1)
    ref, _, _ = _dlin_reference(X, R, acts, gamma, 0.5, 0.7)
    _check_decisions(scores, acts, ref, _tol32(D, T))


def test_discounted_lints_moments_track_the_float64_recursion():
    pol = make("discounted_lints", num_actions=K, context_dim=D, n_mc=4)
    hp = pol.hparams(nu=0.3, gamma=0.95, lam=1.0)

    def moments(s, x, h):
        return jnp.stack(discounted_mean_var(s, x, h), axis=1)  # (K, 2)

    both, acts, X, R = _run(pol, hp, moments, jnp.float32, seed=2)
    _, mean, var = _dlin_reference(X, R, acts, 0.95, 1.0, 0.0)
    tol = _tol32(D, T)
    assert np.max(np.abs(both[..., 0] - mean) / (1 + np.abs(mean))) <= tol
    assert np.max(np.abs(both[..., 1] - var) / (1 + var)) <= tol


def test_discounted_linucb_float64_is_the_recursion_and_gamma_one_is_linucb():
    with jax.enable_x64(True):
        pol = make("discounted_linucb", num_actions=K, context_dim=D, dtype=jnp.float64)
        scores, acts, X, R = _run(pol, pol.hparams(alpha=0.7, gamma=0.97, lam=0.5), discounted_linucb_scores,
                                  jnp.float64, seed=3)
        ref, _, _ = _dlin_reference(X, R, acts, 0.97, 0.5, 0.7)
        np.testing.assert_allclose(scores, ref, rtol=1e-8, atol=1e-8)
        # gamma = 1: disjoint LinUCB (its own Sherman-Morrison state) along the same decisions
        hp = pol.hparams(alpha=0.7, gamma=1.0, lam=0.5)
        scores, acts, X, R = _run(pol, hp, discounted_linucb_scores, jnp.float64, seed=4)
        lin = make("linucb", num_actions=K, context_dim=D, dtype=jnp.float64)
        h = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), lin.hparams(alpha=0.7, lam=0.5))

        def body(s, row):
            x, a, r = row
            mean, quad = ridge_scores(s, x)
            return lin.update(s, x, a, r, h), mean + 0.7 * jnp.sqrt(quad)

        _, lin_scores = jax.lax.scan(body, lin.init(jax.random.key(0), h),
                                     (jnp.asarray(X), jnp.asarray(acts), jnp.asarray(R[np.arange(T), acts])))
        np.testing.assert_allclose(scores, np.asarray(lin_scores), rtol=1e-8, atol=1e-8)


def _sw_reference(X, R, acts, W, lam, alpha):
    d = X.shape[1]
    out = np.zeros((T, K))
    for t in range(T):
        lo = max(0, t - W)
        Xw, Aw, Rw = X[lo:t], acts[lo:t], R[lo:t][np.arange(t - lo), acts[lo:t]]
        for k in range(K):
            G = lam * np.eye(d) + Xw[Aw == k].T @ Xw[Aw == k]
            w = np.linalg.solve(G, X[t])
            out[t, k] = w @ (Xw[Aw == k].T @ Rw[Aw == k]) + alpha * np.sqrt(w @ X[t])
    return out


@pytest.mark.parametrize("x64", [False, True])
def test_sliding_window_scores_track_the_windowed_ridge(x64):
    W = 40  # T / W = 7.5 cycles: both banks take over several times, ending mid-cycle
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pol = make("sliding_window_linucb", num_actions=K, context_dim=D, dtype=dtype, window=W)
        scores, acts, X, R = _run(pol, pol.hparams(alpha=0.6, lam=1.0), sliding_window_scores, dtype, seed=5)
    ref = _sw_reference(X, R, acts, W, 1.0, 0.6)
    if x64:
        np.testing.assert_allclose(scores, ref, rtol=1e-9, atol=1e-9)
    else:
        _check_decisions(scores, acts, ref, _tol32(D, 2 * W))  # no bank row sees more than 2 W changes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_one_eig_matches_numpy_with_deflation(dtype):
    """Repeated, zero and well-separated poles, tiny and zero z components, against numpy's eigh."""
    rng = np.random.default_rng(7)
    n = 9
    cases = [(np.zeros(n), rng.normal(size=n)),  # all poles equal (the prior M = 0)
             (np.sort(np.r_[np.zeros(4), rng.exponential(size=n - 4)]), rng.normal(size=n)),
             (np.sort(rng.exponential(size=n)) * 50, rng.normal(size=n) * np.r_[1, 1e-9, 1, 0, 1, 1, 1e-6, 1, 1]),
             (np.repeat(np.sort(rng.exponential(size=3)), 3), rng.normal(size=n))]
    eps = np.finfo(dtype).eps
    with jax.enable_x64(dtype == np.float64):
        f = jax.jit(rank_one_eig)
        for dv, z in cases:
            M = np.diag(dv) + np.outer(z, z)
            evals, Rm = (np.asarray(v, np.float64) for v in f(jnp.asarray(dv, dtype), jnp.asarray(z, dtype)))
            scale = np.abs(M).max()
            tol = 100 * n * eps  # backward error of a handful of O(n) reductions
            assert np.all(np.diff(evals) >= 0)
            np.testing.assert_allclose(evals, np.linalg.eigvalsh(M), atol=tol * scale)
            np.testing.assert_allclose(Rm.T @ Rm, np.eye(n), atol=tol)
            np.testing.assert_allclose(Rm @ np.diag(evals) @ Rm.T, M, atol=tol * scale)


def test_discounted_linucb_float32_drift_bounded():
    """10,000 float32 rounds (5,000 eigen updates per arm): the bases stay orthogonal to float32
    round-off and the decayed matrices at round-off of the float64 recursion."""
    k, d, t = 2, 6, 10_000
    rng = np.random.default_rng(9)
    X, A, R = rng.normal(size=(t, d)) / np.sqrt(d), rng.integers(0, k, t), rng.normal(size=t)
    pol = make("discounted_linucb", num_actions=k, context_dim=d)
    h = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), pol.hparams(gamma=0.999, lam=1.0))

    def body(s, row):
        return pol.update(s, *row, h), None

    s, _ = jax.jit(lambda s0, xs, as_, rs: jax.lax.scan(body, s0, (xs, as_, rs)))(
        pol.init(jax.random.key(0), h), jnp.asarray(X, jnp.float32), jnp.asarray(A, jnp.int32),
        jnp.asarray(R, jnp.float32))
    V, Vt, b = np.stack([np.eye(d)] * k), np.stack([np.eye(d)] * k), np.zeros((k, d))
    for x, a, r in zip(X, A, R, strict=True):
        V, Vt, b = 0.999 * V + 0.001 * np.eye(d), 0.999**2 * Vt + (1 - 0.999**2) * np.eye(d), 0.999 * b
        V[a] += np.outer(x, x)
        Vt[a] += np.outer(x, x)
        b[a] += r * x
    Q = np.asarray(s.Q, np.float64)
    eps = np.finfo(np.float32).eps
    assert np.abs(np.einsum("kji,kjl->kil", Q, Q) - np.eye(d)).max() < 10 * d * eps
    for got, want in zip(s.matrices(0.999, 1.0), (V, Vt, b), strict=True):
        # a few hundred eps relative: round-off of the last ~1/(1 - gamma) updates, not of all 5,000
        assert np.abs(np.asarray(got, np.float64) - want).max() <= 1000 * eps * np.abs(want).max()
