"""Neural policies (bandits.policies.neural): the Bayesian head against a float64 numpy reference,
the refresh schedule, regret against LinTS on a non-linear and on a linear world, determinism alone
vs in a batch, and the constructors' argument checks.

The registry contract (jit, vmap over seeds and hyperparameters, no retrace, probs, dtypes, float64
leg) runs over these policies in test_policies_contract.py. Sizes here are small so every compile
and run takes seconds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import make_circles

from bandits.engine.rollout import make_rollout
from bandits.policies import make
from bandits.policies._mlp import MLP
from bandits.policies.neural import NeuralLinearState
from envs.supervised import supervised_env_from_arrays
from envs.synthetic import linear_gaussian

K, D = 3, 4
SMALL = dict(hidden=(8, 4), buffer_size=16, refresh_every=4)
SIZES = (D, 8, 4, K)


# --------------------------------------------------------------------------- helpers


def _run(policy, T: int, dtype, seed: int = 0):
    """Play ``T`` rounds on random contexts / rewards; returns (final state, nets after each update, actions)."""
    rng = np.random.default_rng(seed)
    ctx = jnp.asarray(rng.normal(size=(T, D)), dtype)
    rew = jnp.asarray(rng.normal(size=(T, K)) + np.arange(K), dtype)
    mask = jnp.ones((K,), bool)
    hp = jax.tree.map(lambda v: jnp.asarray(v, dtype), policy.default_hparams)

    def go(key):
        state = policy.init(jax.random.fold_in(key, 1), hp)

        def body(st, inp):
            t, x, r = inp
            dec = policy.select(jax.random.fold_in(key, t), st, x, mask, hp)
            st = policy.update(st, x, dec.action, r[dec.action], hp)
            return st, (st.learner.net, dec.action)

        return state, *jax.lax.scan(body, state, (jnp.arange(T), ctx, rew))

    init_state, final, (nets, actions) = jax.jit(go)(jax.random.key(seed))
    return init_state, final, nets, np.asarray(actions), np.asarray(ctx, np.float64), np.asarray(rew, np.float64)


def _refresh_points(T: int, N: int, growth: float) -> list[int]:
    """The documented schedule ``P_0 = 0, P_{k+1} = P_k + max(N, floor((g - 1) P_k))``, up to ``T``."""
    pts = [0]
    while True:
        nxt = pts[-1] + max(N, int(np.floor((growth - 1) * pts[-1])))
        if nxt > T:
            return pts
        pts.append(nxt)


def _np_features(rep, X, sizes, with_context=True):
    """float64 ``[h(x), x, 1]`` from the flat parameters (layout: per layer W row-major, then b)."""
    flat, at, h = np.asarray(rep, np.float64), 0, X
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):  # the hidden layers
        W = flat[at:at + n_in * n_out].reshape(n_in, n_out)
        b = flat[at + n_in * n_out:at + n_in * n_out + n_out]
        at += n_in * n_out + n_out
        h = np.maximum(h @ W + b, 0.0)
    parts = [h, X] if with_context else [h]
    return np.column_stack([*parts, np.ones(len(X))])


def _np_head(phi, actions, rewards, lam):
    """float64 ridge posterior per arm: ``(P (K, q, q), theta (K, q), counts (K,))``."""
    q = phi.shape[1]
    P, theta, counts = np.zeros((K, q, q)), np.zeros((K, q)), np.zeros(K)
    for a in range(K):
        sel = actions == a
        A = lam * np.eye(q) + phi[sel].T @ phi[sel]
        P[a] = np.linalg.inv(A)
        theta[a] = P[a] @ (phi[sel].T @ rewards[sel])
        counts[a] = sel.sum()
    return P, theta, counts


def _net_at(init_net, nets, t: int):
    """The trained network after ``t`` updates (``t = 0``: the initial one)."""
    return init_net if t == 0 else nets[t - 1]


def _check_heads(T, growth, dtype, rtol, atol):
    pol = make("neural_linear_ts", num_actions=K, context_dim=D, dtype=dtype, refresh_growth=growth, **SMALL)
    init, st, nets, actions, X, R = _run(pol, T, dtype)
    assert isinstance(st, NeuralLinearState)
    H, N = SMALL["buffer_size"], SMALL["refresh_every"]
    C = H // N - 1
    pts = _refresh_points(T, N, growth)
    P, P_prev = pts[-1], (pts[-2] if len(pts) > 1 else 0)
    assert len(pts) >= 4, pts  # several refreshes happened
    r = R[np.arange(T), actions]
    lam = pol.default_hparams.lam

    # the head in use: rows max(0, P' - H + N) .. T-1 under the network trained up to round P'
    np.testing.assert_array_equal(st.rep, _net_at(init.learner.net, nets, P_prev))
    rows = np.arange(max(0, P_prev - H + N), T)
    ref = _np_head(_np_features(st.rep, X[rows], SIZES), actions[rows], r[rows], lam)
    np.testing.assert_allclose(np.asarray(st.head.cov, np.float64), ref[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(np.asarray(st.head.theta, np.float64), ref[1], rtol=rtol, atol=atol)
    np.testing.assert_array_equal(np.asarray(st.head.counts), ref[2])

    # the head being built: rows P - H + N .. (C per round for min(T - P, N) rounds) and P .. T-1
    np.testing.assert_array_equal(st.next_rep, _net_at(init.learner.net, nets, P))
    old = np.arange(P - H + N, P - H + N + min(T - P, N) * C)
    rows = np.concatenate([old[(old >= 0) & (old < P)], np.arange(P, T)]).astype(int)
    ref = _np_head(_np_features(st.next_rep, X[rows], SIZES), actions[rows], r[rows], lam)
    np.testing.assert_allclose(np.asarray(st.next_head.cov, np.float64), ref[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(np.asarray(st.next_head.theta, np.float64), ref[1], rtol=rtol, atol=atol)
    np.testing.assert_array_equal(np.asarray(st.next_head.counts), ref[2])


# --------------------------------------------------------------------------- the Bayesian head


def test_head_is_the_float64_ridge_posterior_of_the_documented_rows():
    # float32 against float64: the head is rebuilt at every refresh, so at most ~N + H rank-one
    # updates of a 13-dimensional posterior separate it from its prior (errors ~1e-7 observed; one
    # row off gives ~0.1). Growing refresh periods (N, N, 2N, 4N, ...).
    _check_heads(70, 2.0, jnp.float32, rtol=1e-4, atol=1e-5)


def test_head_float64_leg_with_a_fixed_refresh_period():
    with jax.enable_x64(True):
        _check_heads(50, 1.0, jnp.float64, rtol=1e-10, atol=1e-12)


def test_block_update_equals_sequential_rank_one_updates_in_float64():
    # one call of the block (Woodbury) update with repeated heads, a zero-weight row and stale heads
    # against the rows applied one at a time by Sherman-Morrison in float64 numpy, from the values
    # the stale marks stand for (the prior I / lam of the head's slot)
    from bandits.policies._linalg import RidgeState, tri_indices
    from bandits.policies.neural import _heads_add

    K2, q, lam = 6, 5, (2.0, 0.5)
    rows, cols, _, _ = tri_indices(q)
    rng = np.random.default_rng(7)
    G = rng.normal(size=(K2, q, q))
    P0 = np.linalg.inv(G @ G.transpose(0, 2, 1) + np.eye(q))  # some current SPD covariances
    th0, c0 = rng.normal(size=(K2, q)), rng.integers(1, 9, K2).astype(float)
    live0 = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])  # heads 1, 4, 5 stale: read as the prior
    prior = np.array([1 / lam[0], 1 / lam[1]])
    idx = np.array([0, 4, 4, 1, 3, 4, 5, 3])  # slot = idx // 3
    w = np.array([1, 1, 0, 1, 1, 1, 0, 1.0])  # head 5 only by a zero-weight row: stays stale
    f, r = rng.normal(size=(idx.size, q)), rng.normal(size=idx.size)

    P, th, c = P0.copy(), th0.copy(), c0.copy()
    for h in np.flatnonzero(live0 == 0):
        P[h], th[h], c[h] = np.eye(q) * prior[h // 3], 0.0, 0.0
    for j in np.flatnonzero(w):
        h, x = idx[j], f[j]
        u = P[h] @ x
        th[h] = th[h] + u * (r[j] - x @ th[h]) / (1 + x @ u)
        P[h] = P[h] - np.outer(u, u) / (1 + x @ u)
        c[h] += 1
    with jax.enable_x64(True):
        heads = RidgeState(cov_tri=jnp.asarray(P0[:, rows, cols]), theta=jnp.asarray(th0), counts=jnp.asarray(c0))
        got, live = jax.jit(_heads_add)(heads, jnp.asarray(live0), jnp.asarray(prior), jnp.asarray(idx, jnp.int32),
                                        jnp.asarray(f), jnp.asarray(r), jnp.asarray(w))
    touched = np.isin(np.arange(K2), idx[w > 0])
    np.testing.assert_array_equal(np.asarray(live), np.maximum(live0, touched))
    keep = live0 > 0  # untouched live heads unchanged; touched ones equal the sequential reference
    np.testing.assert_allclose(np.asarray(got.cov_tri)[keep | touched], P[keep | touched][:, rows, cols],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(got.theta)[keep | touched], th[keep | touched], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.asarray(got.counts)[keep | touched], c[keep | touched])
    assert np.asarray(got.counts)[5] == 0.0 and np.allclose(np.asarray(got.cov_tri)[5], P[5][rows, cols])


# --------------------------------------------------------------------------- the network's derivatives


def _autodiff_loss(mlp, net, x, a, r):
    """The training loss as first written: every arm's output, then the played one (reference)."""
    return 0.5 * jnp.mean((jnp.take_along_axis(mlp.apply(net, x), a[:, None], axis=1)[:, 0] - r) ** 2)


