"""Non-stationary policies for trending items: discounted LinUCB, sliding-window LinUCB, discounted TS.

All three forget old evidence so that a title whose appeal changes (a live event that starts
trending, a series whose audience fades) is re-learned quickly.

* ``discounted_linucb`` -- D-LinUCB of Russac, Vernade and Cappe (2019), "Weighted linear bandits
  for non-stationary environments", Algorithm 1, with one disjoint ridge model per action. Every
  round ALL actions' statistics are discounted by ``gamma`` (time passes for every title), the chosen
  action adds its observation::

      V_a  <- gamma   V_a  + 1[a = a_t] x x^T + (1 - gamma)   lam I
      Vt_a <- gamma^2 Vt_a + 1[a = a_t] x x^T + (1 - gamma^2) lam I
      b_a  <- gamma   b_a  + 1[a = a_t] r x

  so the regulariser stays ``lam I``. Score: ``x^T theta_a + alpha sqrt(x^T V_a^-1 Vt_a V_a^-1 x)``
  with ``theta_a = V_a^-1 b_a``. ``alpha`` plays the role of the paper's ``beta_t`` (held constant,
  as practitioners do; the paper's ``beta_t`` formula grows with ``log(1/delta)`` and ``d``). With
  ``gamma = 1`` this is exactly disjoint LinUCB (Li et al. 2010, Algorithm 1).

  How it is computed: with ``V_a = lam I + M_a`` an action that is not chosen only decays
  (``M_a <- gamma M_a``), so each action's ``M_a``, ``Vt_a - lam I`` and ``b_a`` are stored as of
  its last update ``tau_a`` and scaled by ``c = gamma^(t - tau_a)`` when read. ``M_a`` is kept as an
  eigenbasis ``Q_a diag(l_a) Q_a^T``, so ``(lam I + c M_a)^-1 x`` costs ``O(d^2)`` for any ``c``;
  only the chosen action changes in a round, by a rank-one eigen update of ``diag(c l) + z z^T``
  (``z = Q^T x``; :func:`bandits.policies._linalg.rank_one_eig`), with ``Q^T b`` and
  ``Q^T (Vt - lam I) Q`` rotated into the new basis. A round costs ``O(K d^2)`` to score and
  ``O(d^3)`` to update, instead of factorising all ``K`` matrices.
* ``sliding_window_linucb`` -- SW-LinUCB (Cheung, Simchi-Levi and Zhu 2019): LinUCB on the last
  ``window`` rounds only. The window is a ring buffer of static size; each action's ridge inverse
  is kept packed (as LinUCB's) and changed only for the touched actions: Sherman-Morrison for the
  new row, a rank-one downdate for the evicted one. To bound the downdates' float32 drift a second
  bank of inverses is rebuilt from the prior, by additions only, during each cycle of ``window``
  rounds; at the cycle's end it holds exactly the window and takes over.
* ``discounted_ts`` -- discounted Beta-Bernoulli Thompson sampling (Raj and Kalyani 2017):
  ``S_a <- gamma S_a + 1[a=a_t] r``, ``F_a <- gamma F_a + 1[a=a_t](1-r)``; sample
  ``Beta(alpha0 + S_a, beta0 + F_a)``. Context-free (the context is accepted and ignored).
  With ``gamma = 1`` this is the Beta-Bernoulli TS of Chapelle and Li (2011), Algorithm 2.
* ``discounted_lints`` -- linear Gaussian TS on the D-LinUCB statistics (kept as for
  ``discounted_linucb``, without ``Vt``): the score of action ``a`` is drawn from
  ``N(x^T theta_a, nu^2 x^T V_a^-1 x)``.

Thompson-sampling probabilities have no closed form: they are estimated by Monte Carlo with
``n_mc`` (static) posterior draws; ties inside a draw are split evenly. The returned action is the
argmax of the first draw, so ``probs[action] > 0`` always.

This module also hosts small helpers shared by the exploration policies (:func:`check_sizes`,
:func:`gaussian_ts_decision`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import argmax_random_ties
from bandits.policies._linalg import (
    rank_one_eig,
    ridge_row_rank_one,
    tie_split,
    transposed,
    tri_indices,
    unpack_sym,
)
from bandits.policies._sampling import beta_logit_sample
from bandits.policies.registry import register
from bandits.policies.thompson import ts_decision

_GAMMA = V.Interval(0.0, 1.0, lo_open=True)  # discount factor in (0, 1]

# ----------------------------------------------------------------------------- shared helpers


def check_sizes(name: str, num_actions, context_dim, dtype, **positive_ints) -> tuple[int, int]:
    """Eager validation shared by the exploration constructors; returns ``(K, d)`` as ints."""
    if not isinstance(num_actions, int | jnp.integer) or int(num_actions) < 1:
        raise ValueError(f"{name}: num_actions: expected an integer >= 1, got {num_actions!r}")
    if not isinstance(context_dim, int | jnp.integer) or int(context_dim) < 1:
        raise ValueError(f"{name}: context_dim: expected an integer >= 1, got {context_dim!r}")
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise ValueError(f"{name}: dtype: expected a floating dtype, got {dtype!r}")
    for key, val in positive_ints.items():
        if not isinstance(val, int | jnp.integer) or int(val) < 1:
            raise ValueError(f"{name}: {key}: expected an integer >= 1, got {val!r}")
    return int(num_actions), int(context_dim)


def gaussian_ts_decision(key, mean, std, mask, n_mc: int, dtype) -> Decision:
    """Independent Gaussian score draws ``mean + std * eps`` -> Thompson decision with Monte Carlo
    probabilities (:func:`bandits.policies.thompson.ts_decision`: the played draw has its own key,
    so the other ``n_mc - 1`` draws cost nothing when ``probs`` is unused)."""
    K = mean.shape[0]
    return ts_decision(key, lambda k, n: mean[None, :] + std[None, :] * jax.random.normal(k, (n, K), dtype),
                       mask, n_mc, dtype)


# ----------------------------------------------------------------------------- D-LinUCB


class DiscountedLinUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0). gamma: discount in (0, 1]. lam: ridge regulariser (> 0)."""

    alpha: float = 1.0
    gamma: float = 0.99
    lam: float = 1.0


