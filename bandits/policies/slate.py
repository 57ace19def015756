"""Slate (top-k) policies: ``len_list`` slots per round with exact per-slot probabilities.

``select`` returns ``Decision(action (L,) int32, probs (K, L))``: ``action[l]`` is the item shown
in slot ``l`` (slot 0 = top of the row) and ``probs[a, l]`` the marginal probability that item
``a`` is shown in slot ``l`` (obp's ``action_dist[i]`` layout; each column sums to 1, a row sums to
the probability that the item is shown at all). ``update`` takes ``action (L,)`` and per-slot
``reward (L,)``.

Position effects (the position-based model, PBM). The reward of item ``a`` in slot ``l`` is
``kappa_l * f(x, a)``: the member examines slot ``l`` with probability ``kappa_l`` (the
``position_weights``, non-increasing, slot 0 first) and then responds to the item. This is
respected in two places:

* learning: a click in slot ``l`` is evidence about ``f`` scaled by ``kappa_l``, so each slot's
  observation enters the ridge model of its item with feature ``kappa_l x`` and target ``r_l``
  (the least-squares fit of ``r_l ~ kappa_l x^T theta_a``); a miss in a rarely examined slot
  therefore counts for little;
* ranking: with ``kappa`` non-increasing, sorting items by ``f`` (or its optimistic / sampled
  version) and filling slots in order maximises the expected slate reward (rearrangement
  inequality), which is what the policies do.

``position_weights`` are validated at construction and kept in the state
(``state.position_weights (L,)``), so a calibrated simulator's learned position effect can be
dropped in. Default: all ones (no position effect).

Policies (ties in the ranking are broken uniformly at random and the probabilities account for it
exactly: an item tied with ``g - 1`` others just below ``n`` better items is in each of slots
``n .. n+g-1`` with probability ``1/g``):

* ``slate_linucb``: rank by ``x^T theta_a + alpha sqrt(x^T A_a^-1 x)``; probs exact.
* ``slate_epsilon_greedy``: with probability ``1 - epsilon`` the greedy ranking by ``x^T theta_a``,
  otherwise a uniformly random ordering of the available items; probs exact
  (``(1 - eps) greedy + eps / n_available``).
* ``slate_lints``: rank by a posterior draw ``N(x^T theta_a, nu^2 x^T A_a^-1 x)``; probs are the
  average of the exact tie-aware slot indicators over ``n_mc`` (static) draws; the shown slate is
  the ranking of the first draw.

At least ``len_list`` items must be available (``mask.sum() >= len_list``); with fewer, the
trailing slots are filled with unavailable items (this cannot raise inside jit; callers that build
catalogs check it).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.policies.nonstationary import check_sizes, ridge_init, ridge_mean_var
from bandits.policies.registry import register


class SlateState(NamedTuple):
    """A: (K, d, d) ridge Gram matrices; b: (K, d); position_weights: (L,); t: () int32."""

    A: jax.Array
    b: jax.Array
    position_weights: jax.Array
    t: jax.Array


class SlateLinUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge penalty (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0


class SlateLinTSHParams(NamedTuple):
    """nu: posterior scale (>= 0). lam: ridge penalty (> 0)."""

    nu: float = 0.5
    lam: float = 1.0


class SlateEpsGreedyHParams(NamedTuple):
    """epsilon: probability of a uniformly random slate, in [0, 1]. lam: ridge penalty (> 0)."""

    epsilon: float = 0.1
    lam: float = 1.0


def topk_slot_probs(scores: jax.Array, mask: jax.Array, len_list: int) -> jax.Array:
    """Exact per-slot marginals of "sort by score, ties in random order, take the top len_list".

    scores: (K,); mask: (K,) bool. Returns (K, len_list): ``probs[a, l] = 1/g_a`` for
    ``n_a <= l < n_a + g_a`` where ``n_a`` counts available items strictly better than ``a`` and
    ``g_a`` the available items tied with it (itself included); 0 for unavailable items.
    """
    dtype = scores.dtype
    s = jnp.where(mask, scores, jnp.asarray(-jnp.inf, dtype))
    avail = mask[None, :]
    better = jnp.sum(avail & (s[None, :] > s[:, None]), axis=1)
    tied = jnp.sum(avail & (s[None, :] == s[:, None]), axis=1)
    slots = jnp.arange(len_list)[None, :]
    inside = (slots >= better[:, None]) & (slots < (better + tied)[:, None]) & mask[:, None]
    return inside.astype(dtype) / jnp.maximum(tied, 1)[:, None].astype(dtype)


def topk_sample(key, scores: jax.Array, mask: jax.Array, len_list: int) -> jax.Array:
    """Top ``len_list`` available items by score, ties broken uniformly at random; (L,) int32."""
    u = jax.random.uniform(key, scores.shape, scores.dtype)
    s = jnp.where(mask, scores, jnp.asarray(-jnp.inf, scores.dtype))
    order = jnp.lexsort((u, -s, ~mask))  # last key is primary: available first, then score desc
    return order[:len_list].astype(jnp.int32)


def _validate_slate(name, num_actions, len_list, position_weights):
    if not isinstance(len_list, int | np.integer) or int(len_list) < 1:
        raise ValueError(f"{name}: len_list: expected an integer >= 1, got {len_list!r}")
    if int(len_list) > int(num_actions):
        raise ValueError(f"{name}: len_list: expected <= num_actions={num_actions}, got {len_list}")
    if position_weights is None:
        return np.ones(int(len_list))
    w = np.asarray(position_weights, dtype=np.float64)
    if w.shape != (int(len_list),):
        raise ValueError(f"{name}: position_weights: expected shape ({len_list},), got {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.diff(w) <= 0)):
        raise ValueError(
            f"{name}: position_weights: expected positive, non-increasing values (slot 0 first), got {w.tolist()}"
        )
    return w


def _slate_family(name, K, d, L, dtype, weights, hparams_default, rank):
    """Build a slate Policy from ``rank(key, mean, var, mask, hparams) -> (action (L,), probs (K, L))``."""

    def init(key, hparams):
        A, b = ridge_init(K, d, hparams.lam, dtype)
        return SlateState(A=A, b=b, position_weights=jnp.asarray(weights, dtype), t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        mean, var = ridge_mean_var(state.A, state.b, jnp.asarray(context, dtype))
        action, probs = rank(key, mean, jnp.maximum(var, 0), mask, hparams)
        return Decision(action=action, probs=probs)

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        kap = state.position_weights
        oh = jax.nn.one_hot(jnp.asarray(action, jnp.int32), K, dtype=dtype)  # (L, K)
        r = jnp.asarray(reward, dtype)
        xs = kap[:, None] * x[None, :]  # (L, d) examined features
        A = state.A + jnp.einsum("lk,li,lj->kij", oh, xs, xs)
        b = state.b + jnp.einsum("lk,l,li->ki", oh, r, xs)
        return state._replace(A=A, b=b, t=state.t + 1)

    return Policy(name, K, d, hparams_default, init, select, update, len_list=L)


@register("slate_linucb", hparams=SlateLinUCBHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE},
          traits=("slate",))
def slate_linucb(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                 position_weights=None) -> Policy:
    """Top-``len_list`` LinUCB slate; see the module docstring. probs: exact."""
    K, d = check_sizes("slate_linucb", num_actions, context_dim, dtype)
    w = _validate_slate("slate_linucb", K, len_list, position_weights)
    L = int(len_list)

    def rank(key, mean, var, mask, h):
        score = mean + jnp.asarray(h.alpha, dtype) * jnp.sqrt(var)
        return topk_sample(key, score, mask, L), topk_slot_probs(score, mask, L)

    return _slate_family("slate_linucb", K, d, L, dtype, w, SlateLinUCBHParams(), rank)


@register("slate_epsilon_greedy", hparams=SlateEpsGreedyHParams, rules={"epsilon": V.UNIT, "lam": V.POSITIVE},
          traits=("slate",))
def slate_epsilon_greedy(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                         position_weights=None) -> Policy:
    """Epsilon-greedy slate on ridge estimates; see the module docstring. probs: exact."""
    K, d = check_sizes("slate_epsilon_greedy", num_actions, context_dim, dtype)
    w = _validate_slate("slate_epsilon_greedy", K, len_list, position_weights)
    L = int(len_list)

    def rank(key, mean, var, mask, h):
        eps = jnp.asarray(h.epsilon, dtype)
        k_coin, k_rank = jax.random.split(key)
        explore = jax.random.uniform(k_coin, (), dtype) < eps
        zeros = jnp.zeros_like(mean)
        action = topk_sample(k_rank, jnp.where(explore, zeros, mean), mask, L)
        n_avail = jnp.sum(mask).astype(dtype)
        uniform = jnp.broadcast_to((mask.astype(dtype) / n_avail)[:, None], (K, L))
        probs = (1 - eps) * topk_slot_probs(mean, mask, L) + eps * uniform
        return action, probs

    return _slate_family("slate_epsilon_greedy", K, d, L, dtype, w, SlateEpsGreedyHParams(), rank)


@register("slate_lints", hparams=SlateLinTSHParams, rules={"nu": V.NONNEGATIVE, "lam": V.POSITIVE},
          traits=("slate",))
def slate_lints(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                position_weights=None, n_mc: int = 256) -> Policy:
    """Linear TS slate: rank by one posterior draw; probs averaged over ``n_mc`` (static) draws."""
    K, d = check_sizes("slate_lints", num_actions, context_dim, dtype, n_mc=n_mc)
    w = _validate_slate("slate_lints", K, len_list, position_weights)
    L = int(len_list)

    def rank(key, mean, var, mask, h):
        k_eps, k_tie = jax.random.split(key)
        std = jnp.asarray(h.nu, dtype) * jnp.sqrt(var)
        draws = mean[None, :] + std[None, :] * jax.random.normal(k_eps, (int(n_mc), K), dtype)
        probs = jnp.mean(jax.vmap(lambda s: topk_slot_probs(s, mask, L))(draws), axis=0)
        return topk_sample(k_tie, draws[0], mask, L), probs

    return _slate_family("slate_lints", K, d, L, dtype, w, SlateLinTSHParams(), rank)
