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


def ridge_row_rank_one(p_tri: Array, theta: Array, x: Array, reward: Array, sign: Array) -> tuple[Array, Array]:
    """Signed rank-one change of ONE arm's packed ridge inverse: ``A' = A + s x x^T``, ``b' = b + s r x``.

    p_tri: ``(d(d+1)/2,)`` upper triangle of ``P = A^{-1}``; theta: ``(d,)`` ``= P b``; x: ``(d,)``;
    reward, sign: ``()``. ``sign = +1`` adds the row (Sherman-Morrison, as :func:`ridge_update`),
    ``-1`` removes a row that ``A`` contains (downdate, ``1 - x^T P x > 0`` in exact arithmetic),
    ``0`` leaves both unchanged. Returns ``(p_tri', theta')`` with
    ``P' = P - s P x x^T P / (1 + s x^T P x)`` and ``theta' = theta + s P x (r - x . theta) / (1 + s x^T P x)``.
    """
    d = x.shape[-1]
    rows, cols, _, _ = tri_indices(d)
    u = unpack_sym(p_tri, d) @ x
    den = 1 + sign * jnp.maximum(u @ x, 0)
    gain = sign * u / jnp.maximum(den, jnp.finfo(x.dtype).eps)
    return p_tri - gain[rows] * u[cols], theta + gain * (reward - theta @ x)


def transposed(A: Array) -> Array:
    """``A^T`` of a matrix, materialised. XLA folds a plain transpose into the dot that consumes it
    as a transposed operand, and on CPU a dot contracting its left operand's leading axis leaves the
    fast small-matrix kernels for a generic one that costs more than the copy; the barrier keeps the
    transpose a copy of its own. Same values (the transpose only moves data)."""
    return jax.lax.optimization_barrier(jnp.swapaxes(A, -1, -2))


# --------------------------------------------------------------------------- rank-one eigen update
#
# The eigen-decomposition of ``diag(dvals) + z z^T`` from that of ``diag(dvals)`` (Bunch, Nielsen and
# Sorensen 1978; eigenvectors as in Gu and Eisenstat 1994): after deflation the new eigenvalues are
# the roots of the secular equation ``f(lam) = 1 + sum_j z_j^2 / (d_j - lam)``, one in each interval
# between consecutive poles and the last in ``(d_n, d_n + |z|^2]``. Plain ``jnp`` with a fixed
# number of iterations (no LAPACK, static shapes), for the small ``d x d`` problems of one round.

_SECULAR_BISECT = 6  # bisection steps before the safeguarded middle-way steps (Li 1994)
_SECULAR_MIDDLE = 6


