"""Shared numerics of the linear (disjoint ridge) policies and the tie-splitting helpers.

Per-arm ridge regression, arm ``a`` with design ``A_a = lam I + sum x x^T`` and
``b_a = sum r x``, is kept as

* ``cov``   ``(K, d, d)``: ``P_a = A_a^{-1}`` (symmetric), updated by Sherman-Morrison;
* ``theta`` ``(K, d)``: ``theta_a = P_a b_a``, updated by the recursive-least-squares step
  ``theta_a += P_a' x (r - x . theta_a)`` with ``P_a' x = P_a x / (1 + x^T P_a x)``.

One round costs ``O(K d^2)`` for the quadratic forms of every arm (one batched mat-vec,
:func:`ridge_scores`) and ``O(K d^2)`` for the chosen arm's rank-one update, written as a one-hot
blend over arms (a dense, fusable, in-place elementwise op; no scatter, which ``vmap`` over seeds
would turn into a slow batched scatter). ``select`` and ``update`` compute ``P @ x`` with the same
expression on the same operands, so inside one scan body XLA's common-subexpression elimination
computes it once.

Numerics. The Sherman-Morrison step is written so that symmetry is exact in any precision
(``u u^T`` is bitwise symmetric) and ``1 + x^T P x >= 1``; the quadratic form is clamped at 0
before the square root. The float32 drift over 10^6 rounds against the same recursion in float64
is measured in ``tests/test_policies_drift.py`` (stated tolerance there and in docs/policies.md).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits.core import tie_split  # noqa: F401  (re-exported: the policies' tie-splitting)

Array = jax.Array


class RidgeState(NamedTuple):
    """Per-arm ridge regression state.

    cov: ``(K, d, d)`` dtype, ``A_a^{-1}``.
    theta: ``(K, d)`` dtype, ridge estimate ``A_a^{-1} b_a``.
    counts: ``(K,)`` dtype, number of updates of each arm.
    """

    cov: Array
    theta: Array
    counts: Array


def ridge_init(num_actions: int, context_dim: int, lam, dtype) -> RidgeState:
    """Prior ``A_a = lam I`` for every arm. ``lam``: () positive (may be traced)."""
    lam = jnp.asarray(lam, dtype)
    eye = jnp.eye(context_dim, dtype=dtype)
    cov = jnp.broadcast_to(eye / lam, (num_actions, context_dim, context_dim))
    return RidgeState(
        cov=cov,
        theta=jnp.zeros((num_actions, context_dim), dtype),
        counts=jnp.zeros((num_actions,), dtype),
    )


def cov_times_x(cov: Array, x: Array) -> Array:
    """``P_a x`` for every arm: ``(K, d, d) x (d,) -> (K, d)``.

    The single expression used by both ``select`` and ``update`` so that XLA CSE shares it.
    """
    return jnp.einsum("kij,j->ki", cov, x)


def ridge_scores(state: RidgeState, x: Array) -> tuple[Array, Array]:
    """Mean and variance factor of every arm at context ``x``.

    Returns ``(mean (K,), quad (K,))`` with ``mean_a = x . theta_a`` and ``quad_a = x^T P_a x >= 0``.
    """
    u_all = cov_times_x(state.cov, x)
    quad = jnp.maximum(jnp.einsum("ki,i->k", u_all, x), 0)
    mean = jnp.einsum("ki,i->k", state.theta, x)
    return mean, quad


def one_hot(action: Array, num_actions: int, dtype) -> Array:
    """``(K,)`` dtype one-hot of a () int action (no scatter)."""
    return (jnp.arange(num_actions, dtype=jnp.int32) == action).astype(dtype)


def ridge_update(state: RidgeState, x: Array, action: Array, reward: Array) -> RidgeState:
    """Rank-one update of arm ``action`` with ``(x (d,), reward ())``; other arms unchanged (bitwise)."""
    K = state.theta.shape[0]
    dtype = state.theta.dtype
    oh = one_hot(action, K, dtype)
    u_all = cov_times_x(state.cov, x)  # (K, d), shared with select by CSE
    u = oh @ u_all  # P_a x
    den = 1 + jnp.maximum(u @ x, 0)
    theta_a = oh @ state.theta
    err = reward - theta_a @ x
    gain = u / den  # A_a'^{-1} x
    ohb = oh.astype(bool)
    cov = jnp.where(ohb[:, None, None], state.cov - (gain[:, None] * u[None, :])[None], state.cov)
    theta = jnp.where(ohb[:, None], state.theta + (gain * err)[None, :], state.theta)
    return RidgeState(cov=cov, theta=theta, counts=state.counts + oh)


# --------------------------------------------------------------------------- ties


def uniform_over(mask: Array, dtype) -> Array:
    """``(K,)`` uniform distribution over available actions (all 0 if none is available)."""
    m = mask.astype(dtype)
    return m / jnp.maximum(jnp.sum(m), 1)
