"""Linear Thompson sampling (Agrawal & Goyal 2013), disjoint per-arm models.

Arm ``a`` keeps the ridge posterior ``theta_a ~ N(mu_a, v^2 A_a^{-1})`` with ``A_a = lam I + sum x x^T``
and ``mu_a = A_a^{-1} sum r x``. The score of arm ``a`` at context ``x`` is ``x . theta_a``; under the
posterior it is the UNIVARIATE normal

    x . theta_a ~ N(x . mu_a, v^2 x^T A_a^{-1} x),

and the arms are independent, so a posterior draw of all K scores is K standard normals scaled
and shifted: no multivariate draw, no per-arm Cholesky factor. The quantities ``x . mu_a`` and
``x^T A_a^{-1} x`` are the ones LinUCB computes (shared code in :mod:`bandits.policies._linalg`).
Probabilities: Monte Carlo with ``num_samples`` draws, see :mod:`bandits.policies.thompson`.

Agrawal & Goyal state the algorithm with one shared parameter vector and arm-specific contexts
and ``lam = 1``; this is the disjoint-model variant (one posterior per arm), the common practice
for the K-arm contextual setting, with ``v`` as a tunable scale instead of the worst-case
``R sqrt(24 d ln(1/delta) / epsilon)`` of the analysis.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.policies._linalg import RidgeState, ridge_init, ridge_scores, ridge_update
from bandits.policies.registry import register
from bandits.policies.thompson import DEFAULT_NUM_SAMPLES, ts_decision


class LinTSHParams(NamedTuple):
    """v: posterior scale (>= 0; 0 = greedy); lam: ridge regulariser (> 0)."""

    v: float = 1.0
    lam: float = 1.0


@register("lints", hparams=LinTSHParams, rules={"v": V.NONNEGATIVE, "lam": V.POSITIVE}, aliases={"alpha": "v"},
          cli_defaults={"alpha": 1.0})
def lints(num_actions: int, context_dim: int, dtype=jnp.float32, v: float = 1.0, lam: float = 1.0,
          num_samples: int = DEFAULT_NUM_SAMPLES) -> Policy:
    """Disjoint linear Thompson sampling.

    State: :class:`~bandits.policies._linalg.RidgeState`. num_samples: Monte Carlo samples for
    ``probs`` (static; per-entry standard error ``sqrt(p (1 - p) / num_samples)``).
    """
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    M = V.check_positive_int(num_samples, "num_samples")
    defaults = LinTSHParams(float(v), float(lam))
    V.check_hparam_defaults("lints", defaults)

    def init(key, hparams) -> RidgeState:
        return ridge_init(K, d, hparams.lam, dt)

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_context_shape(context, d, "lints")
        V.check_mask_shape(mask, K, "lints")
        x = jnp.asarray(context, dt)
        mean, quad = ridge_scores(state, x)
        sd = jnp.asarray(hparams.v, dt) * jnp.sqrt(quad)

        def sample_scores(k, n):
            return mean + sd * jax.random.normal(k, (n, K), dt)

        return ts_decision(key, sample_scores, mask, M, dt)

    def update(state, context, action, reward, hparams) -> RidgeState:
        V.check_context_shape(context, d, "lints")
        return ridge_update(state, jnp.asarray(context, dt), action, jnp.asarray(reward, dt))

    return Policy("lints", K, d, defaults, init, select, update)
