"""Inverse of small SPD matrices by recursive 2 x 2 block elimination (LAPACK-free, matmul-based).

For ``A = [[A11, A12], [A12^T, A22]]`` SPD, with ``W = A11^-1 A12`` and the Schur complement
``S = A22 - A12^T W`` (SPD as well)::

    A^-1 = [[A11^-1 + W S^-1 W^T, -W S^-1], [-(W S^-1)^T, S^-1]]

applied recursively down to blocks of at most 3 rows, whose inverses are closed-form (adjugate over
determinant). No pivoting is needed: every block inverted is a principal submatrix or a Schur
complement of an SPD matrix, hence SPD. The work is a handful of batched matrix products per level
instead of ``n`` dependent elementwise elimination steps, which is what makes it fast under ``vmap``
on XLA:CPU (the element-wise Gauss-Jordan steps fuse into long recomputing loops there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _closed_form(A: jax.Array) -> jax.Array:
    """Inverse of SPD ``(..., n, n)`` for ``n <= 3`` by the adjugate (determinant floored at tiny)."""
    n = A.shape[-1]
    tiny = jnp.finfo(A.dtype).tiny
    if n == 1:
        return 1 / jnp.maximum(A, tiny)
    if n == 2:
        a, b, e = A[..., 0, 0], A[..., 0, 1], A[..., 1, 1]
        det = jnp.maximum(a * e - b * b, tiny)[..., None, None]
        return jnp.stack([jnp.stack([e, -b], -1), jnp.stack([-b, a], -1)], -2) / det
    a, b, c = A[..., 0, 0], A[..., 0, 1], A[..., 0, 2]
    e, f, i = A[..., 1, 1], A[..., 1, 2], A[..., 2, 2]
    c00, c01, c02 = e * i - f * f, c * f - b * i, b * f - c * e
    c11, c12, c22 = a * i - c * c, b * c - a * f, a * e - b * b
    det = jnp.maximum(a * c00 + b * c01 + c * c02, tiny)[..., None, None]
    adj = jnp.stack([jnp.stack([c00, c01, c02], -1), jnp.stack([c01, c11, c12], -1),
                     jnp.stack([c02, c12, c22], -1)], -2)
    return adj / det


def spd_inverse_blocked(A: jax.Array) -> jax.Array:
    """``A^{-1}`` of SPD ``A (..., n, n)`` by recursive block elimination (see the module docstring).

    Same dtype and shape as ``A``; the result is symmetric up to rounding. Meant for small ``n``
    (the compiled program unrolls the recursion: about ``n / 3`` leaves).
    """
    n = A.shape[-1]
    if n <= 3:
        return _closed_form(A)
    h = 3 * max(1, round(n / 6))  # split near the middle, on a multiple of 3 (closed-form leaves)
    a12 = A[..., :h, h:]
    inv11 = spd_inverse_blocked(A[..., :h, :h])
    W = inv11 @ a12
    inv_s = spd_inverse_blocked(A[..., h:, h:] - jnp.swapaxes(a12, -1, -2) @ W)
    WS = W @ inv_s
    top = jnp.concatenate([inv11 + WS @ jnp.swapaxes(W, -1, -2), -WS], -1)
    bottom = jnp.concatenate([-jnp.swapaxes(WS, -1, -2), inv_s], -1)
    return jnp.concatenate([top, bottom], -2)
