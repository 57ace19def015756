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
* ``sliding_window_linucb`` -- SW-LinUCB (Cheung, Simchi-Levi and Zhu 2019): LinUCB on the last
  ``window`` rounds only. The window is a ring buffer of static size; statistics are kept
  incrementally (add the new row, subtract the evicted one) and refactorised exactly from the buffer
  every ``window`` rounds, which bounds float32 drift from the add/subtract cycle.
* ``discounted_ts`` -- discounted Beta-Bernoulli Thompson sampling (Raj and Kalyani 2017):
  ``S_a <- gamma S_a + 1[a=a_t] r``, ``F_a <- gamma F_a + 1[a=a_t](1-r)``; sample
  ``Beta(alpha0 + S_a, beta0 + F_a)``. Context-free (the context is accepted and ignored).
  With ``gamma = 1`` this is the Beta-Bernoulli TS of Chapelle and Li (2011), Algorithm 2.
* ``discounted_lints`` -- linear Gaussian TS on the D-LinUCB statistics: the score of action ``a``
  is drawn from ``N(x^T theta_a, nu^2 x^T V_a^-1 x)``.

Thompson-sampling probabilities have no closed form: they are estimated by Monte Carlo with
``n_mc`` (static) posterior draws; ties inside a draw are split evenly. The returned action is the
argmax of the first draw, so ``probs[action] > 0`` always.

This module also hosts the small numerical helpers shared by the exploration policies
(``ridge_*``, :func:`mc_argmax_probs`): disjoint per-action ridge statistics solved through
Cholesky factors (no explicit inverse is stored, so there is no Sherman-Morrison drift), computed
with the LAPACK-free loops of :mod:`bandits.policies._linalg`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import argmax_random_ties
from bandits.policies._linalg import cho_solve, cholesky, tie_split, tri_solve_lower
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


def ridge_init(num_actions: int, context_dim: int, lam, dtype) -> tuple[jax.Array, jax.Array]:
    """Per-action ridge statistics at the prior: ``A (K, d, d) = lam I``, ``b (K, d) = 0``."""
    eye = jnp.eye(context_dim, dtype=dtype)
    A = jnp.broadcast_to(jnp.asarray(lam, dtype) * eye, (num_actions, context_dim, context_dim))
    return A, jnp.zeros((num_actions, context_dim), dtype)


def ridge_solve(A: jax.Array, rhs: jax.Array) -> jax.Array:
    """``A_a^-1 rhs_a`` for every action through Cholesky. A: (K, d, d) SPD; rhs: (K, d) -> (K, d)."""
    return cho_solve(cholesky(A), rhs)