@pytest.mark.parametrize("sizes", [(D, 8, K), (D, 6, 5, 4, K)])
def test_closed_form_derivatives_equal_autodiff_in_float64(sizes):
    with jax.enable_x64(True):
        mlp, rng = MLP(sizes), np.random.default_rng(3)
        net = mlp.init(jax.random.key(2), jnp.float64)
        net = net + jnp.asarray(rng.normal(size=net.shape)) * 0.1  # non-zero biases too
        x = jnp.asarray(rng.normal(size=(9, D)))
        a = jnp.asarray(rng.integers(0, K, 9), jnp.int32)
        r = jnp.asarray(rng.normal(size=9))
        w = jnp.asarray(rng.uniform(0.1, 2.0, size=net.shape))

        def both(net, x, a, r, w):
            one = (jax.vmap(lambda x, a: mlp.output_grad(net, x, a))(x, a),
                   jax.vmap(lambda x, a: jax.grad(lambda p: mlp.apply(p, x)[a])(net))(x, a))
            jac = jax.vmap(lambda x: jax.jacrev(mlp.apply)(net, x))(x)  # (9, K, P)
            f, w2 = jax.vmap(lambda x: mlp.apply_and_widths(net, w, x))(x)
            return ((mlp.loss_grad(net, x, a, r), jax.grad(_autodiff_loss, 1)(mlp, net, x, a, r)), one,
                    (f, mlp.apply(net, x)), (w2, (jac ** 2) @ w))

        for got, ref in jax.jit(both)(net, x, a, r, w):
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


