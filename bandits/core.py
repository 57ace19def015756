"""Helpers every policy shares: tie splitting, greedy choice with even ties, sampling from ``probs``.

The policy protocol itself (:class:`~bandits.contracts.Policy`, :class:`~bandits.contracts.Decision`)
lives in :mod:`bandits.contracts`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bandits.contracts import Array, PRNGKey


def tie_split(scores: Array, mask: Array) -> Array:
    """Uniform distribution over the maximisers of ``scores`` among available actions.

    scores: ``(..., K)`` float; mask: ``(K,)`` or ``(..., K)`` bool. Returns ``(..., K)`` in
    ``scores.dtype``: exactly 0 on masked actions and non-maximisers, rows sum to 1 (all 0 if a
    row has no available action: see :func:`bandits.validation.validate_mask`).
    """
    neg_inf = jnp.asarray(-jnp.inf, scores.dtype)
    masked = jnp.where(mask, scores, neg_inf)
    best = jnp.max(masked, axis=-1, keepdims=True)
    is_best = mask & (masked >= best)
    cnt = jnp.sum(is_best, axis=-1, keepdims=True).astype(scores.dtype)
    return is_best.astype(scores.dtype) / jnp.maximum(cnt, 1)


def split_ties_argmax(scores: Array, mask: Array, key: PRNGKey | None = None) -> tuple[Array, Array]:
    """Greedy choice over available actions with ties split evenly.

    scores: ``(K,)`` float; mask: ``(K,)`` bool.
    Returns ``(action () int32, probs (K,))``: ``probs`` is :func:`tie_split` (uniform over the
    maximisers among the available actions). With ``key`` the action is drawn from ``probs`` by
    :func:`sample_from_probs`; without it the first maximiser is taken (deterministic).
    """
    probs = tie_split(scores, mask)
    if key is None:
        action = jnp.argmax(probs > 0).astype(jnp.int32)
    else:
        action = sample_from_probs(key, probs)
    return action, probs


def sample_from_probs(key: PRNGKey, probs: Array) -> Array:
    """Draw one action index from ``probs (K,)``; returns ``() int32``.

    Uses inverse-CDF sampling with a single uniform, so the draw is cheap under vmap.
    """
    u = jax.random.uniform(key, (), dtype=probs.dtype)
    cdf = jnp.cumsum(probs)
    idx = jnp.sum(cdf <= u * cdf[-1])
    # guard against round-off pushing idx past the last action with positive mass
    last = probs.shape[0] - 1 - jnp.argmax((probs > 0)[::-1])
    return jnp.minimum(idx, last).astype(jnp.int32)


def argmax_random_ties(key: PRNGKey, scores: Array, mask: Array) -> Array:
    """Index of the best available score, ties broken uniformly at random; ``() int32``.

    scores: ``(K,)`` float; mask: ``(K,)`` bool. Among the maximisers, the one with the smallest
    of ``K`` independent uniforms wins (every maximiser equally likely). Built from max/min
    reductions only: no ``argmax`` (a variadic reduction that XLA:CPU does not vectorise) and no
    cumulative sum, the two costly parts of :func:`split_ties_argmax` under ``vmap``. The uniforms
    (``fold_in(key, 0)``) are drawn only when some maximiser is tied, inside a ``while_loop`` that
    runs at most once (under ``vmap``: when some member has a tie); a unique maximiser is returned
    without them. Continuous scores (Thompson draws) are almost never tied, so a round then costs
    no random words here. With no available action it returns ``K - 1``, as
    :func:`sample_from_probs` does on all-zero ``probs``.
    """
    K = scores.shape[-1]
    neg_inf = jnp.asarray(-jnp.inf, scores.dtype)
    masked = jnp.where(mask, scores, neg_inf)
    is_best = mask & (masked >= jnp.max(masked))
    iota = jnp.arange(K, dtype=jnp.int32)
    first = jnp.min(jnp.where(is_best, iota, K - 1))
    tied = jnp.max(jnp.where(is_best, iota, -1)) > first

    def draw(carry):  # the key depends on the loop counter so that XLA cannot hoist the draws out of the loop
        _, i = carry
        u = jax.random.uniform(jax.random.fold_in(key, i), (K,), scores.dtype)
        umin = jnp.min(jnp.where(is_best, u, 2))
        return jnp.min(jnp.where(is_best & (u <= umin), iota, K - 1)), i + 1

    return jax.lax.while_loop(lambda c: tied & (c[1] == 0), draw, (first, jnp.zeros((), jnp.int32)))[0].astype(jnp.int32)
