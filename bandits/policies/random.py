"""Uniform random policy: every available action with equal probability."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bandits.core import Decision, Policy, sample_from_probs
from bandits.policies import register
from bandits.policies._linalg import uniform_over


class RandomHParams(NamedTuple):
    """No tunable knobs; the empty tuple keeps the protocol uniform."""


class RandomState(NamedTuple):
    t: jnp.ndarray  # () int32 rounds seen


@register("random")
def uniform_random(num_actions: int, context_dim: int = 1, dtype=jnp.float32) -> Policy:
    """Uniform random over available actions. probs: ``mask / mask.sum()`` (all 0 on an empty mask,
    like every other policy: see :func:`bandits.validation.validate_mask`)."""
    if int(num_actions) < 1:
        raise ValueError(f"num_actions: expected an integer >= 1, got {num_actions!r}")

    def init(key, hparams):
        return RandomState(t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        probs = uniform_over(mask, dtype)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams):
        return RandomState(t=state.t + 1)

    return Policy("random", int(num_actions), int(context_dim), RandomHParams(), init, select, update)