class DiscountedLinState(NamedTuple):
    """Per-arm D-LinUCB statistics, each stored undecayed at the arm's last update ``tau``.

    With ``c = gamma^(t - tau_a)``, ``M_a = c Q_a diag(evals_a) Q_a^T`` (so ``V_a = lam I + M_a``),
    ``Vt_a = lam I + c^2 Q_a S_a Q_a^T`` and ``b_a = c Q_a beta_a``.
    Q: (K, d, d) orthogonal eigenbases; evals: (K, d) eigenvalues, ascending, >= 0; beta: (K, d)
    ``Q^T b``; S: (K, d, d) the squared-discount design in that basis (zeros for discounted LinTS,
    which does not use it); tau: (K,) int32; t: () int32 rounds seen.
    """

    Q: jax.Array
    evals: jax.Array
    beta: jax.Array
    S: jax.Array
    tau: jax.Array
    t: jax.Array

    def matrices(self, gamma, lam) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(V (K, d, d), Vt (K, d, d), b (K, d))`` at the current round (for inspection and tests)."""
        dt = self.evals.dtype
        c = _decay(gamma, self.t - self.tau, dt)[:, None, None]
        eye = jnp.eye(self.evals.shape[-1], dtype=dt) * jnp.asarray(lam, dt)
        Vm = eye + c * jnp.einsum("kij,kj,klj->kil", self.Q, self.evals, self.Q)
        Vt = eye + c * c * jnp.einsum("kij,kjm,klm->kil", self.Q, self.S, self.Q)
        return Vm, Vt, c[:, :, 0] * jnp.einsum("kij,kj->ki", self.Q, self.beta)


def _decay(gamma, steps, dtype):
    """``gamma ** steps`` for integer ``steps >= 0`` (exactly 1 at ``steps = 0``)."""
    return jnp.power(jnp.asarray(gamma, dtype), steps.astype(dtype))


def _dot(A, B):
    """``A @ B`` of two small matrices as an XLA dot (full precision). A dot stays one kernel under
    ``vmap``; a broadcast product summed over an axis gets fused into its consumers, which then
    recompute it once per output element."""
    return jnp.matmul(A, B, precision=jax.lax.Precision.HIGHEST)


def _discounted_init(K, d, dtype):
    def init(key, hparams):
        return DiscountedLinState(
            Q=jnp.broadcast_to(jnp.eye(d, dtype=dtype), (K, d, d)), evals=jnp.zeros((K, d), dtype),
            beta=jnp.zeros((K, d), dtype), S=jnp.zeros((K, d, d), dtype), tau=jnp.zeros((K,), jnp.int32),
            t=jnp.zeros((), jnp.int32),
        )

    return init


def _discounted_update(K, d, dtype, with_vt: bool):
    """Only the chosen arm changes: decay its stored statistics to now, add ``x x^T`` (and ``r x``)
    through a rank-one eigen update (:func:`bandits.policies._linalg.rank_one_eig`), rotate ``beta``
    (and ``S`` when ``with_vt``) into the new basis."""

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        r = jnp.asarray(reward, dtype)
        a = jnp.asarray(action, jnp.int32)
        take = functools.partial(jax.lax.dynamic_index_in_dim, index=a, axis=0, keepdims=False)
        put = functools.partial(jax.lax.dynamic_update_index_in_dim, index=a, axis=0)
        c = _decay(hparams.gamma, state.t + 1 - take(state.tau), dtype)
        Q = take(state.Q)
        z = jnp.sum(Q * x[:, None], axis=0)  # Q^T x
        evals, R = rank_one_eig(c * take(state.evals), z)
        beta = jnp.sum(R * (c * take(state.beta) + r * z)[:, None], axis=0)  # R^T (c beta + r z)
        Qn = _dot(Q, R)
        # one Newton-Schulz step towards the nearest orthogonal matrix: without it the float32
        # round-off of the products Q R accumulates, linearly, over an item's updates
        Qn = 1.5 * Qn - 0.5 * _dot(Qn, _dot(transposed(Qn), Qn))
        out = dict(Q=put(state.Q, Qn), evals=put(state.evals, evals), beta=put(state.beta, beta),
                   tau=put(state.tau, state.t + 1), t=state.t + 1)
        if with_vt:
            y = jnp.sum(R * z[:, None], axis=0)  # R^T z
            S = (c * c) * _dot(transposed(R), _dot(take(state.S), R)) + jnp.outer(y, y)
            out["S"] = put(state.S, 0.5 * (S + S.T))
        else:
            out["S"] = state.S
        return DiscountedLinState(**out)

    return update


def discounted_linucb_scores(state: DiscountedLinState, x: jax.Array, hparams) -> jax.Array:
    """D-LinUCB scores ``x^T theta_a + alpha sqrt(x^T V_a^-1 Vt_a V_a^-1 x)`` of every arm: (K,) from x (d,)."""
    dtype = state.evals.dtype
    _, u, mean, c = _discounted_terms(state, x, hparams, dtype)
    # x^T V^-1 Vt V^-1 x = lam |u|^2 + c^2 u^T S u in the eigenbasis
    # elementwise products summed over a non-minor axis (S is symmetric): XLA vectorises these over
    # the minor axis, where tiny batched dots and minor-axis sums run far slower on CPU
    uSu = jnp.sum(jnp.sum(state.S * u[:, :, None], axis=1) * u, axis=1)
    width2 = jnp.asarray(hparams.lam, dtype) * jnp.sum(u * u, axis=1) + c * c * uSu
    return mean + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(width2, 0))


def discounted_mean_var(state: DiscountedLinState, x: jax.Array, hparams) -> tuple[jax.Array, jax.Array]:
    """``(x^T V_a^-1 b_a (K,), x^T V_a^-1 x (K,))`` of every arm at context x (d,)."""
    z, u, mean, _ = _discounted_terms(state, x, hparams, state.evals.dtype)
    return mean, jnp.maximum(jnp.sum(z * u, axis=1), 0)


def _discounted_terms(state, x, hparams, dtype):
    """Per arm at context ``x``: ``(u, mean, c)`` with ``u = Q^T V^-1 x`` (K, d), ``mean = x^T V^-1 b``
    (K,) and the decay ``c`` (K,); O(K d^2)."""
    lam = jnp.asarray(hparams.lam, dtype)
    c = _decay(hparams.gamma, state.t - state.tau, dtype)
    z = jnp.sum(state.Q * x[None, :, None], axis=1)  # Q^T x
    u = z / (lam + c[:, None] * state.evals)
    return z, u, jnp.sum(u * state.beta, axis=1) * c, c


@register("discounted_linucb", hparams=DiscountedLinUCBHParams,
          rules={"alpha": V.NONNEGATIVE, "gamma": _GAMMA, "lam": V.POSITIVE})
def discounted_linucb(num_actions: int, context_dim: int, dtype=jnp.float32) -> Policy:
    """D-LinUCB (Russac et al. 2019) with disjoint per-action models; see the module docstring.

    probs: the UCB argmax with ties split evenly (deterministic otherwise).
    """
    K, d = check_sizes("discounted_linucb", num_actions, context_dim, dtype)

    def select(key, state, context, mask, hparams):
        score = discounted_linucb_scores(state, jnp.asarray(context, dtype), hparams)
        return Decision(action=argmax_random_ties(key, score, mask), probs=tie_split(score, mask))

    return Policy("discounted_linucb", K, d, DiscountedLinUCBHParams(), _discounted_init(K, d, dtype),
                  select, _discounted_update(K, d, dtype, with_vt=True))


# ----------------------------------------------------------------------------- discounted LinTS


class DiscountedLinTSHParams(NamedTuple):
    """nu: posterior scale (>= 0). gamma: discount in (0, 1]. lam: ridge regulariser (> 0)."""

    nu: float = 0.5
    gamma: float = 0.99
    lam: float = 1.0


@register("discounted_lints", hparams=DiscountedLinTSHParams,
          rules={"nu": V.NONNEGATIVE, "gamma": _GAMMA, "lam": V.POSITIVE}, aliases={"alpha": "nu"})
def discounted_lints(num_actions: int, context_dim: int, dtype=jnp.float32, n_mc: int = 256) -> Policy:
    """Discounted linear Thompson sampling: score_a ~ N(x^T V_a^-1 b_a, nu^2 x^T V_a^-1 x).

    Statistics as in ``discounted_linucb`` (``S``, for ``Vt``, stays zero: unused). probs: Monte
    Carlo over ``n_mc`` (static) draws.
    """
    K, d = check_sizes("discounted_lints", num_actions, context_dim, dtype, n_mc=n_mc)

    def select(key, state, context, mask, hparams):
        mean, var = discounted_mean_var(state, jnp.asarray(context, dtype), hparams)
        std = jnp.asarray(hparams.nu, dtype) * jnp.sqrt(jnp.maximum(var, 0))
        return gaussian_ts_decision(key, mean, std, mask, int(n_mc), dtype)

    return Policy("discounted_lints", K, d, DiscountedLinTSHParams(), _discounted_init(K, d, dtype),
                  select, _discounted_update(K, d, dtype, with_vt=False))


# ----------------------------------------------------------------------------- SW-LinUCB


class SlidingWindowHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge regulariser (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0


class SlidingWindowState(NamedTuple):
    """Ring buffer of the last ``window`` rounds plus two banks of per-arm ridge inverses.

    ctx: (W, d); act: (W,) int32; rew: (W,); valid: (W,) bool -- the window's rows.
    cov_tri: (2, K, d(d+1)/2) packed ``A^{-1}`` (:func:`bandits.policies._linalg.tri_indices`);
    theta: (2, K, d) ``A^{-1} b``; stamp: (2, K) int32, the cycle (``t // W``) in which each bank row
    was last written; t: () int32 rounds seen. In cycle ``n`` bank ``n % 2`` is the window's ridge
    (rows with ``stamp >= n - 1``; older rows stand for the prior ``A = lam I``, ``b = 0``) and the
    other bank is rebuilt, by additions only, from the rows of cycle ``n`` (rows with ``stamp >= n``).
    """

    ctx: jax.Array
    act: jax.Array
    rew: jax.Array
    valid: jax.Array
    cov_tri: jax.Array
    theta: jax.Array
    stamp: jax.Array
    t: jax.Array

    def window_ridge(self, lam) -> tuple[jax.Array, jax.Array]:
        """``(A^{-1} (K, d, d), theta (K, d))`` of the current window (the prior for arms without rows)."""
        d = self.theta.shape[-1]
        W = self.act.shape[-1]
        n = self.t // W
        p = n % 2
        ok = (self.stamp[p] >= n - 1)[:, None]
        rows, cols, _, _ = tri_indices(d)
        prior = jnp.asarray(rows == cols, self.theta.dtype) / jnp.asarray(lam, self.theta.dtype)
        cov = unpack_sym(jnp.where(ok, self.cov_tri[p], prior), d)
        return cov, jnp.where(ok, self.theta[p], 0)


def sliding_window_scores(state: SlidingWindowState, x: jax.Array, hparams) -> jax.Array:
    """SW-LinUCB scores ``x^T theta_a + alpha sqrt(x^T A_a^-1 x)`` on the window: (K,) from x (d,)."""
    dtype = state.theta.dtype
    d = x.shape[-1]
    rows, cols, weight, _ = tri_indices(d)
    n = state.t // state.act.shape[-1]
    p = n % 2  # the window's bank; its rows written before cycle n - 1 stand for the prior
    w = x[rows] * x[cols] * jnp.asarray(weight, dtype)
    quad = state.cov_tri @ w  # (2, K): both banks in one pass (no gather of the window's bank)
    mean = state.theta @ x
    ok = jnp.where(p == 0, state.stamp[0], state.stamp[1]) >= n - 1
    quad = jnp.where(ok, jnp.where(p == 0, quad[0], quad[1]), x @ x / jnp.asarray(hparams.lam, dtype))
    mean = jnp.where(ok, jnp.where(p == 0, mean[0], mean[1]), 0)
    return mean + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(quad, 0))


@register("sliding_window_linucb", hparams=SlidingWindowHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE})
def sliding_window_linucb(num_actions: int, context_dim: int, dtype=jnp.float32, window: int = 200) -> Policy:
    """SW-LinUCB: disjoint LinUCB on the last ``window`` (static) rounds; see the module docstring.

    Each round adds the new row to the window's ridge inverse (Sherman-Morrison) and removes the
    evicted row (rank-one downdate), both for the touched arms only. The downdates' float32 drift
    is bounded without refactorising: a second bank is rebuilt from the prior by additions only
    during each cycle of ``window`` rounds, and at the end of the cycle it holds exactly the window,
    so it takes over (the banks swap roles; rows not written in the cycle stand for the prior, which
    resets them lazily). No bank row has seen more than ``2 window`` rank-one changes since the prior.
    probs: the UCB argmax with ties split evenly.
    """
    K, d = check_sizes("sliding_window_linucb", num_actions, context_dim, dtype, window=window)
    W = int(window)
    rows, cols, _, _ = tri_indices(d)
    eye_tri = jnp.asarray(rows == cols, dtype)

    def init(key, hparams):
        return SlidingWindowState(
            ctx=jnp.zeros((W, d), dtype), act=jnp.zeros((W,), jnp.int32), rew=jnp.zeros((W,), dtype),
            valid=jnp.zeros((W,), bool),
            cov_tri=jnp.broadcast_to(eye_tri / jnp.asarray(hparams.lam, dtype), (2, K, rows.size)),
            theta=jnp.zeros((2, K, d), dtype), stamp=jnp.full((2, K), -4, jnp.int32), t=jnp.zeros((), jnp.int32),
        )

    def select(key, state, context, mask, hparams):
        score = sliding_window_scores(state, jnp.asarray(context, dtype), hparams)
        return Decision(action=argmax_random_ties(key, score, mask), probs=tie_split(score, mask))

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        r = jnp.asarray(reward, dtype)
        a = jnp.asarray(action, jnp.int32)
        lam = jnp.asarray(hparams.lam, dtype)
        i = state.t % W
        n = state.t // W
        p = n % 2
        cov, theta, stamp = state.cov_tri, state.theta, state.stamp

        def change(cov, theta, stamp, bank, arm, xr, rr, sign, since):
            # one rank-one change of (bank, arm); a row older than ``since`` is the prior
            ok = stamp[bank, arm] >= since
            c = jnp.where(ok, cov[bank, arm], eye_tri / lam)
            th = jnp.where(ok, theta[bank, arm], 0)
            c, th = ridge_row_rank_one(c, th, xr, rr, sign)
            return cov.at[bank, arm].set(c), theta.at[bank, arm].set(th), stamp.at[bank, arm].set(n)

        # the window's bank: add the new row first (better conditioned), then remove the evicted one
        cov, theta, stamp = change(cov, theta, stamp, p, a, x, r, jnp.asarray(1, dtype), n - 1)
        old_w = state.valid[i].astype(dtype)
        cov, theta, stamp = change(cov, theta, stamp, p, state.act[i], state.ctx[i], state.rew[i], -old_w, n - 1)
        # the bank being rebuilt for the next cycle: additions only
        cov, theta, stamp = change(cov, theta, stamp, 1 - p, a, x, r, jnp.asarray(1, dtype), n)
        return SlidingWindowState(
            ctx=state.ctx.at[i].set(x), act=state.act.at[i].set(a), rew=state.rew.at[i].set(r),
            valid=state.valid.at[i].set(True), cov_tri=cov, theta=theta, stamp=stamp, t=state.t + 1,
        )

    return Policy("sliding_window_linucb", K, d, SlidingWindowHParams(), init, select, update)


# ----------------------------------------------------------------------------- discounted Beta TS


class DiscountedTSHParams(NamedTuple):
    """gamma: discount in (0, 1]. alpha0, beta0: Beta prior pseudo-counts (> 0)."""

    gamma: float = 0.99
    alpha0: float = 1.0
    beta0: float = 1.0


class DiscountedTSState(NamedTuple):
    """S, F: (K,) discounted success / failure counts; t: () int32."""

    S: jax.Array
    F: jax.Array
    t: jax.Array


@register("discounted_ts", hparams=DiscountedTSHParams,
          rules={"gamma": _GAMMA, "alpha0": V.POSITIVE, "beta0": V.POSITIVE}, traits=("context_free",))
def discounted_ts(num_actions: int, context_dim: int = 1, dtype=jnp.float32, n_mc: int = 256) -> Policy:
    """Discounted Beta-Bernoulli Thompson sampling (rewards in [0, 1]); see the module docstring.

    probs: Monte Carlo over ``n_mc`` (static) Beta draws per action.
    """
    K, d = check_sizes("discounted_ts", num_actions, context_dim, dtype, n_mc=n_mc)

    def init(key, hparams):
        z = jnp.zeros((K,), dtype)
        return DiscountedTSState(S=z, F=z, t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        a = jnp.asarray(hparams.alpha0, dtype) + state.S
        b = jnp.asarray(hparams.beta0, dtype) + state.F
        # Beta logits rank like the draws; the played draw has its own key (ts_decision)
        return ts_decision(key, lambda k, n: beta_logit_sample(k, a, b, (n, K), dtype), mask, int(n_mc), dtype)

    def update(state, context, action, reward, hparams):
        g = jnp.asarray(hparams.gamma, dtype)
        oh = jax.nn.one_hot(action, K, dtype=dtype)
        r = jnp.asarray(reward, dtype)
        return DiscountedTSState(S=g * state.S + oh * r, F=g * state.F + oh * (1 - r), t=state.t + 1)

    return Policy("discounted_ts", K, d, DiscountedTSHParams(), init, select, update)
