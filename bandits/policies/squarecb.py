"""SquareCB (Foster and Rakhlin 2020) on an online ridge-regression oracle.

Each round the oracle predicts the reward of every available action, ``yhat (K,)`` (one ridge
model per action, kept as a rank-one-updated inverse: :mod:`bandits.policies._linalg`), and the policy plays the inverse-gap-weighted
(IGW) distribution over the ``mu`` available actions (``mu = mask.sum()``)::

    p_a = 1 / (mu + gamma_t * (yhat_max - yhat_a))        for a not maximising yhat
    the maximisers share the remaining mass 1 - sum of the above evenly

(Foster and Rakhlin state it for losses with ``b = argmin``; with rewards the gap is
``yhat_max - yhat_a``. Splitting the leftover mass among tied maximisers keeps ties symmetric.)
The learning rate grows with time, ``gamma_t = gamma * (t + 1) ** gamma_power`` (their analysis
takes ``gamma ~ sqrt(K T / Reg_sq)``; ``gamma_power = 0.5`` is the anytime version of that choice).
The probabilities are explicit, so ``probs`` is exact, not a Monte Carlo estimate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import RidgeState, ridge_init, ridge_update
from bandits.policies.nonstationary import check_sizes
from bandits.policies.registry import register


class SquareCBHParams(NamedTuple):
    """gamma: IGW learning-rate scale (> 0). gamma_power: growth exponent of gamma_t. lam: ridge (> 0)."""

    gamma: float = 10.0
    gamma_power: float = 0.5
    lam: float = 1.0


class SquareCBState(NamedTuple):
    """ridge: the per-action ridge oracle (:class:`~bandits.policies._linalg.RidgeState`, updated
    rank-one); t: () int32 rounds seen."""

    ridge: RidgeState
    t: jax.Array


def igw_probs(yhat: jax.Array, mask: jax.Array, gamma) -> jax.Array:
    """Inverse-gap weighting. yhat: (K,) predicted rewards; mask: (K,) bool; gamma: () >= 0.

    Returns probs (K,): 0 where masked, sums to 1, maximisers share the leftover mass evenly.
    """
    dtype = yhat.dtype
    neg_inf = jnp.asarray(-jnp.inf, dtype)
    masked = jnp.where(mask, yhat, neg_inf)
    best = jnp.max(masked)
    is_best = mask & (masked >= best)
    mu = jnp.sum(mask).astype(dtype)
    gap = jnp.where(mask, best - yhat, 0)
    others = jnp.where(mask & ~is_best, 1.0 / (mu + gamma * gap), 0)
    rest = 1.0 - jnp.sum(others)
    # all 0 on an empty mask (no maximiser), never 0/0
    return others + is_best.astype(dtype) * rest / jnp.maximum(jnp.sum(is_best), 1).astype(dtype)


@register("squarecb", hparams=SquareCBHParams,
          rules={"gamma": V.NONNEGATIVE, "gamma_power": V.NONNEGATIVE, "lam": V.POSITIVE})
def squarecb(num_actions: int, context_dim: int, dtype=jnp.float32) -> Policy:
    """SquareCB with a disjoint ridge oracle; see the module docstring. probs: exact IGW."""
    K, d = check_sizes("squarecb", num_actions, context_dim, dtype)

    def init(key, hparams):
        return SquareCBState(ridge=ridge_init(K, d, hparams.lam, dtype), t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        yhat = state.ridge.theta @ jnp.asarray(context, dtype)
        t1 = (state.t + 1).astype(dtype)
        gamma_t = jnp.asarray(hparams.gamma, dtype) * t1 ** jnp.asarray(hparams.gamma_power, dtype)
        probs = igw_probs(yhat, mask, gamma_t)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams):
        ridge = ridge_update(state.ridge, jnp.asarray(context, dtype), action, jnp.asarray(reward, dtype))
        return SquareCBState(ridge=ridge, t=state.t + 1)

    return Policy("squarecb", K, d, SquareCBHParams(), init, select, update)