def test_neural_ucb_round_equals_the_autodiff_reference():
    # one select and one update of NeuralUCB (two Adam steps per round) against the same round written
    # with jax.jacrev / jax.grad and optax, in float64, from a state several rounds in
    B, S, H = 5, 2, 16
    with jax.enable_x64(True):
        pol = make("neural_ucb", num_actions=K, context_dim=D, dtype=jnp.float64, hidden=(8, 4), buffer_size=H,
                   batch_size=B, train_steps=S)
        hp = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), pol.default_hparams)
        rng = np.random.default_rng(4)
        update = jax.jit(pol.update)
        st = pol.init(jax.random.key(1), hp)
        for _ in range(9):
            st = update(st, jnp.asarray(rng.normal(size=D)), jnp.asarray(rng.integers(K), jnp.int32),
                        jnp.asarray(rng.normal()), hp)
        x, r, a = jnp.asarray(rng.normal(size=D)), jnp.asarray(0.8), jnp.asarray(2, jnp.int32)
        mask = jnp.asarray([True, False, True])
        dec = jax.jit(pol.select)(jax.random.key(0), st, x, mask, hp)
        new = update(st, x, a, r, hp)

        mlp, t = MLP((D, 8, 4, K)), int(st.learner.t)
        u = jax.random.uniform(jax.random.fold_in(st.learner.key, t), (S, B), jnp.float64)
        idx = np.minimum(np.floor(np.asarray(u) * min(t + 1, H)).astype(int), min(t + 1, H) - 1)
        buf, opt = new.learner.replay, optax.adam(hp.lr)

        @jax.jit
        def reference(net, z, opt_state):
            score = mlp.apply(net, x) + hp.alpha * jnp.sqrt((jax.jacrev(mlp.apply)(net, x) ** 2) @ (1 / z))
            z_new = z + jax.grad(lambda p: mlp.apply(p, x)[a])(net) ** 2
            for rows in idx:  # the documented minibatches of the buffer that holds this round's row
                g = jax.grad(_autodiff_loss, 1)(mlp, net, buf.x[rows], buf.action[rows], buf.reward[rows])
                upd, opt_state = opt.update(g, opt_state, net)
                net = optax.apply_updates(net, upd)
            return score, z_new, net

        score, z_new, net = reference(st.learner.net, st.z, st.learner.opt)
        best = np.asarray(mask) & np.isclose(np.asarray(score), np.asarray(score)[np.asarray(mask)].max())
        np.testing.assert_allclose(dec.probs, best / best.sum(), atol=1e-12)
        np.testing.assert_allclose(new.z, z_new, rtol=1e-12)
        np.testing.assert_allclose(new.learner.net, net, rtol=1e-10, atol=1e-12)