def ridge_mean_var(A: jax.Array, b: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Ridge prediction and ``x^T A_a^-1 x`` for every action.

    A: (K, d, d); b: (K, d); x: (d,). Returns ``(mean (K,), var (K,))``.
    """
    L = cholesky(A)
    theta = cho_solve(L, b)
    u = tri_solve_lower(L, jnp.broadcast_to(x, b.shape))
    return theta @ x, jnp.sum(u * u, axis=-1)


def mc_argmax_probs(key, samples: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Thompson-sampling probabilities from posterior draws of the scores.

    samples: ``(n_mc, K)`` float, one row per posterior draw; mask: ``(K,)`` bool.
    Returns ``(action () int32, probs (K,))``: ``probs`` is the fraction of draws in which each
    available action is the argmax (ties inside a draw split evenly); ``action`` is the argmax of
    the first draw (ties broken at random with ``key``), so ``probs[action] >= 1 / n_mc``.
    """
    neg_inf = jnp.asarray(-jnp.inf, samples.dtype)
    s = jnp.where(mask[None, :], samples, neg_inf)
    best = jnp.max(s, axis=1, keepdims=True)
    is_best = mask[None, :] & (s >= best)
    share = is_best.astype(samples.dtype) / jnp.sum(is_best, axis=1, keepdims=True).astype(samples.dtype)
    probs = jnp.mean(share, axis=0)
    return argmax_random_ties(key, samples[0], mask), probs


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
    """V: (K, d, d) discounted design; Vt: (K, d, d) squared-discount design; b: (K, d); t: () int32."""

    V: jax.Array
    Vt: jax.Array
    b: jax.Array
    t: jax.Array


def _discounted_init(K, d, dtype):
    def init(key, hparams):
        V, b = ridge_init(K, d, hparams.lam, dtype)
        return DiscountedLinState(V=V, Vt=V, b=b, t=jnp.zeros((), jnp.int32))

    return init


def _discounted_update(K, d, dtype):
    def update(state, context, action, reward, hparams):
        g = jnp.asarray(hparams.gamma, dtype)
        lam = jnp.asarray(hparams.lam, dtype)
        x = jnp.asarray(context, dtype)
        onehot = jax.nn.one_hot(action, K, dtype=dtype)
        xx = jnp.outer(x, x)
        eye = jnp.eye(d, dtype=dtype)
        V = g * state.V + onehot[:, None, None] * xx + (1 - g) * lam * eye
        Vt = g * g * state.Vt + onehot[:, None, None] * xx + (1 - g * g) * lam * eye
        b = g * state.b + onehot[:, None] * (jnp.asarray(reward, dtype) * x)
        return DiscountedLinState(V=V, Vt=Vt, b=b, t=state.t + 1)

    return update


@register("discounted_linucb", hparams=DiscountedLinUCBHParams,
          rules={"alpha": V.NONNEGATIVE, "gamma": _GAMMA, "lam": V.POSITIVE})
def discounted_linucb(num_actions: int, context_dim: int, dtype=jnp.float32) -> Policy:
    """D-LinUCB (Russac et al. 2019) with disjoint per-action models; see the module docstring.

    probs: the UCB argmax with ties split evenly (deterministic otherwise).
    """
    K, d = check_sizes("discounted_linucb", num_actions, context_dim, dtype)

    def select(key, state, context, mask, hparams):
        x = jnp.asarray(context, dtype)
        L = cholesky(state.V)
        theta = cho_solve(L, state.b)
        w = cho_solve(L, jnp.broadcast_to(x, state.b.shape))  # V^-1 x, (K, d)
        width2 = jnp.einsum("ki,kij,kj->k", w, state.Vt, w)
        score = theta @ x + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(width2, 0))
        return Decision(action=argmax_random_ties(key, score, mask), probs=tie_split(score, mask))

    return Policy("discounted_linucb", K, d, DiscountedLinUCBHParams(), _discounted_init(K, d, dtype),
                  select, _discounted_update(K, d, dtype))


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

    Statistics as in ``discounted_linucb`` (``Vt`` is carried but unused). probs: Monte Carlo over
    ``n_mc`` (static) draws.
    """
    K, d = check_sizes("discounted_lints", num_actions, context_dim, dtype, n_mc=n_mc)

    def select(key, state, context, mask, hparams):
        mean, var = ridge_mean_var(state.V, state.b, jnp.asarray(context, dtype))
        std = jnp.asarray(hparams.nu, dtype) * jnp.sqrt(jnp.maximum(var, 0))
        return gaussian_ts_decision(key, mean, std, mask, int(n_mc), dtype)

    return Policy("discounted_lints", K, d, DiscountedLinTSHParams(), _discounted_init(K, d, dtype),
                  select, _discounted_update(K, d, dtype))


# ----------------------------------------------------------------------------- SW-LinUCB


class SlidingWindowHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge regulariser (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0


class SlidingWindowState(NamedTuple):
    """Ring buffer of the last ``window`` rounds plus the windowed ridge statistics.

    ctx: (W, d); act: (W,) int32; rew: (W,); valid: (W,) bool; A: (K, d, d) = lam I + sum over the
    window of x x^T for the rows of each action; b: (K, d); t: () int32 rounds seen.
    """

    ctx: jax.Array
    act: jax.Array
    rew: jax.Array
    valid: jax.Array
    A: jax.Array
    b: jax.Array
    t: jax.Array


@register("sliding_window_linucb", hparams=SlidingWindowHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE})
def sliding_window_linucb(num_actions: int, context_dim: int, dtype=jnp.float32, window: int = 200) -> Policy:
    """SW-LinUCB: disjoint LinUCB on the last ``window`` (static) rounds; see the module docstring.

    probs: the UCB argmax with ties split evenly.
    """
    K, d = check_sizes("sliding_window_linucb", num_actions, context_dim, dtype, window=window)
    W = int(window)

    def _stats_from_buffer(ctx, act, rew, valid, lam):
        oh = jax.nn.one_hot(act, K, dtype=dtype) * valid[:, None].astype(dtype)  # (W, K)
        A = jnp.einsum("wk,wi,wj->kij", oh, ctx, ctx) + lam * jnp.eye(d, dtype=dtype)
        b = jnp.einsum("wk,w,wi->ki", oh, rew, ctx)
        return A, b

    def init(key, hparams):
        A, b = ridge_init(K, d, hparams.lam, dtype)
        return SlidingWindowState(
            ctx=jnp.zeros((W, d), dtype), act=jnp.zeros((W,), jnp.int32), rew=jnp.zeros((W,), dtype),
            valid=jnp.zeros((W,), bool), A=A, b=b, t=jnp.zeros((), jnp.int32),
        )

    def select(key, state, context, mask, hparams):
        mean, var = ridge_mean_var(state.A, state.b, jnp.asarray(context, dtype))
        score = mean + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(var, 0))
        return Decision(action=argmax_random_ties(key, score, mask), probs=tie_split(score, mask))

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        r = jnp.asarray(reward, dtype)
        a = jnp.asarray(action, jnp.int32)
        i = state.t % W
        # evict the oldest row (slot i) if it holds data, then add the new one
        old_x, old_a, old_r = state.ctx[i], state.act[i], state.rew[i]
        old_w = state.valid[i].astype(dtype)
        oh_old = jax.nn.one_hot(old_a, K, dtype=dtype) * old_w
        oh_new = jax.nn.one_hot(a, K, dtype=dtype)
        A = state.A - oh_old[:, None, None] * jnp.outer(old_x, old_x) + oh_new[:, None, None] * jnp.outer(x, x)
        b = state.b - oh_old[:, None] * (old_r * old_x) + oh_new[:, None] * (r * x)
        ctx = state.ctx.at[i].set(x)
        act = state.act.at[i].set(a)
        rew = state.rew.at[i].set(r)
        valid = state.valid.at[i].set(True)
        lam = jnp.asarray(hparams.lam, dtype)
        # exact refactorisation once per window bounds the add/subtract drift
        A, b = jax.lax.cond(i == W - 1, lambda: _stats_from_buffer(ctx, act, rew, valid, lam), lambda: (A, b))
        return SlidingWindowState(ctx=ctx, act=act, rew=rew, valid=valid, A=A, b=b, t=state.t + 1)

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
