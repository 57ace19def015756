"""LinUCB with disjoint linear models (Li, Chu, Langford, Schapire 2010, Algorithm 1).

Arm ``a`` keeps a ridge regression ``A_a = lam I + sum x x^T``, ``b_a = sum r x``; at context ``x``

    score_a = x . theta_a + alpha * sqrt(x^T A_a^{-1} x),     theta_a = A_a^{-1} b_a

and the policy plays the best available score (ties split evenly: ``probs`` is uniform over the
maximisers, 0 elsewhere). ``A_a^{-1}`` and ``theta_a`` are updated rank-one (see
:mod:`bandits.policies._linalg`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import RidgeState, ridge_init, ridge_scores, ridge_update, tie_split
from bandits.policies.registry import register


class LinUCBHParams(NamedTuple):
    """alpha: exploration width (>= 0); lam: ridge regulariser (> 0), the prior ``A_a = lam I``."""

    alpha: float = 1.0
    lam: float = 1.0


@register("linucb", hparams=LinUCBHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE},
          cli_defaults={"alpha": 1.0})
def linucb(num_actions: int, context_dim: int, dtype=jnp.float32, alpha: float = 1.0, lam: float = 1.0) -> Policy:
    """Disjoint LinUCB over ``num_actions`` arms and ``context_dim`` features.

    State: :class:`~bandits.policies._linalg.RidgeState` (``cov_tri (K,d(d+1)/2)``, ``theta (K,d)``,
    ``counts (K,)``), all ``dtype``. ``alpha``/``lam`` set the default hyperparameters.
    """
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    defaults = LinUCBHParams(float(alpha), float(lam))
    V.check_hparam_defaults("linucb", defaults)

    def init(key, hparams) -> RidgeState:
        return ridge_init(K, d, hparams.lam, dt)

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_context_shape(context, d, "linucb")
        V.check_mask_shape(mask, K, "linucb")
        x = jnp.asarray(context, dt)
        mean, quad = ridge_scores(state, x)
        scores = mean + jnp.asarray(hparams.alpha, dt) * jnp.sqrt(quad)
        probs = tie_split(scores, mask)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> RidgeState:
        V.check_context_shape(context, d, "linucb")
        return ridge_update(state, jnp.asarray(context, dt), action, jnp.asarray(reward, dt))

    return Policy("linucb", K, d, defaults, init, select, update)