def test_neural_ucb_inverse_z_recursion_holds_in_float32():
    # the state keeps 1 / Z updated as z_inv / (1 + g^2 z_inv); after 60 float32 rounds it must equal
    # 1 / (lam + sum g^2) accumulated in float64 from the same gradients, to float32 round-off (at
    # most about two roundings of 2^-24 a round: 60 x 2 x 6e-8 = 7e-6 relative)
    pol = make("neural_ucb", num_actions=K, context_dim=D, hidden=(8, 4), buffer_size=16, batch_size=4)
    hp = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), pol.hparams(lam=0.5))
    mlp, rng = MLP((D, 8, 4, K)), np.random.default_rng(5)
    update, grad = jax.jit(pol.update), jax.jit(mlp.output_grad)
    st = pol.init(jax.random.key(3), hp)
    z_ref = np.full(st.z_inv.shape, 0.5)
    for _ in range(60):
        x, a = jnp.asarray(rng.normal(size=D), jnp.float32), jnp.asarray(rng.integers(K), jnp.int32)
        z_ref += np.asarray(grad(st.learner.net, x, a), np.float64) ** 2
        st = update(st, x, a, jnp.asarray(rng.normal(), jnp.float32), hp)
    assert st.z_inv.dtype == jnp.float32 and np.all(np.asarray(st.z_inv) > 0)
    np.testing.assert_allclose(np.asarray(st.z_inv, np.float64), 1 / z_ref, rtol=1e-5)


# --------------------------------------------------------------------------- regret against LinTS


def _regrets(env, name, hp, seeds, T, **kw):
    pol = make(name, num_actions=env.num_actions, context_dim=env.context_dim, **kw)
    roll = make_rollout(env, pol, T, block=1)  # one flat scan: the smallest program to compile
    h = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), pol.hparams(**hp))
    keys = jax.random.split(jax.random.key(11), seeds)  # common random numbers across policies
    traj = jax.jit(jax.vmap(lambda k: roll(k, h, None)))(keys)
    return np.asarray(traj.regret, np.float64).sum(axis=1)


def _paired(a, b):
    d = a - b
    m, se = d.mean(), d.std(ddof=1) / np.sqrt(d.size)
    return m, m - 1.96 * se, m + 1.96 * se


NET = dict(hidden=(16, 8), buffer_size=64, refresh_every=16)


@pytest.mark.slow
def test_neural_linear_ts_beats_lints_on_a_nonlinear_world():
    # two concentric circles: the reward of each arm (class) depends on the radius, which no linear
    # function of (x, 1) represents
    X, y = make_circles(1000, factor=0.5, noise=0.05, random_state=0)
    env = supervised_env_from_arrays(X, y, intercept=True)
    S, T = 12, 400
    lin = _regrets(env, "lints", dict(v=0.1), S, T)
    neu = _regrets(env, "neural_linear_ts", dict(v=0.1), S, T, **NET)
    m, lo, hi = _paired(neu, lin)
    assert hi < 0, f"neural-linear TS minus LinTS regret {m:.1f} [{lo:.1f}, {hi:.1f}]: not lower"


