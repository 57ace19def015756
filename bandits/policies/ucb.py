"""UCB1 (Auer, Cesa-Bianchi, Fischer 2002) with an exploration multiplier.

Every available arm never pulled is played first (ties among them split evenly); afterwards

    score_a = mean_a + alpha * sqrt(2 ln(t) / n_a),     t = total pulls so far,

and the best available score is played (ties split evenly). ``alpha = 1`` is UCB1.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import one_hot, tie_split
from bandits.policies.epsilon_greedy import MeanState
from bandits.policies.registry import register


class UCB1HParams(NamedTuple):
    """alpha: multiplier of the exploration bonus (>= 0; 1 = UCB1)."""

    alpha: float = 1.0


@register("ucb1", hparams=UCB1HParams, rules={"alpha": V.NONNEGATIVE}, traits=("context_free",),
          cli_defaults={"alpha": 1.0})
def ucb1(num_actions: int, context_dim: int = 1, dtype=jnp.float32, alpha: float = 1.0) -> Policy:
    """Context-free UCB1. State: :class:`~bandits.policies.epsilon_greedy.MeanState`."""
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    defaults = UCB1HParams(float(alpha))
    V.check_hparam_defaults("ucb1", defaults)

    def init(key, hparams) -> MeanState:
        z = jnp.zeros((K,), dt)
        return MeanState(counts=z, sums=z)

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_mask_shape(mask, K, "ucb1")
        n = state.counts
        t = jnp.sum(n)
        safe_n = jnp.maximum(n, 1)
        bonus = jnp.sqrt(2 * jnp.log(jnp.maximum(t, 1)) / safe_n)
        scores = state.sums / safe_n + jnp.asarray(hparams.alpha, dt) * bonus
        scores = jnp.where(n > 0, scores, jnp.asarray(jnp.inf, dt))
        probs = tie_split(scores, mask)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> MeanState:
        oh = one_hot(action, K, dt)
        return MeanState(counts=state.counts + oh, sums=state.sums + oh * jnp.asarray(reward, dt))

    return Policy("ucb1", K, d, defaults, init, select, update)
