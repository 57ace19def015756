"""Shared numerics of the linear (disjoint ridge) policies and the tie-splitting helpers.

Per-arm ridge regression, arm ``a`` with design ``A_a = lam I + sum x x^T`` and
``b_a = sum r x``, is kept as

* ``cov_tri`` ``(K, d(d+1)/2)``: the upper triangle (row-major, :func:`tri_indices`) of the
  symmetric ``P_a = A_a^{-1}``, updated by Sherman-Morrison; ``RidgeState.cov`` unpacks it to
  ``(K, d, d)`` for inspection;
* ``theta`` ``(K, d)``: ``theta_a = P_a b_a``, updated by the recursive-least-squares step
  ``theta_a += P_a' x (r - x . theta_a)`` with ``P_a' x = P_a x / (1 + x^T P_a x)``.

One round costs one pass over the packed state to score every arm and ``O(d^2)`` for the chosen
arm's update:

* score: ``x^T P_a x = <tri(P_a), w>`` with ``w = tri(x x^T)`` whose off-diagonal entries are
  doubled (:func:`ridge_scores`): one ``(K, d(d+1)/2)`` mat-vec for all arms, 45% less state
  to read than full ``d x d`` matrices (d = 10);
* update: gather the chosen arm's row, unpack it, ``u = P_a x``, and write the new row back
  (:func:`ridge_update`; under ``vmap`` a batched gather and an in-place scatter).

Measured against the previous layout (full matrices, all arms' ``P_a x`` shared between select and
update, one-hot blend rewriting every arm each round), interleaved in one process: 1.1-1.3x
member-rounds per second at 1,000 members (best of runs; 1.0-1.2x on medians: the shared machine
is noisy), the same at one member (docs/policies.md).

Numerics. Symmetry is structural (one stored triangle) and ``1 + x^T P x >= 1``; the quadratic
form is clamped at 0 before the square root. The float32 drift over 10^6 rounds against the same
recursion in float64 is measured in ``tests/bandits/policies/test_policies_drift.py`` (stated tolerance there and
in docs/policies.md).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.core import tie_split  # noqa: F401  (re-exported: the policies' tie-splitting)

Array = jax.Array


@functools.cache
def tri_indices(context_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Packing of a symmetric ``d x d`` matrix into its ``d(d+1)/2`` upper-triangle entries.

    Returns ``(rows, cols, weight, unpack)``: entry ``p`` of the packed vector is ``M[rows[p],
    cols[p]]`` (``rows <= cols``, row-major); ``weight[p]`` is 1 on the diagonal and 2 off it (so
    ``x^T M x = sum_p weight_p M_p x_{rows_p} x_{cols_p}``); ``unpack`` ``(d*d,)`` maps each full
    entry ``(i, j)`` to its packed position.
    """
    rows, cols = (i.astype(np.int32) for i in np.triu_indices(context_dim))
    weight = np.where(rows == cols, 1.0, 2.0)
    unpack = np.zeros((context_dim, context_dim), np.int32)
    unpack[rows, cols] = np.arange(rows.size)
    unpack[cols, rows] = np.arange(rows.size)
    return rows, cols, weight, unpack.reshape(-1)


def unpack_sym(tri: Array, context_dim: int) -> Array:
    """``(..., d(d+1)/2)`` upper triangle -> ``(..., d, d)`` symmetric matrix."""
    _, _, _, unpack = tri_indices(context_dim)
    return tri[..., unpack].reshape(*tri.shape[:-1], context_dim, context_dim)


class RidgeState(NamedTuple):
    """Per-arm ridge regression state.

    cov_tri: ``(K, d(d+1)/2)`` dtype, upper triangle of each ``A_a^{-1}`` (see :func:`tri_indices`).
    theta: ``(K, d)`` dtype, ridge estimate ``A_a^{-1} b_a``.
    counts: ``(K,)`` dtype, number of updates of each arm.
    """

    cov_tri: Array
    theta: Array
    counts: Array

    @property
    def cov(self) -> Array:
        """``(..., K, d, d)``: the full symmetric ``A_a^{-1}`` of every arm (unpacked copy)."""
        return unpack_sym(self.cov_tri, self.theta.shape[-1])


def ridge_init(num_actions: int, context_dim: int, lam, dtype) -> RidgeState:
    """Prior ``A_a = lam I`` for every arm. ``lam``: () positive (may be traced)."""
    lam = jnp.asarray(lam, dtype)
    rows, cols, _, _ = tri_indices(context_dim)
    eye_tri = jnp.asarray(rows == cols, dtype)
    cov_tri = jnp.broadcast_to(eye_tri / lam, (num_actions, rows.size))
    return RidgeState(
        cov_tri=cov_tri,
        theta=jnp.zeros((num_actions, context_dim), dtype),
        counts=jnp.zeros((num_actions,), dtype),
    )