def _random_policy_regret_per_round(env, n=200_000, seed=0):
    """Monte Carlo (numpy, float64) of the uniformly random policy's expected regret per round in a
    ``linear_gaussian`` world: ``E_x[max_a mu_a(x) - mean_a mu_a(x)]``, contexts uniform on the sphere."""
    p = env.default_params
    x = np.random.default_rng(seed).normal(size=(n, env.context_dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    mu = x @ np.asarray(p.theta, np.float64).T + np.asarray(p.bias, np.float64)
    return float(np.mean(mu.max(axis=1) - mu.mean(axis=1)))


@pytest.mark.slow
def test_neural_linear_ts_on_a_linear_world_is_within_the_stated_margin_of_lints():
    # Stated margin: the upper 95% bound of the paired difference (neural-linear TS minus LinTS) in
    # cumulative regret is at most 5% of what the uniformly random policy loses over the same rounds.
    # The neural head holds LinTS's model ([h(x), x, 1]) and pays only for exploring its extra features.
    env = linear_gaussian(num_actions=K, context_dim=D, noise_sd=0.1)
    S, T = 12, 600
    lin = _regrets(env, "lints", dict(v=0.1), S, T)
    neu = _regrets(env, "neural_linear_ts", dict(v=0.1), S, T, **NET)
    margin = 0.05 * T * _random_policy_regret_per_round(env)
    m, lo, hi = _paired(neu, lin)
    assert hi <= margin, f"neural-linear TS minus LinTS regret {m:.1f} [{lo:.1f}, {hi:.1f}] exceeds the margin {margin:.1f}"


def test_arms_at_their_prior_tie_exactly_after_a_refresh():
    # after the first refresh the head in use holds only arm 1's rows (its other arms are at the
    # prior, some of them touched only by zero-weight rows): those arms must share one score, so
    # UCB splits its probability evenly among them (bitwise), as on a fresh head
    K6 = 6
    pol = make("neural_linear_ucb", num_actions=K6, context_dim=D, **SMALL)
    hp = pol.default_hparams
    N = SMALL["refresh_every"]
    rng = np.random.default_rng(3)
    st = pol.init(jax.random.key(0), hp)
    update = jax.jit(pol.update)
    for _ in range(N):
        st = update(st, jnp.asarray(rng.normal(size=D), jnp.float32), 1, -50.0, hp)
    assert int(st.active) == 1 and int(st.start) == N  # refreshed once
    assert float(st.head.counts[1]) == N and float(jnp.sum(st.head.counts)) == N
    xs = jnp.asarray(rng.normal(size=(64, D)), jnp.float32)
    probs = np.asarray(jax.vmap(lambda x: pol.select(jax.random.key(1), st, x, jnp.ones((K6,), bool), hp).probs)(xs))
    np.testing.assert_array_equal(probs[:, 1], 0.0)
    np.testing.assert_array_equal(np.delete(probs, 1, axis=1), np.float32(1 / (K6 - 1)))


# --------------------------------------------------------------------------- determinism


@pytest.mark.slow
def test_a_member_alone_equals_the_same_member_in_a_batch():
    env = linear_gaussian(num_actions=K, context_dim=D)
    pol = make("neural_linear_ts", num_actions=K, context_dim=D, **SMALL)
    roll = make_rollout(env, pol, 64, log=True)  # the engine's default path, as sweeps run it
    h = jax.tree.map(jnp.asarray, pol.default_hparams)
    keys = jax.random.split(jax.random.key(5), 6)
    alone = jax.jit(roll)(keys[4], h, None)
    batch = jax.jit(jax.vmap(lambda k: roll(k, h, None)))(keys)
    for field in ("action", "probs", "reward", "regret"):
        np.testing.assert_array_equal(np.asarray(getattr(alone, field)), np.asarray(getattr(batch, field))[4])


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("kw, match", [
    (dict(buffer_size=20, refresh_every=8), "buffer_size: expected a multiple of refresh_every=8, got 20"),
    (dict(hidden=()), "hidden: expected a non-empty sequence"),
    (dict(hidden=(8, 0)), r"hidden\[1\]: expected an integer >= 1"),
    (dict(refresh_growth=0.5), r"refresh_growth: expected a number in \[1, 16\], got 0.5"),
    (dict(batch_size=0), "batch_size: expected an integer >= 1"),
    (dict(lr=0.0), "lr: policy 'neural_linear_ts' expects a finite value in \\(0.0, inf\\]"),
])
def test_constructor_names_the_bad_argument(kw, match):
    with pytest.raises(ValueError, match=match):
        make("neural_linear_ts", num_actions=K, context_dim=D, **kw)
