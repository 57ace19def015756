"""Exact Gamma and Beta draws that stay fast and finite under ``vmap``: every Gamma/Beta draw of
the policies goes through this module.

Algorithm. Marsaglia and Tsang (2000), "A simple method for generating gamma variables": for a
shape ``a >= 1`` propose ``d v`` with ``d = a - 1/3``, ``v = (1 + c x)^3``, ``c = 1 / sqrt(9 d)``,
``x ~ N(0, 1)``, and accept when ``log u < x^2 / 2 + d (1 - v + log v)`` (``u ~ U(0, 1)``); an
accepted proposal is an exact Gamma(a) draw. A shape ``a < 1`` uses ``G(a) = G(a + 1) U^(1/a)``.

Why the draws are returned on the log scale. At small shapes ``U^(1/a)`` underflows: at
``a = 0.02`` a float32 ``U^50`` is 0 for ``U < 0.17``, so a Beta draw ``G_a / (G_a + G_b)`` is
``0 / 0 = NaN`` for about 3% of draws at ``a = b = 0.02``. Here everything is computed as
``log G = log d + 3 log1p(c x) + log(U) / a`` (the acceptance test needs ``log v`` anyway), which
is finite for every shape from ``1e-3`` (``log G`` around ``-1e3``) to ``1e6`` and beyond; a Beta
draw is then ``sigmoid(log G_a - log G_b)``, and Thompson sampling ranks the LOGIT
``log G_a - log G_b`` (:func:`beta_logit_sample`), which is monotone in the Beta draw, never NaN
and keeps the order of draws that round to exactly 0 or 1 in float32.

Why it is fast under ``vmap``. Rejections are rare (below 5% at every shape, below 0.2% from
shape 20) but a ``while_loop`` that redraws the whole array until every element is accepted costs
a full pass per iteration, and under ``vmap`` it iterates until the unluckiest member is done.
Instead the first pass proposes once for every element and each further iteration proposes for
ONE element only, the first still-rejected one (a scalar proposal and a select); the loop ends
when every element is accepted. A retry proposal is applied to its element in the iteration
after it is drawn, so that the per-element select reads it as a loop variable: XLA would
otherwise fuse the scalar proposal (its random words included) into the select and compute it
once per element. Arrays of more than 2,048 draws (offline Monte Carlo, not the per-member
rounds) redraw all their rejected elements in each iteration instead. Each element's value is
its first accepted proposal from a sequence of independent proposals (whether a proposal is used
depends on earlier proposals only), so the draws are exact.

The ``a < 1`` uniform could be taken from the acceptance test instead of its own stream (given
acceptance, ``u`` is uniform on ``(0, h(x))``, ``h(x) = exp(x^2 / 2 + d (1 - v + log v))``, so
``u / h(x)`` is an exact U(0, 1) independent of the accepted ``x``), saving 2 of the 6 random words
per Beta draw; it is not, because the first pass's value then depends on ``u`` as well as ``x``,
and XLA's CPU fusion recomputes the random words for each of the pass's outputs, which costs as
much as the words saved or more (``benchmarks/sampler_floor.py``, docs/policies.md).

Key use: proposal ``i`` (``i = 0`` the full pass, ``i >= 1`` the retries) draws from
``fold_in(key, i)``; the ``a < 1`` uniforms from ``fold_in(key, 2**31 - 1)``. Draws are float
``dtype`` (float32 default; float64 under x64, float32 otherwise, as JAX's own samplers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["log_gamma_sample", "gamma_sample", "beta_logit_sample", "beta_sample"]

_BOOST_STREAM = 0x7FFFFFFF
_SINGLE_RETRY_MAX = 2048  # arrays up to this size retry one rejected element per iteration


def _mt_constants(a, dtype):
    boost = a < 1
    d = jnp.where(boost, a + 1, a) - jnp.asarray(1 / 3, dtype)
    return boost, d, jax.lax.rsqrt(9 * d)


def _propose(key, d, c, shape, dtype):
    """One Marsaglia-Tsang proposal per element: ``(accepted (shape) bool, log(d v) (shape))``."""
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, shape, dtype)
    u = jax.random.uniform(k2, shape, dtype, minval=jnp.finfo(dtype).tiny)
    y = c * x
    ok_v = y > -1
    log_v = 3 * jnp.log1p(jnp.where(ok_v, y, 0))
    ok = ok_v & (jnp.log(u) < 0.5 * x * x + d * _log_v_minus_w(y, log_v))
    return ok, jnp.log(d) + log_v


def _log_v_minus_w(y, log_v):
    """``1 - v + log v`` with ``v = (1 + y)^3``, accurate in float32 when ``|y|`` is small (large shapes).

    Directly it is ``log v - w`` with ``w = v - 1 = y (3 + y (3 + y))``: two nearly equal terms
    when ``|y| << 1``. Below ``|y| = 0.1`` the series ``-9/2 y^2 + sum_{k>=4} 3 (-1)^(k+1) y^k / k``
    (to ``k = 11``, truncation below float64 round-off) is used instead.
    """
    small = jnp.abs(y) < 0.1
    ys = jnp.where(small, y, 0)
    tail = 0.0
    for k in range(11, 3, -1):  # Horner on the k >= 4 terms
        tail = ys * tail + 3 * (-1) ** (k + 1) / k
    series = ys * ys * (-4.5 + ys * ys * tail)
    direct = log_v - y * (3 + y * (3 + y))
    return jnp.where(small, series, direct)


def _retry(key, d, c, ok, val, dtype):
    """Replace each rejected element of ``val`` (n,) by its first accepted retry (module docstring).

    Iteration ``i`` applies the proposal drawn in iteration ``i - 1`` to its element (if accepted),
    finds the first element still rejected and proposes for it from ``fold_in(key, i)``; it stops
    when none is left. Applying a proposal one iteration after it is drawn makes it a loop variable
    of the per-element select, so it is computed once per member, not once per element.
    """
    n = d.size
    iota = jnp.arange(n, dtype=jnp.int32)

    def body(carry):
        ok_, val_, j, ok_p, val_p, i = carry
        hit = (iota == j) & ok_p
        ok_, val_ = ok_ | hit, jnp.where(hit, val_p, val_)
        j = jnp.min(jnp.where(ok_, n, iota))  # n: none left
        ok_p, val_p = _propose(jax.random.fold_in(key, i), jnp.take(d, j, mode="clip"),
                               jnp.take(c, j, mode="clip"), (), dtype)
        return ok_, val_, j, ok_p, val_p, i + 1

    init = (ok, val, jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), dtype), jnp.ones((), jnp.int32))
    return jax.lax.while_loop(lambda cr: cr[2] < n, body, init)[1]


def log_gamma_sample(key, a, shape, dtype=jnp.float32):
    """``log G`` for exact ``G ~ Gamma(a, 1)`` draws; see the module docstring.

    key: PRNG key. a: shape parameter(s) > 0, broadcastable to ``shape``. shape: static output
    shape. dtype: float32 (default) or float64 (under x64). Returns ``shape`` ``dtype``
    log-draws, finite for every ``a > 0``.
    """
    shape = tuple(shape)
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    a = jnp.broadcast_to(jnp.asarray(a, dtype), shape)
    boost, d, c = _mt_constants(a, dtype)
    ok, val = _propose(jax.random.fold_in(key, 0), d, c, shape, dtype)
    n = a.size
    if n > _SINGLE_RETRY_MAX:  # large arrays (offline Monte Carlo): redraw every rejected element at once

        def body_all(carry):
            ok_, val_, i = carry
            ok2, val2 = _propose(jax.random.fold_in(key, i), d, c, shape, dtype)
            return ok_ | ok2, jnp.where(ok_, val_, val2), i + 1

        ok, val, _ = jax.lax.while_loop(lambda cr: ~jnp.all(cr[0]), body_all, (ok, val, jnp.ones((), jnp.int32)))
    elif n > 0:
        val = _retry(key, d.reshape(n), c.reshape(n), ok.reshape(n), val.reshape(n), dtype).reshape(shape)
    u = jax.random.uniform(jax.random.fold_in(key, _BOOST_STREAM), shape, dtype, minval=jnp.finfo(dtype).tiny)
    return jnp.where(boost, val + jnp.log(u) / jnp.where(boost, a, 1), val)


def gamma_sample(key, a, shape, dtype=jnp.float32):
    """Exact ``Gamma(a, 1)`` draws of ``shape`` (``a > 0`` broadcastable); ``exp`` of
    :func:`log_gamma_sample` (a draw below the smallest positive float rounds to 0)."""
    return jnp.exp(log_gamma_sample(key, a, shape, dtype))


def beta_logit_sample(key, alpha, beta, shape, dtype=jnp.float32):
    """``log(X / (1 - X))`` for exact ``X ~ Beta(alpha, beta)`` draws, as ``log G_a - log G_b``.

    alpha, beta: > 0, broadcastable to ``shape``. Monotone in ``X``, finite for every shape: what
    Thompson sampling ranks. Returns ``shape`` ``dtype``.
    """
    shape = tuple(shape)
    ab = jnp.stack([jnp.broadcast_to(jnp.asarray(alpha, dtype), shape), jnp.broadcast_to(jnp.asarray(beta, dtype), shape)])
    lg = log_gamma_sample(key, ab, (2,) + shape, dtype)  # both Gammas in one pass and one retry loop
    return lg[0] - lg[1]


def beta_sample(key, alpha, beta, shape, dtype=jnp.float32):
    """Exact ``Beta(alpha, beta)`` draws of ``shape``: ``sigmoid`` of :func:`beta_logit_sample`
    (never NaN; values within float32 rounding of 0 or 1 round to 0 or 1)."""
    return jax.nn.sigmoid(beta_logit_sample(key, alpha, beta, shape, dtype))
