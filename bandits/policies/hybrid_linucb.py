"""Hybrid LinUCB (Li, Chu, Langford and Schapire 2010, Algorithm 2): shared plus per-item features.

Expected reward of item ``a`` for a member with context ``x (d,)``::

    E[r | x, a] = z_a^T beta + x^T theta_a,       z_a = vec(x outer phi_a)  (k = d * p,)

``phi_a (p,)`` are item features (genre, type, embedding...). ``beta (k,)`` is SHARED by all items,
so what the model learns on existing titles transfers to a new title through its features on the
very first impression; ``theta_a (d,)`` is the item's own correction, learned from its own data
(Li et al. found the hybrid model best when data are sparse, i.e. cold start). Put a constant 1 in
``x`` (or in ``phi``) to get main effects of ``phi`` (or of ``x``).

The model is one joint ridge regression with penalty ``lam`` on ``[beta, theta_1..theta_K]``;
Algorithm 2 solves it by block elimination (``A0 (k,k)``, ``b0 (k,)`` shared; ``A_a (d,d)``,
``B_a (d,k)``, ``b_a (d,)`` per item). The score is ``z^T beta_hat + x^T theta_hat_a + alpha *
sqrt(s_a)`` with ``s_a`` the joint posterior variance (tests check both against Algorithm 2 and the
joint ridge solution).

How it is computed (the same numbers as Algorithm 2). While an item keeps its features ``phi_a``,
``B_a = sum x z^T = (A_a - lam I) (x) phi_a^T`` (Kronecker), so with ``u_a = A_a^-1 x``:

* ``z_a - B_a^T A_a^-1 x = lam q_a`` with ``q_a = u_a (x) phi_a`` ``(k,)``, hence
  ``s_a = lam^2 q_a^T A0^-1 q_a + x^T u_a``: all items' ``A0^-1 q_a`` are one ``(K, k) x (k, k)``
  matrix product per round (``O(K d^2 + K k^2)`` for the select, no per-item state besides
  ``A_a^-1`` and ``b_a``);
* the prediction is ``u_a^T (b_a + lam C phi_a)``, ``C (d, p)`` being ``beta_hat`` reshaped;
* one update of item ``a`` changes ``A0`` by the rank-one ``w w^T / c`` and ``b0`` by
  ``(r - x^T A_a^-1 b_a) w / c`` with ``w = lam q_a``, ``c = 1 + x^T u_a``.

The state keeps ``A0^-1``, ``beta_hat`` and every ``A_a^-1`` and ``b_a``; an update is
Sherman-Morrison steps on ``A0^-1`` (with the matching step of ``beta_hat``) and on the chosen
item's ``A_a^-1`` (gathered and scattered alone), ``O(k^2 + d^2)``. Nothing is factorised.

Item features live in the policy STATE (``state.item_features (K, p)``), initialised from the
constructor's ``item_features``; replace them (``state._replace(item_features=...)``) when a
living catalog fills a slot with a new title. A slot whose features differ from those its
statistics were gathered under (``state.stat_features``) holds a NEW title: it is scored as an
item with no data of its own (``A_a = lam I``, ``b_a = 0``) from that round on, and its first
update restarts its own statistics. ``A0``, ``b0`` keep what the previous title taught about
``beta``, so this is exactly the joint ridge regression in which the previous title is a separate
item that is no longer shown. Default: ``ones((K, 1))``, i.e. ``z = x``: a context effect shared by all
items plus per-item corrections.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import argmax_random_ties
from bandits.policies._linalg import tie_split
from bandits.policies.nonstationary import check_sizes
from bandits.policies.registry import register


class HybridLinUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge penalty (> 0) on beta and every theta_a."""

    alpha: float = 1.0
    lam: float = 1.0


class HybridLinUCBState(NamedTuple):
    """Hybrid LinUCB statistics, all in the policy's dtype (see the module docstring).

    A0_inv: (k, k) ``A0^-1``; beta: (k,) ``beta_hat = A0^-1 b0``; A_inv: (K, d, d) every
    ``A_a^-1``; b: (K, d) every ``b_a``;
    stat_features: (K, p) the features each item's statistics were gathered under;
    item_features: (K, p) the current features; lam: () the ridge penalty; t: () int32 rounds.
    """

    A0_inv: jax.Array
    beta: jax.Array
    A_inv: jax.Array
    b: jax.Array
    stat_features: jax.Array
    item_features: jax.Array
    lam: jax.Array
    t: jax.Array


def validate_item_features(name: str, item_features, num_actions: int, dtype) -> np.ndarray:
    """Eager check of an ``item_features (K, p)`` argument; ``None`` -> ``ones((K, 1))``."""
    if item_features is None:
        return np.ones((num_actions, 1))
    arr = np.asarray(item_features, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != num_actions or arr.shape[1] < 1:
        raise ValueError(
            f"{name}: item_features: expected shape (num_actions={num_actions}, p>=1), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: item_features: expected finite values, got NaN or inf")
    return arr


def shared_features(x: jax.Array, item_features: jax.Array) -> jax.Array:
    """``z_a = vec(x outer phi_a)`` for every item: x (d,), item_features (K, p) -> (K, d * p)."""
    return (x[None, :, None] * item_features[:, None, :]).reshape(item_features.shape[0], -1)


@register("hybrid_linucb", hparams=HybridLinUCBHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE},
          needs=("item_features",))
