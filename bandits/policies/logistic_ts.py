"""Logistic Thompson sampling with a Laplace approximation (Chapelle and Li 2011, Algorithm 3).

Click-shaped rewards: ``P(click | x, a) = sigmoid(x^T w_a)`` with one weight vector per item
(disjoint, as in their news-recommendation experiment). The posterior of ``w_a`` is approximated by
a Gaussian ``N(m_a, P_a^-1)``:

* ``covariance="diag"`` (Chapelle and Li's choice): ``P_a = diag(q_a)``;
* ``covariance="full"``: ``P_a`` a full ``(d, d)`` precision matrix.

Online update (one observation at a time; Chapelle and Li process a batch per update, which the
``batched`` wrapper reproduces at the serving side). With ``(x, y)`` observed for item ``a`` the
new mean is the MODE of ``N(w; m_a, P_a^-1) * p(y | x, w)``::

    w* = argmin_w  1/2 (w - m_a)^T P_a (w - m_a) + log(1 + exp(x^T w)) - y x^T w

and the new precision adds the curvature at the mode, ``P_a <- P_a + s(1-s) x x^T`` (full) or
``q_a <- q_a + s(1-s) x**2`` (diag), ``s = sigmoid(x^T w*)``. The stationarity condition gives
``w* = m_a + c P_a^-1 x`` for a scalar ``c`` solving ``c = y - sigmoid(x^T m_a + c x^T P_a^-1 x)``;
``c`` is found with ``n_newton`` (static, default 60) safeguarded Newton steps: the root lies in
``(y - 1, y)``, a bracket is kept and a step that would leave it is replaced by bisection.
This is exact Laplace/ADF on each observation, in pure JAX.

Selection: ``x^T w_a`` under the posterior is ``N(x^T m_a, x^T P_a^-1 x)``; each item's score is
drawn from it with standard deviation multiplied by ``alpha`` (Chapelle and Li's posterior
reshaping; ``alpha = 1`` is plain TS). probs: Monte Carlo over ``n_mc`` (static) draws.
Rewards ``y`` in [0, 1] (a fractional ``y`` is treated as a soft label).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Policy
from bandits.policies._linalg import cho_solve, cholesky
from bandits.policies.nonstationary import check_sizes, gaussian_ts_decision
from bandits.policies.registry import register


class LogisticTSHParams(NamedTuple):
    """alpha: posterior std multiplier (>= 0). lam: prior precision of every weight (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0


class LogisticTSState(NamedTuple):
    """m: (K, d) posterior means; P: (K, d, d) precisions (full) or (K, d) diagonals (diag); t: ()."""

    m: jax.Array
    P: jax.Array
    t: jax.Array


def laplace_step(m, P, x, y, full: bool, n_newton: int):
    """One Laplace/ADF update of a single item's Gaussian. m: (d,); P: (d, d) or (d,); x: (d,); y: ().

    Returns the new ``(m, P)``; see the module docstring.
    """
    Pinv_x = cho_solve(cholesky(P), x) if full else x / P
    h = jnp.dot(x, Pinv_x)
    s0 = jnp.dot(x, m)

    # the root lies in (y - 1, y) because sigmoid is in (0, 1): safeguarded Newton keeps a bracket
    # and falls back to bisection whenever a Newton step would leave it (large x^T P^-1 x).
    def newton(carry, _):
        c, lo, hi = carry
        sig = jax.nn.sigmoid(s0 + c * h)
        g = c - y + sig
        lo = jnp.where(g < 0, c, lo)
        hi = jnp.where(g > 0, c, hi)
        step = c - g / (1 + h * sig * (1 - sig))
        c = jnp.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        return (c, lo, hi), None

    y = jnp.asarray(y, m.dtype)
    (c, _, _), _ = jax.lax.scan(newton, (jnp.zeros((), m.dtype), y - 1, y), None, length=n_newton)
    m_new = m + c * Pinv_x
    sig = jax.nn.sigmoid(jnp.dot(x, m_new))
    curv = sig * (1 - sig)
    P_new = P + curv * jnp.outer(x, x) if full else P + curv * x * x
    return m_new, P_new


@register("logistic_ts", hparams=LogisticTSHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE})
def logistic_ts(
    num_actions: int, context_dim: int, dtype=jnp.float32, covariance: str = "diag", n_mc: int = 256,
    n_newton: int = 60,
) -> Policy:
    """Logistic TS with a Laplace approximation; ``covariance`` in {"diag", "full"} (static)."""
    K, d = check_sizes("logistic_ts", num_actions, context_dim, dtype, n_mc=n_mc, n_newton=n_newton)
    if covariance not in ("diag", "full"):
        raise ValueError(f"logistic_ts: covariance: expected 'diag' or 'full', got {covariance!r}")
    full = covariance == "full"

    def init(key, hparams):
        lam = jnp.asarray(hparams.lam, dtype)
        P = jnp.broadcast_to(lam * jnp.eye(d, dtype=dtype), (K, d, d)) if full else jnp.full((K, d), lam, dtype)
        return LogisticTSState(m=jnp.zeros((K, d), dtype), P=P, t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        x = jnp.asarray(context, dtype)
        mean = state.m @ x
        if full:
            var = jnp.einsum("ki,i->k", cho_solve(cholesky(state.P), jnp.broadcast_to(x, mean.shape)), x)
        else:
            var = (x * x) @ (1.0 / state.P).T
        std = jnp.asarray(hparams.alpha, dtype) * jnp.sqrt(jnp.maximum(var, 0))
        return gaussian_ts_decision(key, mean, std, mask, int(n_mc), dtype)

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        a = jnp.asarray(action, jnp.int32)
        m_a, P_a = laplace_step(state.m[a], state.P[a], x, jnp.asarray(reward, dtype), full, int(n_newton))
        return LogisticTSState(m=state.m.at[a].set(m_a), P=state.P.at[a].set(P_a), t=state.t + 1)

    return Policy("logistic_ts", K, d, LogisticTSHParams(), init, select, update)