def rank_one_eig(dvals: Array, z: Array) -> tuple[Array, Array]:
    """Eigen-decomposition of ``diag(dvals) + z z^T``: ``R diag(evals) R^T``.

    dvals: ``(n,)`` sorted ascending; z: ``(n,)``. Returns ``(evals (n,) ascending, R (n, n)
    orthogonal)``. Deflation: poles closer than ``tol = 8 eps max(|d|_max, |z|^2)`` are merged by a
    Householder reflection that leaves one ``z`` component per cluster (the matrix is perturbed by at
    most ``tol`` per merged gap), and components with ``|z_j| |z| <= tol`` are dropped (their pair
    ``(d_j, e_j)`` is kept). Each remaining root is found relative to its nearer pole (so ``lam - d``
    keeps its relative accuracy), by bisection then safeguarded middle-way steps (Li 1994) inside the bracket; the
    eigenvectors use the ``z`` recomputed from the roots (Gu-Eisenstat), which keeps them orthogonal.
    """
    n = dvals.shape[-1]
    dt = dvals.dtype
    eps = jnp.finfo(dt).eps
    eye = jnp.eye(n, dtype=dt)
    z2sum = z @ z
    tol = 8 * eps * jnp.maximum(jnp.max(jnp.abs(dvals)), z2sum)

    # clusters of (nearly) equal poles: one Householder reflection per cluster
    first = jnp.concatenate([jnp.ones((1,), bool), (dvals[1:] - dvals[:-1]) > tol])
    upto_i = jnp.arange(n)[:, None] <= jnp.arange(n)[None, :]  # [k, i]: k <= i
    cid = jnp.sum(jnp.where(upto_i, first[:, None], 0), axis=0)  # cumulative count (no reduce-window)
    # materialised once: fused into its (n, n) consumers the count would be recomputed per element
    cid = jax.lax.optimization_barrier(cid)
    same = cid[:, None] == cid[None, :]  # symmetric: its sums run over the non-minor axis
    multi = jnp.sum(same, axis=0) > 1
    csum = lambda v: jnp.sum(jnp.where(same, v[:, None], 0), axis=0)  # noqa: E731  (per-cluster sums)
    norm_c = jnp.sqrt(csum(z * z))
    z_lead = csum(jnp.where(first, z, 0))
    sgn = jnp.where(z_lead >= 0, 1.0, -1.0).astype(dt)
    v = z + jnp.where(first, sgn * norm_c, 0)
    vnorm2 = csum(v * v)
    keep = multi & (vnorm2 > 0)
    H = eye - jnp.where(same & keep[:, None], 2 * jnp.outer(v, v) / jnp.where(keep, vnorm2, 1)[:, None], 0)
    zh = jnp.where(keep, jnp.where(first, -sgn * norm_c, 0), z)

    # drop negligible components
    active = jnp.abs(zh) * jnp.sqrt(z2sum) > tol
    za = jnp.where(active, zh, 0)
    w2 = za * za
    later = jnp.arange(n)[:, None] > jnp.arange(n)[None, :]  # [j, i]: pole j after pole i
    nxt = jnp.min(jnp.where(later & active[:, None], dvals[:, None], jnp.inf), axis=0)
    has_next = jnp.isfinite(nxt)
    upper = jnp.where(has_next, nxt, dvals + jnp.sum(w2))
    gap = upper - dvals

    # layout: poles j on axis 0, roots i on axis 1, so that the sums over poles run over a non-minor
    # axis (vectorised by XLA over the roots)
    idx = jnp.arange(n)
    upto = idx[:, None] <= idx[None, :]  # pole j <= root i: the left part (psi) of root i's sum
    act_j = active[:, None]

    def secular(delta, mu):
        den = jnp.where(act_j, delta - mu[None, :], 1)
        t = w2[:, None] / den
        return 1 + jnp.sum(t, axis=0), t, t / den

    f_mid, _, _ = secular(dvals[:, None] - dvals[None, :], 0.5 * gap)
    left = ~has_next | (f_mid >= 0)
    origin = jnp.where(left, dvals, upper)
    delta = dvals[:, None] - origin[None, :]  # d_j - origin_i
    p_pole = jnp.where(left, 0, -gap)  # root i's left pole, relative to its origin
    q_pole = jnp.where(left, gap, 0)  # its right pole (unused for the last root)
    lo = jnp.where(left, 0, -0.5 * gap)
    hi = jnp.where(left, jnp.where(has_next, 0.5 * gap, gap), 0)

    def bisect(_, c):
        lo, hi = c
        mu = 0.5 * (lo + hi)
        f, _, _ = secular(delta, mu)
        return jnp.where(f < 0, mu, lo), jnp.where(f < 0, hi, mu)

    lo, hi = jax.lax.fori_loop(0, _SECULAR_BISECT, bisect, (lo, hi))

    def middle_way(_, c):
        # model psi and phi by one pole each, matching value and slope at mu, and solve the model
        lo, hi, mu = c
        f, t, tp = secular(delta, mu)
        lo, hi = jnp.where(f < 0, mu, lo), jnp.where(f < 0, hi, mu)
        psi, dpsi = jnp.sum(jnp.where(upto, t, 0), axis=0), jnp.sum(jnp.where(upto, tp, 0), axis=0)
        phi, dphi = f - 1 - psi, jnp.sum(jnp.where(upto, 0, tp), axis=0)
        b = dpsi * (p_pole - mu) ** 2
        e = dphi * (q_pole - mu) ** 2
        C = 1 + psi - dpsi * (p_pole - mu) + phi - dphi * (q_pole - mu)
        # C (p - s)(q - s) + b (q - s) + e (p - s) = 0, with p q = 0 (the origin is one of the poles)
        B1 = C * (p_pole + q_pole) + b + e
        C0 = b * q_pole + e * p_pole
        root = jnp.sqrt(jnp.maximum(B1 * B1 - 4 * C * C0, 0))
        big = B1 + jnp.where(B1 >= 0, root, -root)
        s1 = big / jnp.where(C != 0, 2 * C, 1)
        s2 = 2 * C0 / jnp.where(big != 0, big, 1)
        s_last = p_pole + b / jnp.where(C > 0, C, 1)
        inside = lambda s, lo=lo, hi=hi: (s >= lo) & (s <= hi)  # noqa: E731
        settled = lambda s, lo=lo, hi=hi, mu=mu: jnp.abs(s - mu) <= 4 * eps * jnp.maximum(jnp.abs(mu), hi - lo)  # noqa: E731
        cand = jnp.where(has_next, jnp.where(inside(s2) | settled(s2), s2, s1), s_last)
        return lo, hi, jnp.where(inside(cand), cand, jnp.where(settled(cand), mu, 0.5 * (lo + hi)))

    _, _, mu = jax.lax.fori_loop(0, _SECULAR_MIDDLE, middle_way, (lo, hi, 0.5 * (lo + hi)))

    # z recomputed from the roots: zhat_j^2 = (lam_j - d_j) prod_{i != j} (lam_i - d_j) / (d_i - d_j)
    diff = mu[None, :] - delta  # [j, i] = lam_i - d_j
    diag = eye.astype(bool)
    # built transposed ([i, j]) so that the product over the roots i runs over the non-minor axis
    diff_t = mu[:, None] - (dvals[None, :] - origin[:, None])  # [i, j] = lam_i - d_j, as diff.T
    gap_t = dvals[:, None] - dvals[None, :]  # [i, j] = d_i - d_j
    both_t = active[:, None] & active[None, :]
    ratio = jnp.where(diag, diff_t, diff_t / jnp.where(diag | ~both_t, 1, gap_t))
    ratio = jnp.where(both_t, ratio, 1)
    zhat = jnp.where(active, jnp.sign(za) * jnp.sqrt(jnp.abs(jnp.prod(ratio, axis=0))), 0)
    vec = jnp.where(act_j, zhat[:, None] / jnp.where(act_j, -diff, 1), 0)  # column i: eigenvector of root i
    vec = vec / jnp.sqrt(jnp.maximum(jnp.sum(vec * vec, axis=0, keepdims=True), jnp.finfo(dt).tiny))
    U = jnp.where(active[None, :], vec, eye)  # e_i for a deflated pair
    evals = jnp.where(active, origin + mu, dvals)
    # ascending order without a sort: rank_i = #{j: e_j < e_i, ties by index}
    before = (evals[:, None] < evals[None, :]) | ((evals[:, None] == evals[None, :]) & ~upto_i)  # [j, i]: j before i
    rank = jnp.sum(before, axis=0)
    # the inverse permutation (position r holds root order[r]) by an O(n^2) masked sum, then the
    # columns gathered: a permutation applied as a product would cost a d^3 dot
    order = jnp.sum(jnp.where(rank[:, None] == idx[None, :], idx[:, None], 0), axis=0)
    HU = jnp.matmul(H, U, precision=jax.lax.Precision.HIGHEST)
    return jnp.take(evals, order, mode="clip"), jnp.take(HU, order, axis=1, mode="clip")


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
