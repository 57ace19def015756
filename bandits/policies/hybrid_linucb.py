"""Hybrid LinUCB (Li, Chu, Langford and Schapire 2010, Algorithm 2): shared plus per-item features.

Expected reward of item ``a`` for a member with context ``x (d,)``::

    E[r | x, a] = z_a^T beta + x^T theta_a,       z_a = vec(x outer phi_a)  (k = d * p,)

``phi_a (p,)`` are item features (genre, type, embedding...). ``beta (k,)`` is SHARED by all items,
so what the model learns on existing titles transfers to a new title through its features on the
very first impression; ``theta_a (d,)`` is the item's own correction, learned from its own data
(Li et al. found the hybrid model best when data are sparse, i.e. cold start). Put a constant 1 in
``x`` (or in ``phi``) to get main effects of ``phi`` (or of ``x``).

The statistics follow Algorithm 2 exactly (``A0 (k,k)``, ``b0 (k,)`` shared; ``A_a (d,d)``,
``B_a (d,k)``, ``b_a (d,)`` per item), which is block elimination of one joint ridge regression
with penalty ``lam`` on ``[beta, theta_1..theta_K]``; the score is
``z^T beta_hat + x^T theta_hat_a + alpha * sqrt(s_a)`` with ``s_a`` the joint posterior variance
(tests check both against the joint ridge solution). Linear systems are solved through Cholesky
factors (the LAPACK-free loops of :mod:`bandits.policies._linalg`); no inverse is stored.

Item features live in the policy STATE (``state.item_features (K, p)``), initialised from the
constructor's ``item_features``; replace them (``state._replace(item_features=...)``) when a
living catalog fills a slot with a new title. Default: ``ones((K, 1))``, i.e. ``z = x``: a context
effect shared by all items plus per-item corrections.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import argmax_random_ties
from bandits.policies._linalg import cho_solve, cholesky, tie_split
from bandits.policies.nonstationary import check_sizes
from bandits.policies.registry import register


class HybridLinUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge penalty (> 0) on beta and every theta_a."""

    alpha: float = 1.0
    lam: float = 1.0


class HybridLinUCBState(NamedTuple):
    """A0: (k, k); b0: (k,); A: (K, d, d); B: (K, d, k); b: (K, d); item_features: (K, p); t: () int32."""

    A0: jax.Array
    b0: jax.Array
    A: jax.Array
    B: jax.Array
    b: jax.Array
    item_features: jax.Array
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
        return HybridLinUCBState(
            A0=lam * jnp.eye(k, dtype=dtype), b0=jnp.zeros((k,), dtype),
            A=jnp.broadcast_to(lam * jnp.eye(d, dtype=dtype), (K, d, d)),
            B=jnp.zeros((K, d, k), dtype), b=jnp.zeros((K, d), dtype),
            item_features=jnp.asarray(feats, dtype), t=jnp.zeros((), jnp.int32),
        )

    def select(key, state, context, mask, hparams):
        mean, s = hybrid_mean_and_variance(state, context)
        ucb = mean + jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(s, 0))
        return Decision(action=argmax_random_ties(key, ucb, mask), probs=tie_split(ucb, mask))

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        r = jnp.asarray(reward, dtype)
        a = jnp.asarray(action, jnp.int32)
        z = shared_features(x, state.item_features)[a]  # (k,)
        Aa, Ba, ba = state.A[a], state.B[a], state.b[a]

        def elim(Aa_, Ba_, ba_):
            La = cholesky(Aa_)
            AiB = jax.vmap(lambda col: cho_solve(La, col), in_axes=1, out_axes=1)(Ba_)  # (d, k)
            Aib = cho_solve(La, ba_)  # (d,)
            return Ba_.T @ AiB, Ba_.T @ Aib

        M_old, m_old = elim(Aa, Ba, ba)
        Aa = Aa + jnp.outer(x, x)
        Ba = Ba + jnp.outer(x, z)
        ba = ba + r * x
        M_new, m_new = elim(Aa, Ba, ba)
        A0 = state.A0 + M_old + jnp.outer(z, z) - M_new
        b0 = state.b0 + m_old + r * z - m_new
        A0 = 0.5 * (A0 + A0.T)  # keep exactly symmetric for the Cholesky
        return state._replace(
            A0=A0, b0=b0, A=state.A.at[a].set(Aa), B=state.B.at[a].set(Ba), b=state.b.at[a].set(ba),
            t=state.t + 1,
        )

    return Policy("hybrid_linucb", K, d, HybridLinUCBHParams(), init, select, update)


def hybrid_mean_and_variance(state: HybridLinUCBState, context) -> tuple[jax.Array, jax.Array]:
    """Joint-ridge prediction ``z_a^T beta + x^T theta_a`` and variance factor ``s_a`` for every item.

    state: a :class:`HybridLinUCBState`; context: (d,). Returns ``(mean (K,), s (K,))`` in the
    state's dtype, with ``s_a = (z_a - v_a)^T A0^-1 (z_a - v_a) + x^T A_a^-1 x``,
    ``v_a = B_a^T A_a^-1 x`` (Algorithm 2's ``s_{t,a}`` after collecting terms).
    """
    dtype = state.b.dtype
    x = jnp.asarray(context, dtype)
    L0 = cholesky(state.A0)
    beta = cho_solve(L0, state.b0)
    La = cholesky(state.A)
    z = shared_features(x, state.item_features)  # (K, k)
    rhs = state.b - jnp.einsum("kij,j->ki", state.B, beta)
    theta = cho_solve(La, rhs)  # (K, d)
    u = cho_solve(La, jnp.broadcast_to(x, rhs.shape))  # A_a^-1 x, (K, d)
    w = z - jnp.einsum("kij,ki->kj", state.B, u)
    s = jnp.einsum("ki,ki->k", w, cho_solve(jnp.broadcast_to(L0, (w.shape[0],) + L0.shape), w)) + u @ x
    return z @ beta + theta @ x, s
