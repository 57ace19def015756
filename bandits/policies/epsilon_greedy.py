"""Epsilon-greedy: context-free (sample means) and linear (per-arm ridge regression).

Both play the greedy action with probability ``1 - epsilon`` (ties among maximisers split evenly)
and a uniformly random available action with probability ``epsilon``, so

    probs = (1 - epsilon) * tie_split(greedy scores, mask) + epsilon * mask / mask.sum().
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import (
    RidgeState,
    one_hot,
    ridge_init,
    ridge_update,
    tie_split,
    uniform_over,
)
from bandits.policies.registry import register


class EpsilonGreedyHParams(NamedTuple):
    """epsilon: exploration probability in [0, 1]; initial_value: score of an arm never pulled."""

    epsilon: float = 0.1
    initial_value: float = 0.0


class MeanState(NamedTuple):
    """counts: ``(K,)`` pulls per arm; sums: ``(K,)`` reward sums; both dtype."""

    counts: jax.Array
    sums: jax.Array


def _mix(greedy: jax.Array, mask: jax.Array, eps: jax.Array, dtype) -> jax.Array:
    return (1 - eps) * greedy + eps * uniform_over(mask, dtype)


@register("epsilon_greedy", hparams=EpsilonGreedyHParams, rules={"epsilon": V.UNIT, "initial_value": V.Interval()},
          traits=("context_free",), cli_defaults={"epsilon": 0.1})
def epsilon_greedy(num_actions: int, context_dim: int = 1, dtype=jnp.float32, epsilon: float = 0.1,
                   initial_value: float = 0.0) -> Policy:
    """Context-free epsilon-greedy on per-arm sample means (context accepted and ignored).

    Greedy score of arm a: ``sums_a / counts_a``, or ``initial_value`` while ``counts_a == 0``.
    State: :class:`MeanState`.
    """
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    defaults = EpsilonGreedyHParams(float(epsilon), float(initial_value))
    V.check_hparam_defaults("epsilon_greedy", defaults)

    def init(key, hparams) -> MeanState:
        z = jnp.zeros((K,), dt)
        return MeanState(counts=z, sums=z)

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_mask_shape(mask, K, "epsilon_greedy")
        iv = jnp.asarray(hparams.initial_value, dt)
        means = jnp.where(state.counts > 0, state.sums / jnp.maximum(state.counts, 1), iv)
        probs = _mix(tie_split(means, mask), mask, jnp.asarray(hparams.epsilon, dt), dt)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> MeanState:
        oh = one_hot(action, K, dt)
        return MeanState(counts=state.counts + oh, sums=state.sums + oh * jnp.asarray(reward, dt))

    return Policy("epsilon_greedy", K, d, defaults, init, select, update)


class LinEpsilonGreedyHParams(NamedTuple):
    """epsilon: exploration probability in [0, 1]; lam: ridge regulariser (> 0)."""

    epsilon: float = 0.1
    lam: float = 1.0


@register("lin_epsilon_greedy", hparams=LinEpsilonGreedyHParams, rules={"epsilon": V.UNIT, "lam": V.POSITIVE},
          cli_defaults={"epsilon": 0.1})
def lin_epsilon_greedy(num_actions: int, context_dim: int, dtype=jnp.float32, epsilon: float = 0.1,
                       lam: float = 1.0) -> Policy:
    """Epsilon-greedy on per-arm ridge regression predictions ``x . theta_a`` (disjoint models).

    State: :class:`~bandits.policies._linalg.RidgeState`, updated rank-one like LinUCB.
    """
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    defaults = LinEpsilonGreedyHParams(float(epsilon), float(lam))
    V.check_hparam_defaults("lin_epsilon_greedy", defaults)

    def init(key, hparams) -> RidgeState:
        return ridge_init(K, d, hparams.lam, dt)

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_context_shape(context, d, "lin_epsilon_greedy")
        V.check_mask_shape(mask, K, "lin_epsilon_greedy")
        x = jnp.asarray(context, dt)
        mean = jnp.einsum("ki,i->k", state.theta, x)
        probs = _mix(tie_split(mean, mask), mask, jnp.asarray(hparams.epsilon, dt), dt)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> RidgeState:
        V.check_context_shape(context, d, "lin_epsilon_greedy")
        return ridge_update(state, jnp.asarray(context, dt), action, jnp.asarray(reward, dt))

    return Policy("lin_epsilon_greedy", K, d, defaults, init, select, update)


__all__ = ["epsilon_greedy", "lin_epsilon_greedy", "EpsilonGreedyHParams", "LinEpsilonGreedyHParams", "MeanState"]
