"""Thompson sampling: shared Monte Carlo probability estimator and Beta-Bernoulli TS.

Probabilities by Monte Carlo (used by ``bernoulli_ts`` and ``lints``). Thompson sampling plays the
argmax of one posterior draw; its probability of each action has no closed form. With a static
sample count ``M = num_samples`` fixed at construction, ``select``

1. draws sample 0 of every arm's score from key stream ``fold_in(key, 0)`` and plays its argmax
   (ties among maximisers broken uniformly with ``fold_in(key, 2)``,
   :func:`bandits.core.argmax_random_ties`): the action is an exact Thompson-sampling draw
   whatever ``M`` is;
2. draws ``M - 1`` further independent samples from ``fold_in(key, 1)`` and reports
   ``probs[a] = (1/M) sum_j tie_split(argmax of sample j)[a]`` over all ``M`` samples.

By exchangeability this is the same as drawing ``M`` samples and playing the argmax of a uniformly
chosen one, so ``probs[action]`` is EXACTLY the probability of the played action given the
(unordered) ``M`` draws; ``E[probs] =`` the true Thompson probabilities, with per-entry standard
error ``sqrt(p (1 - p) / M)``. Logged ``pscore`` values are therefore exact propensities for
off-policy evaluation (the extra draws are independent of the reward). When a caller does not use
``probs`` (e.g. a rollout that does not log), XLA's dead-code elimination removes step 2 entirely
and a round costs one posterior draw per arm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import argmax_random_ties
from bandits.policies._linalg import one_hot, tie_split
from bandits.policies._sampling import beta_logit_sample
from bandits.policies.registry import register

DEFAULT_NUM_SAMPLES = 100


def ts_decision(key, sample_scores: Callable, mask, num_samples: int, dtype) -> Decision:
    """Thompson decision with Monte Carlo probabilities (see the module docstring).

    sample_scores(key, n) -> ``(n, K)`` independent posterior score draws. Returns
    ``Decision(action () int32, probs (K,) dtype)``.
    """
    s0 = sample_scores(jax.random.fold_in(key, 0), 1)[0]
    p0 = tie_split(s0, mask)
    action = argmax_random_ties(jax.random.fold_in(key, 2), s0, mask)
    if num_samples == 1:
        return Decision(action=action, probs=p0)
    rest = sample_scores(jax.random.fold_in(key, 1), num_samples - 1)
    probs = (p0 + jnp.sum(tie_split(rest, mask), axis=0)) / jnp.asarray(num_samples, dtype)
    return Decision(action=action, probs=probs.astype(dtype))


class BernoulliTSHParams(NamedTuple):
    """No traced knobs: the prior is per arm, given to the constructor or placed in the state."""


class BetaState(NamedTuple):
    """Posterior Beta parameters per arm, ``(K,)`` dtype: ``alpha = alpha0 + sum r``,
    ``beta = beta0 + sum (1 - r)``. Replace them in an initial state to give members other priors."""

    alpha: jax.Array
    beta: jax.Array


@register("bernoulli_ts", hparams=BernoulliTSHParams, traits=("context_free",))
def bernoulli_ts(num_actions: int, context_dim: int = 1, dtype=jnp.float32, alpha0=1.0, beta0=1.0,
                 num_samples: int = DEFAULT_NUM_SAMPLES) -> Policy:
    """Beta-Bernoulli Thompson sampling (context accepted and ignored).

    alpha0, beta0: prior, a positive scalar or ``(num_actions,)`` array (static; copied into the
    initial :class:`BetaState`). Rewards are expected in [0, 1] (fractional rewards update
    ``alpha += r, beta += 1 - r``). num_samples: Monte Carlo samples for ``probs`` (static).
    """
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    M = V.check_positive_int(num_samples, "num_samples")
    a0 = V.check_prior(alpha0, "alpha0", K)
    b0 = V.check_prior(beta0, "beta0", K)

    def init(key, hparams) -> BetaState:
        return BetaState(alpha=jnp.asarray(a0, dt), beta=jnp.asarray(b0, dt))

    def select(key, state, context, mask, hparams) -> Decision:
        V.check_mask_shape(mask, K, "bernoulli_ts")

        def sample_scores(k, n):  # logits of the Beta draws: same ranking, never NaN
            return beta_logit_sample(k, state.alpha, state.beta, (n, K), dt)

        return ts_decision(key, sample_scores, mask, M, dt)

    def update(state, context, action, reward, hparams) -> BetaState:
        oh = one_hot(action, K, dt)
        r = jnp.asarray(reward, dt)
        return BetaState(alpha=state.alpha + oh * r, beta=state.beta + oh * (1 - r))

    return Policy("bernoulli_ts", K, d, BernoulliTSHParams(), init, select, update)


__all__ = ["ts_decision", "bernoulli_ts", "BetaState", "BernoulliTSHParams", "DEFAULT_NUM_SAMPLES"]