def ridge_scores(state: RidgeState, x: Array) -> tuple[Array, Array]:
    """Mean and variance factor of every arm at context ``x``.

    Returns ``(mean (K,), quad (K,))`` with ``mean_a = x . theta_a`` and ``quad_a = x^T P_a x >= 0``.
    """
    rows, cols, weight, _ = tri_indices(x.shape[-1])
    w = x[rows] * x[cols] * jnp.asarray(weight, x.dtype)
    quad = jnp.maximum(state.cov_tri @ w, 0)
    mean = state.theta @ x
    return mean, quad


def one_hot(action: Array, num_actions: int, dtype) -> Array:
    """``(K,)`` dtype one-hot of a () int action (no scatter)."""
    return (jnp.arange(num_actions, dtype=jnp.int32) == action).astype(dtype)


def ridge_update(state: RidgeState, x: Array, action: Array, reward: Array) -> RidgeState:
    """Rank-one update of arm ``action`` with ``(x (d,), reward ())``; other arms unchanged (bitwise)."""
    d = x.shape[-1]
    rows, cols, _, _ = tri_indices(d)
    a = jnp.asarray(action, jnp.int32)
    take = functools.partial(jax.lax.dynamic_index_in_dim, index=a, axis=0, keepdims=False)
    put = functools.partial(jax.lax.dynamic_update_index_in_dim, index=a, axis=0)
    p_a = take(state.cov_tri)
    u = unpack_sym(p_a, d) @ x  # P_a x
    den = 1 + jnp.maximum(u @ x, 0)
    theta_a = take(state.theta)
    err = reward - theta_a @ x
    gain = u / den  # A_a'^{-1} x
    return RidgeState(
        cov_tri=put(state.cov_tri, p_a - gain[rows] * u[cols]),
        theta=put(state.theta, theta_a + gain * err),
        counts=put(state.counts, take(state.counts) + 1),
    )


# --------------------------------------------------------------------------- ties


def uniform_over(mask: Array, dtype) -> Array:
    """``(K,)`` uniform distribution over available actions (all 0 if none is available)."""
    m = mask.astype(dtype)
    return m / jnp.maximum(jnp.sum(m), 1)


# --------------------------------------------------------------------------- LAPACK-free solves
#
# jaxlib's CPU LAPACK kernels (``jnp.linalg.cholesky``, ``solve``, ``jax.scipy.linalg.cho_solve``,
# ``solve_triangular``) split a batch of matrices over XLA's intra-op thread pool and block a pool
# thread until the pieces finish; when the thunk executor runs as many such kernels at once as the
# pool has threads (two on a 2-core machine), every pool thread waits for work that no thread is
# free to run and the program hangs at 0% CPU. Inside a simulated round, under ``vmap`` over
# members, those batches are large and independent kernels run concurrently, so the policies do
# their small dense linear algebra with the plain ``jnp`` loops below (fused by XLA, no custom
# call). They are the textbook algorithms (Golub and Van Loan, Algorithm 4.2.1 and forward /
# back substitution), batched over leading axes.


def cholesky(A: Array) -> Array:
    """Lower Cholesky factor of SPD ``A (..., n, n)`` (no LAPACK call): ``A = L L^T``, ``(..., n, n)``."""
    n = A.shape[-1]
    idx = jnp.arange(n)

    def col(j, L):
        # column j of L: (A[:, j] - L[:, :j] L[j, :j]) / sqrt(pivot), zero above the diagonal
        v = jnp.take(A, j, axis=-1) - jnp.einsum("...ik,...k->...i", L, jnp.take(L, j, axis=-2))
        piv = jnp.sqrt(jnp.maximum(jnp.take(v, j, axis=-1), jnp.finfo(A.dtype).tiny))[..., None]
        v = jnp.where(idx >= j, v / piv, 0)
        return jnp.where(idx == j, v[..., :, None], L)

    return jax.lax.fori_loop(0, n, col, jnp.zeros_like(A))


def tri_solve_lower(L: Array, b: Array) -> Array:
    """``L^{-1} b`` for lower-triangular ``L (..., n, n)`` and ``b (..., n)`` (forward substitution)."""
    n = L.shape[-1]
    idx = jnp.arange(n)

    def step(j, y):
        yj = (jnp.take(b, j, axis=-1) - jnp.einsum("...k,...k->...", jnp.take(L, j, axis=-2), y)) / L[..., j, j]
        return jnp.where(idx == j, yj[..., None], y)

    return jax.lax.fori_loop(0, n, step, jnp.zeros_like(b))


