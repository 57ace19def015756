"""The Policy protocol: pure functions over a state pytree, full action probabilities.

A policy is a :class:`Policy` (a NamedTuple of pure functions, in the spirit of optax).
Static sizes (``num_actions``, ``context_dim``, dtype, Monte Carlo sample counts) are fixed when
the policy is built by its constructor (e.g. ``bandits.policies.linucb(num_actions=10,
context_dim=10)``); numeric knobs (``alpha``, ``epsilon``, ...) live in an ``hparams`` NamedTuple
of scalars that is passed to every call as a *traced* value, so a grid of hyperparameters is a
``jax.vmap`` away and a new value never recompiles.

All functions act on ONE round of ONE member (rlax style); callers ``vmap`` over seeds, grids or
logged rows.

``init(key, hparams) -> state``
    ``key``: PRNG key. ``state``: any pytree of arrays.
``select(key, state, context, mask, hparams) -> Decision``
    ``context``: ``(context_dim,)`` float; ``mask``: ``(num_actions,)`` bool, True = available.
    Returns the chosen action and the full probability vector over actions (ties split evenly,
    masked actions get exactly 0). Thompson-sampling style policies, whose probabilities have no
    closed form, estimate them by Monte Carlo with a static sample count set at construction
    (documented per policy).
``update(state, context, action, reward, hparams) -> state``
    ``action``: ``()`` int32; ``reward``: ``()`` float.

Slate policies (several slots per round, ``len_list`` = L) follow the same protocol with
``Decision.action`` of shape ``(L,)`` and ``Decision.probs`` of shape ``(num_actions, L)`` (the
marginal probability that each action is shown in each slot: obp's ``action_dist`` layout), and
``update`` receiving ``action (L,)`` and ``reward (L,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
PRNGKey = jax.Array
PolicyState = Any
HParams = Any  # a NamedTuple of scalars (python floats for defaults, traced arrays inside jit)


class Decision(NamedTuple):
    """What ``select`` returns.

    action: ``()`` int32 (or ``(len_list,)`` for slate policies).
    probs: ``(num_actions,)`` float, non-negative, sums to 1, exactly 0 where ``mask`` is False
        (or ``(num_actions, len_list)``: each column sums to 1).
    """

    action: Array
    probs: Array


class Policy(NamedTuple):
    """A bandit policy as pure functions (see the module docstring for the contract).

    name: registry name, e.g. ``"linucb"``.
    num_actions: K, static.
    context_dim: d, static (0 for context-free policies is not used: they accept and ignore a
        context of any static shape ``(d,)``).
    default_hparams: NamedTuple of python floats; ``hparams`` passed to the functions has the same
        structure with (possibly traced) array leaves.
    init, select, update: the pure functions.
    len_list: number of slots a decision fills (1 for single-action policies).
    """

    name: str
    num_actions: int
    context_dim: int
    default_hparams: HParams
    init: Callable[..., PolicyState]
    select: Callable[..., Decision]
    update: Callable[..., PolicyState]
    len_list: int = 1

    def hparams(self, **overrides: Any) -> HParams:
        """Default hyperparameters with ``overrides`` applied; unknown names raise ``TypeError``."""
        fields = type(self.default_hparams)._fields
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise TypeError(
                f"policy {self.name!r}: unknown hyperparameter(s) {unknown}; expected some of {list(fields)}"
            )
        return self.default_hparams._replace(**overrides)


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