def hybrid_linucb(num_actions: int, context_dim: int, dtype=jnp.float32, item_features=None) -> Policy:
    """Hybrid LinUCB; see the module docstring. probs: UCB argmax, ties split evenly."""
    K, d = check_sizes("hybrid_linucb", num_actions, context_dim, dtype)
    feats = validate_item_features("hybrid_linucb", item_features, K, dtype)
    p = feats.shape[1]
    k = d * p

    def init(key, hparams):
        lam = jnp.asarray(hparams.lam, dtype)
        phi = jnp.asarray(feats, dtype)
        return HybridLinUCBState(
            A0_inv=jnp.eye(k, dtype=dtype) / lam, beta=jnp.zeros((k,), dtype),
            A_inv=jnp.broadcast_to(jnp.eye(d, dtype=dtype) / lam, (K, d, d)), b=jnp.zeros((K, d), dtype),
            stat_features=phi, item_features=phi, lam=lam, t=jnp.zeros((), jnp.int32),
        )

    def select(key, state, context, mask, hparams):
        mean, s = hybrid_mean_and_variance(state, context)
        ucb = mean + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(s, 0))
        return Decision(action=argmax_random_ties(key, ucb, mask), probs=tie_split(ucb, mask))

    def update(state, context, action, reward, hparams):
        return hybrid_update(state, jnp.asarray(context, dtype), action, jnp.asarray(reward, dtype))

    return Policy("hybrid_linucb", K, d, HybridLinUCBHParams(), init, select, update)


def _stale(state: HybridLinUCBState) -> jax.Array:
    """(K,) bool: items whose current features differ from their statistics' (a new title)."""
    return jnp.any(state.item_features != state.stat_features, axis=-1)


def hybrid_update(state: HybridLinUCBState, x: jax.Array, action, reward) -> HybridLinUCBState:
    """Algorithm 2's update of item ``action`` with context ``x (d,)`` and ``reward ()``, in
    ``O(k^2 + d^2)``: rank-one steps on ``A0^-1`` and ``beta_hat``, and on the chosen ``A_a^-1``."""
    dtype = state.b.dtype
    d = state.b.shape[-1]
    a = jnp.asarray(action, jnp.int32)
    take = functools.partial(jax.lax.dynamic_index_in_dim, index=a, axis=0, keepdims=False)
    put = functools.partial(jax.lax.dynamic_update_index_in_dim, index=a, axis=0)
    lam = state.lam
    phi = take(state.item_features)
    new_title = jnp.any(phi != take(state.stat_features))
    # a new title in the slot starts its own statistics (see the module docstring)
    P = jnp.where(new_title, jnp.eye(d, dtype=dtype) / lam, take(state.A_inv))
    ba = jnp.where(new_title, 0, take(state.b))
    u = P @ x
    c = 1 + jnp.maximum(u @ x, 0)
    y = u @ ba
    w = lam * (u[:, None] * phi[None, :]).reshape(-1)  # z - B_a^T A_a^-1 x, (k,)
    g = state.A0_inv @ w
    den = c + jnp.maximum(w @ g, 0)
    # A0 += w w^T / c and b0 += (r - y) w / c, so beta_hat = A0^-1 b0 moves along g = A0^-1 w
    return state._replace(
        A0_inv=state.A0_inv - jnp.outer(g, g) / den, beta=state.beta + g * ((reward - y - w @ state.beta) / den),
        A_inv=put(state.A_inv, P - jnp.outer(u, u) / c), b=put(state.b, ba + reward * x),
        stat_features=put(state.stat_features, phi), t=state.t + 1,
    )


def hybrid_mean_and_variance(state: HybridLinUCBState, context) -> tuple[jax.Array, jax.Array]:
    """Joint-ridge prediction ``z_a^T beta + x^T theta_a`` and variance factor ``s_a`` for every item.

    state: a :class:`HybridLinUCBState`; context: (d,). Returns ``(mean (K,), s (K,))`` in the
    state's dtype, with ``s_a = (z_a - v_a)^T A0^-1 (z_a - v_a) + x^T A_a^-1 x``,
    ``v_a = B_a^T A_a^-1 x`` (Algorithm 2's ``s_{t,a}`` after collecting terms), computed through
    the Kronecker structure of the module docstring: ``s_a = lam^2 q_a^T A0^-1 q_a + x^T u_a`` with
    ``q_a = u_a (x) phi_a``, all items' ``A0^-1 q_a`` in one ``(K, k) x (k, k)`` product.
    """
    dtype = state.b.dtype
    K, d = state.b.shape
    x = jnp.asarray(context, dtype)
    lam = state.lam
    # a new title (features changed since its statistics) has no data of its own: A_a = lam I,
    # b_a = 0, under its current features (for the other items current = statistics' features)
    stale = _stale(state)[:, None]
    u = jnp.where(stale, x / lam, jnp.einsum("kij,j->ki", state.A_inv, x))  # A_a^-1 x
    b = jnp.where(stale, 0, state.b)
    phi = state.item_features
    C = state.beta.reshape(d, -1)  # beta_hat as (d, p)
    mean = jnp.sum(u * (b + lam * (phi @ C.T)), axis=-1)
    q = (u[:, :, None] * phi[:, None, :]).reshape(K, -1)  # (K, k)
    s = lam * lam * jnp.sum((q @ state.A0_inv) * q, axis=-1) + u @ x
    return mean, s