def tri_solve_upper_t(L: Array, y: Array) -> Array:
    """``L^{-T} y`` for lower-triangular ``L (..., n, n)`` and ``y (..., n)`` (back substitution)."""
    n = L.shape[-1]
    idx = jnp.arange(n)

    def step(i, x):
        j = n - 1 - i
        xj = (jnp.take(y, j, axis=-1) - jnp.einsum("...k,...k->...", jnp.take(L, j, axis=-1), x)) / L[..., j, j]
        return jnp.where(idx == j, xj[..., None], x)

    return jax.lax.fori_loop(0, n, step, jnp.zeros_like(y))


def cho_solve(L: Array, b: Array) -> Array:
    """``A^{-1} b`` from the lower factor ``L`` of ``A``: ``L (..., n, n)``, ``b (..., n)`` -> ``(..., n)``."""
    return tri_solve_upper_t(L, tri_solve_lower(L, b))


def spd_solve(A: Array, b: Array) -> Array:
    """``A^{-1} b`` for SPD ``A (..., n, n)`` and ``b (..., n)`` through :func:`cholesky`."""
    return cho_solve(cholesky(A), b)


def spd_inverse(A: Array) -> Array:
    """``A^{-1}`` of SPD ``A (..., n, n)`` (symmetrised) through :func:`cholesky`."""
    n = A.shape[-1]
    L = cholesky(A)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=A.dtype), A.shape)
    X = jax.vmap(lambda e: cho_solve(L, e), in_axes=-1, out_axes=-1)(eye)
    return 0.5 * (X + jnp.swapaxes(X, -1, -2))


def ridge_update_slots(state: RidgeState, xs: Array, actions: Array, rewards: Array) -> RidgeState:
    """``len(actions)`` rank-one updates in order: arm ``actions[l]`` with ``(xs[l] (d,), rewards[l])``.

    xs: ``(L, d)``; actions: ``(L,)`` int; rewards: ``(L,)``. Sequential, so a repeated arm is
    updated twice exactly as two separate rounds would.
    """
    for slot in range(actions.shape[0]):
        state = ridge_update(state, xs[slot], actions[slot], rewards[slot])
    return state


def spd_inverse_small(A: Array) -> Array:
    """``A^{-1}`` of SPD ``A (..., n, n)`` by Gauss-Jordan elimination, ``(..., n, n)`` symmetrised.

    No pivoting is needed for SPD matrices (each pivot is a Schur complement of ``A``, hence
    positive; floored at the dtype's ``tiny``). The ``n`` elimination steps are unrolled with static
    indices: plain elementwise ``jnp`` (no gather, no loop, no LAPACK), ``O(n^3)``, meant for small
    ``n`` (the compiled program grows with ``n``).
    """
    n = A.shape[-1]
    idx = np.arange(n)
    X = A
    for k in range(n):
        ek = idx == k
        piv = jnp.maximum(X[..., k, k], jnp.finfo(A.dtype).tiny)[..., None]
        row = jnp.where(ek, 1, X[..., k, :]) / piv  # (..., n)
        col = jnp.where(ek, 0, X[..., :, k])  # (..., n)
        X = jnp.where(ek[:, None], row[..., None, :], jnp.where(ek, 0, X) - col[..., :, None] * row[..., None, :])
    return 0.5 * (X + jnp.swapaxes(X, -1, -2))


def unpack_sym_sliced(tri: Array, context_dim: int) -> Array:
    """:func:`unpack_sym` by static slices (no gather): ``(..., d(d+1)/2)`` -> ``(..., d, d)``."""
    d = context_dim
    offsets = np.concatenate([[0], np.cumsum(np.arange(d, 0, -1))])
    pad = [(0, 0)] * (tri.ndim - 1)
    upper = jnp.stack([jnp.pad(tri[..., offsets[i]:offsets[i + 1]], pad + [(i, 0)]) for i in range(d)], axis=-2)
    return upper + jnp.swapaxes(upper, -1, -2) * jnp.asarray(1 - np.eye(d), tri.dtype)


def pack_sym_sliced(M: Array) -> Array:
    """Upper triangle of ``M (..., d, d)``, row-major as :func:`tri_indices`, by static slices."""
    return jnp.concatenate([M[..., i, i:] for i in range(M.shape[-1])], axis=-1)
