"""Uniform random policy: every available action with equal probability."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import uniform_over
from bandits.policies.registry import register


class RandomHParams(NamedTuple):
    """No tunable knobs; the empty tuple keeps the protocol uniform."""


class RandomState(NamedTuple):
    t: jnp.ndarray  # () int32 rounds seen


@register("random", hparams=RandomHParams, traits=("context_free",))
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


def uniform_slate_policy(num_actions: int, len_list: int, context_dim: int = 1, dtype=jnp.float32) -> Policy:
    """Uniformly random slates of ``len_list`` distinct available items; exact probs ``(K, L)``
    (``1 / n_available`` for every available item in every slot), the OBD ``random`` logger."""
    K, L = int(num_actions), int(len_list)

    def init(key, hparams):
        return jnp.zeros((), jnp.int32)

    def select(key, state, context, mask, hparams):
        u = jax.random.uniform(key, (K,), dtype=dtype)
        u = jnp.where(mask, u, -1.0)
        action = jax.lax.top_k(u, L)[1].astype(jnp.int32)
        m = mask.astype(dtype)
        probs = jnp.broadcast_to((m / jnp.sum(m))[:, None], (K, L))
        if L == 1:
            return Decision(action[0], probs[:, 0])
        return Decision(action, probs)

    def update(state, context, action, reward, hparams):
        return state + 1

    return Policy("uniform_slate", K, int(context_dim), RandomHParams(), init, select, update, L)
