"""Priors for new titles from item features: a model fitted on existing titles gives a new title's
prior mean and variance (cold start and transfer), for linear TS and Beta-Bernoulli TS.

Two pure-JAX fitting/prediction pairs (usable offline on numpy arrays or inside jit):

* :func:`fit_linear_item_prior` / :func:`predict_linear_item_prior`: a weighted multi-output ridge
  regression of per-title coefficient vectors ``theta_j (d,)`` on item features ``phi_j (p,)``,
  ``theta_j ~ N(W^T phi_j, tau^2 I)``. A new title's prior is ``N(W^T phi, v I)`` with
  ``v = tau^2 (1 + phi^T G^-1 phi)`` (residual spread plus the uncertainty of ``W``;
  ``G = Phi^T diag(w) Phi + ridge I``), floored at ``min_var``.
* :func:`fit_beta_item_prior` / :func:`predict_beta_item_prior`: a weighted ridge regression of
  each title's empirical click logit ``logit((c + 1/2) / (n + 1))`` on ``phi`` (weights = the
  delta-method inverse variance ``n p (1 - p)``). A new title's logit prior ``N(mu, v)`` (same
  variance formula) is moment-matched to a Beta on the probability scale: mean
  ``m = sigmoid(mu)``, variance ``(m (1 - m))^2 v`` (delta method), strength
  ``alpha + beta = m (1 - m) / var - 1`` clipped to ``[min_strength, max_strength]``. The result
  ``(alpha0, beta0)`` plugs into any Beta-Bernoulli TS with per-item priors (e.g. ``bts``).

Two registered online policies use them as empirical-Bayes priors re-fitted from the titles that
already have data (``n_j >= n_min``), so a title arriving mid-run gets an informed prior, without
the policy having to detect arrivals:

* ``lints_feature_prior``: disjoint linear TS, item ``a``'s prior ``N(W^T phi_a, v_a I)``; posterior
  precision ``I / v_a + G_a / noise_var``, mean ``P_a^-1 (m_a / v_a + g_a / noise_var)``. The prior
  regression is re-fitted after every update (``O(K p d)``, from ridge estimates kept by
  recursive least squares). Each title's posterior covariance is kept in the state: the updated
  title's by a Sherman-Morrison step under the prior it has; and after every update a block of
  ``ceil(K / refit_every)`` titles, in turn, is re-factorised under the prior fitted now (a
  ``d x d`` inverse each), so every title's posterior uses a prior at most ``refit_every`` rounds
  old (static constructor option, default 100: one title a round for ``K <= 100``). This is a
  deliberate choice: the empirical-Bayes prior pools all titles and moves slowly, while
  re-factorising all ``K`` posteriors every round costs ``O(K d^3)``. ``refit_every=1`` is the
  per-round refit exactly (tested against :func:`lints_prior_posterior`, which refits from
  scratch).
* ``bernoulli_ts_feature_prior``: context-free Beta-Bernoulli TS, item ``a``'s prior
  ``Beta(alpha0_a, beta0_a)`` from :func:`predict_beta_item_prior`.

Before any title qualifies, the priors fall back to ``N(0, prior_var I)`` and ``Beta(1, 1)``.
(The prior of a title with data is fitted partly on its own data, as in any empirical-Bayes
shrinkage; its own likelihood soon dominates.) Item features live in the state
(``state.item_features (K, p)``; default ``ones((K, 1))``: the prior is the population average).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Policy
from bandits.policies._linalg import (
    RidgeState,
    ridge_init,
    ridge_scores,
    ridge_update,
    spd_solve,
    tri_indices,
    unpack_sym,
)
from bandits.policies._sampling import beta_logit_sample
from bandits.policies._spd_blocks import spd_inverse_blocked
from bandits.policies.hybrid_linucb import validate_item_features
from bandits.policies.nonstationary import check_sizes, gaussian_ts_decision
from bandits.policies.registry import register
from bandits.policies.thompson import ts_decision


class LinearItemPrior(NamedTuple):
    """coef: (p, d) W; gram_inv: (p, p) G^-1; tau2: () residual variance per coordinate."""

    coef: jax.Array
    gram_inv: jax.Array
    tau2: jax.Array


class BetaItemPrior(NamedTuple):
    """coef: (p,) logit-CTR weights; gram_inv: (p, p); tau2: () residual logit variance."""

    coef: jax.Array
    gram_inv: jax.Array
    tau2: jax.Array


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a (m, k) @ b (k, n)``; for small operands (``m k n <= 2^16``, a policy's per-round prior
    fit) as a broadcast multiply-and-sum, which XLA:CPU fuses into one loop, while a batched
    matrix-product call costs more than this arithmetic under ``vmap``."""
    if a.shape[0] * a.shape[1] * b.shape[1] <= 1 << 16:
        return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)
    return a @ b


def _weighted_ridge(item_features, targets, weights, ridge):
    """W = (Phi^T w Phi + ridge I)^-1 Phi^T w Y. targets: (n, m). Returns (W (p, m), G^-1 (p, p))."""
    phi = jnp.asarray(item_features)
    w = jnp.asarray(weights, phi.dtype)
    p = phi.shape[1]
    # Phi^T w [Phi, Y] in one product
    moments = _matmul((phi * w[:, None]).T, jnp.concatenate([phi, jnp.asarray(targets, phi.dtype)], axis=1))
    G = moments[:, :p] + jnp.asarray(ridge, phi.dtype) * jnp.eye(p, dtype=phi.dtype)
    Ginv = spd_inverse_blocked(G)  # p x p: one small inverse serves both outputs
    return _matmul(Ginv, moments[:, p:]), Ginv


def fit_linear_item_prior(item_features, theta, weights=None, ridge=1.0, fallback_var=1.0,
                          min_var=1e-3) -> LinearItemPrior:
    """Fit ``theta_j ~ N(W^T phi_j, tau^2 I)`` on existing titles.

    item_features: (n, p); theta: (n, d) per-title coefficient estimates; weights: (n,) >= 0
    (0 excludes a title; default all 1). ``tau2`` is the weighted mean squared residual per
    coordinate, ``fallback_var`` when the weights sum to 0, floored at ``min_var``.
    """
    phi = jnp.asarray(item_features)
    theta = jnp.asarray(theta, phi.dtype)
    w = jnp.ones(phi.shape[0], phi.dtype) if weights is None else jnp.asarray(weights, phi.dtype)
    W, Ginv = _weighted_ridge(phi, theta, w, ridge)
    resid = theta - _matmul(phi, W)
    wsum = jnp.sum(w)
    tau2 = jnp.sum(w * jnp.sum(resid * resid, axis=1)) / jnp.maximum(wsum * theta.shape[1], 1e-12)
    tau2 = jnp.where(wsum > 0, tau2, jnp.asarray(fallback_var, phi.dtype))
    return LinearItemPrior(coef=W, gram_inv=Ginv, tau2=jnp.maximum(tau2, jnp.asarray(min_var, phi.dtype)))


def predict_linear_item_prior(prior: LinearItemPrior, item_features) -> tuple[jax.Array, jax.Array]:
    """Prior for titles with features ``(m, p)``: ``(mean (m, d), var (m,))``, isotropic per title."""
    phi = jnp.asarray(item_features, prior.coef.dtype)
    lev = jnp.sum((phi @ prior.gram_inv) * phi, axis=-1)
    return phi @ prior.coef, prior.tau2 * (1 + lev)


def fit_beta_item_prior(item_features, clicks, impressions, ridge=1.0, fallback_var=1.0,
                        min_var=1e-3) -> BetaItemPrior:
    """Fit click logits on item features. clicks, impressions: (n,) >= 0 (0 impressions: ignored)."""
    phi = jnp.asarray(item_features)
    c = jnp.asarray(clicks, phi.dtype)
    n = jnp.asarray(impressions, phi.dtype)
    p_hat = (c + 0.5) / (n + 1.0)
    y = jnp.log(p_hat) - jnp.log1p(-p_hat)
    w = n * p_hat * (1 - p_hat)
    W, Ginv = _weighted_ridge(phi, y[:, None], w, ridge)
    resid = y - phi @ W[:, 0]
    has = (n > 0).astype(phi.dtype)
    # residual spread across titles beyond each title's own sampling noise 1 / (n p (1-p))
    noise = has / jnp.maximum(w, 1e-12)
    tau2 = jnp.sum(has * (resid * resid - noise)) / jnp.maximum(jnp.sum(has), 1.0)
    tau2 = jnp.where(jnp.sum(has) > 1, tau2, jnp.asarray(fallback_var, phi.dtype))
    return BetaItemPrior(coef=W[:, 0], gram_inv=Ginv, tau2=jnp.maximum(tau2, jnp.asarray(min_var, phi.dtype)))


def predict_beta_item_prior(prior: BetaItemPrior, item_features, min_strength=2.0,
                            max_strength=1e4) -> tuple[jax.Array, jax.Array]:
    """Beta prior ``(alpha0 (m,), beta0 (m,))`` for titles with features ``(m, p)``; see module doc."""
    phi = jnp.asarray(item_features, prior.coef.dtype)
    mu = phi @ prior.coef
    v = prior.tau2 * (1 + jnp.einsum("mi,ij,mj->m", phi, prior.gram_inv, phi))
    m = jax.nn.sigmoid(mu)
    var_p = (m * (1 - m)) ** 2 * v
    strength = jnp.clip(m * (1 - m) / jnp.maximum(var_p, 1e-12) - 1, min_strength, max_strength)
    return m * strength, (1 - m) * strength


# ----------------------------------------------------------------------------- online policies


class LinTSPriorHParams(NamedTuple):
    """nu: posterior scale (>= 0). noise_var: reward noise variance (> 0). prior_var: fallback prior
    variance (> 0). ridge: penalty of the prior regression (> 0). min_var: prior variance floor.
    n_min: observations a title needs to enter the prior fit. lam: ridge of the per-title estimates
    used as regression targets."""

    nu: float = 1.0
    noise_var: float = 1.0
    prior_var: float = 1.0
    ridge: float = 1.0
    min_var: float = 1e-3
    n_min: float = 10.0
    lam: float = 1.0


class LinTSPriorState(NamedTuple):
    """Statistics of ``lints_feature_prior``, all in the policy's dtype (t: int32).

    G_tri: (K, d(d+1)/2) upper triangles of ``G_a = sum x x^T`` per title
    (:func:`~bandits.policies._linalg.tri_indices`); g: (K, d) sum r x; item_features: (K, p);
    t: () rounds. ridge: the per-title ridge estimates ``(G_a + lam I)^-1 g_a`` (the prior
    regression's targets; ``ridge.counts`` (K,) are the titles' counts). m0 (K, d), v0 (K,): the
    prior each title's posterior was last refreshed with; post: that posterior as a
    :class:`~bandits.policies._linalg.RidgeState` (``post.theta`` the mean, ``post.cov_tri`` the
    covariance ``(I / v0_a + G_a / noise_var)^-1``).
    """

    G_tri: jax.Array
    g: jax.Array
    item_features: jax.Array
    t: jax.Array
    ridge: RidgeState
    m0: jax.Array
    v0: jax.Array
    post: RidgeState

    @property
    def G(self) -> jax.Array:
        """``(K, d, d)``: every title's ``sum x x^T`` (unpacked copy)."""
        return unpack_sym(self.G_tri, self.g.shape[-1])

    @property
    def n(self) -> jax.Array:
        """``(K,)``: every title's number of updates."""
        return self.ridge.counts


def _fitted_prior(theta_hat, n, item_features, hparams, for_features=None) -> tuple[jax.Array, jax.Array]:
    """The prior ``(m0 (m, d), v0 (m,))`` fitted on the titles with ``n >= n_min``, for the titles
    with features ``for_features (m, p)`` (default: every title's, ``m = K``)."""
    dtype = theta_hat.dtype
    w = (n >= jnp.asarray(hparams.n_min, dtype)).astype(dtype)
    prior = fit_linear_item_prior(item_features, theta_hat, w, hparams.ridge, hparams.prior_var,
                                  hparams.min_var)
    return predict_linear_item_prior(prior, item_features if for_features is None else for_features)


def lints_prior_posterior(state: LinTSPriorState, hparams) -> tuple[jax.Array, jax.Array]:
    """Posterior ``(mean (K, d), precision (K, d, d))`` of every title under the prior fitted NOW.

    Computed from scratch from ``G``, ``g``, ``n`` and the item features (``K`` linear solves):
    what ``lints_feature_prior`` uses with ``refit_every=1``; with a larger ``refit_every`` the
    policy's titles may still use a prior up to ``refit_every`` rounds old.
    """
    dtype = state.g.dtype
    K, d = state.g.shape
    eye = jnp.eye(d, dtype=dtype)
    lam = jnp.asarray(hparams.lam, dtype)
    G = state.G
    theta_hat = spd_solve(G + lam * eye, state.g)
    m0, v0 = _fitted_prior(theta_hat, state.n, state.item_features, hparams)
    nv = jnp.asarray(hparams.noise_var, dtype)
    P = eye[None] / v0[:, None, None] + G / nv
    mean = spd_solve(P, m0 / v0[:, None] + state.g / nv)
    return mean, P


def lints_prior_scores(state: LinTSPriorState, context) -> tuple[jax.Array, jax.Array]:
    """Posterior mean ``x^T mu_a`` and variance ``x^T P_a^-1 x`` of every title, ``((K,), (K,))``,
    from the state's stored posteriors (``O(K d^2)``, no factorisation)."""
    return ridge_scores(state.post, jnp.asarray(context, state.g.dtype))


def _posteriors(G_tri, g, m0, v0, hparams) -> tuple[jax.Array, jax.Array]:
    """Posterior ``(cov_tri (m, d(d+1)/2), mean (m, d))`` under priors ``m0 (m, d)``, ``v0 (m,)``
    from G_tri (m, d(d+1)/2), g (m, d): one ``d x d`` inverse per title (LAPACK-free)."""
    d = g.shape[-1]
    nv = jnp.asarray(hparams.noise_var, g.dtype)
    rows, cols, _, _ = tri_indices(d)
    P = jnp.eye(d, dtype=g.dtype) / v0[:, None, None] + unpack_sym(G_tri, d) / nv
    cov = spd_inverse_blocked(P)
    rhs = m0 / v0[:, None] + g / nv
    mean = jnp.matmul(cov, rhs[:, :, None])[:, :, 0]
    return cov.reshape(-1, d * d)[:, rows * d + cols], mean


def _refreshed_all(state: LinTSPriorState, hparams) -> LinTSPriorState:
    """Refit the prior and refresh every title's posterior with it."""
    m0, v0 = _fitted_prior(state.ridge.theta, state.n, state.item_features, hparams)
    cov_tri, mean = _posteriors(state.G_tri, state.g, m0, v0, hparams)
    return state._replace(m0=m0, v0=v0, post=state.post._replace(cov_tri=cov_tri, theta=mean))


def _refreshed_block(state: LinTSPriorState, start, size: int, hparams) -> LinTSPriorState:
    """Refit the prior; refresh the posteriors of titles ``start .. start + size - 1`` with it
    (a contiguous block: slices, no scatter)."""
    block = functools.partial(jax.lax.dynamic_slice_in_dim, start_index=start, slice_size=size, axis=0)
    put = functools.partial(jax.lax.dynamic_update_slice_in_dim, start_index=start, axis=0)
    m, v = _fitted_prior(state.ridge.theta, state.n, state.item_features, hparams,
                         block(state.item_features))
    cov_tri, mean = _posteriors(block(state.G_tri), block(state.g), m, v, hparams)
    post = state.post._replace(cov_tri=put(state.post.cov_tri, cov_tri), theta=put(state.post.theta, mean))
    return state._replace(m0=put(state.m0, m), v0=put(state.v0, v), post=post)


@register("lints_feature_prior", hparams=LinTSPriorHParams,
          rules={"nu": V.NONNEGATIVE, "noise_var": V.POSITIVE, "prior_var": V.POSITIVE, "ridge": V.POSITIVE,
                 "min_var": V.POSITIVE, "n_min": V.NONNEGATIVE, "lam": V.POSITIVE},
          needs=("item_features",))
def lints_feature_prior(num_actions: int, context_dim: int, dtype=jnp.float32, item_features=None,
                        n_mc: int = 256, refit_every: int = 100) -> Policy:
    """Disjoint linear TS with empirical-Bayes priors from item features; see the module docstring.

    probs: Monte Carlo over ``n_mc`` (static) draws of ``x^T theta_a``. refit_every (static, >= 1):
    every title's posterior uses a prior at most this many rounds old (1: every title's posterior
    under the prior refitted every round).
    """
    K, d = check_sizes("lints_feature_prior", num_actions, context_dim, dtype, n_mc=n_mc,
                       refit_every=refit_every)
    feats = validate_item_features("lints_feature_prior", item_features, K, dtype)
    size = min(-(-K // int(refit_every)), K)  # titles refreshed in turn each round
    n_blocks = -(-K // size)  # <= refit_every
    rows, cols, _, _ = tri_indices(d)

    def init(key, hparams):
        ridge = ridge_init(K, d, hparams.lam, dtype)
        phi = jnp.asarray(feats, dtype)
        # no title has data yet: every posterior is its prior N(m0_a, v0_a I), nothing to invert
        m0, v0 = _fitted_prior(ridge.theta, ridge.counts, phi, hparams)
        post = RidgeState(cov_tri=v0[:, None] * jnp.asarray(rows == cols, dtype)[None, :], theta=m0,
                          counts=ridge.counts)
        return LinTSPriorState(G_tri=jnp.zeros_like(ridge.cov_tri), g=jnp.zeros((K, d), dtype), item_features=phi,
                               t=jnp.zeros((), jnp.int32), ridge=ridge, m0=m0, v0=v0, post=post)

    def select(key, state, context, mask, hparams):
        mean, var = lints_prior_scores(state, context)
        std = jnp.asarray(hparams.nu, dtype) * jnp.sqrt(jnp.maximum(var, 0))
        return gaussian_ts_decision(key, mean, std, mask, int(n_mc), dtype)

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        r = jnp.asarray(reward, dtype)
        a = jnp.asarray(action, jnp.int32)
        take = functools.partial(jax.lax.dynamic_index_in_dim, index=a, axis=0, keepdims=False)
        put = functools.partial(jax.lax.dynamic_update_index_in_dim, index=a, axis=0)
        # the updated title's posterior under the prior it has: a recursive-least-squares step
        # with noise variance noise_var (inputs scaled by 1 / sqrt(noise_var))
        s = jax.lax.rsqrt(jnp.asarray(hparams.noise_var, dtype))
        state = state._replace(G_tri=put(state.G_tri, take(state.G_tri) + x[rows] * x[cols]),
                               g=put(state.g, take(state.g) + r * x), ridge=ridge_update(state.ridge, x, a, r),
                               post=ridge_update(state.post, s * x, a, s * r), t=state.t + 1)
        if size >= K:
            return _refreshed_all(state, hparams)
        # block b = t mod n_blocks covers titles [b * size, b * size + size), the last one shifted
        # back to end at K: every title is refreshed at least once every n_blocks rounds
        start = jnp.minimum((state.t % n_blocks) * size, K - size)
        return _refreshed_block(state, start, size, hparams)

    return Policy("lints_feature_prior", K, d, LinTSPriorHParams(), init, select, update)


class BetaTSPriorHParams(NamedTuple):
    """ridge: penalty of the prior regression. n_min: impressions a title needs to enter the fit.
    fallback_var: logit variance before any title qualifies. min_strength, max_strength: bounds on
    alpha0 + beta0."""

    ridge: float = 1.0
    n_min: float = 10.0
    fallback_var: float = 4.0
    min_strength: float = 2.0
    max_strength: float = 1e4


class BetaTSPriorState(NamedTuple):
    """S: (K,) successes; N: (K,) impressions; item_features: (K, p); t: () int32."""

    S: jax.Array
    N: jax.Array
    item_features: jax.Array
    t: jax.Array


def beta_prior_from_state(state: BetaTSPriorState, hparams) -> tuple[jax.Array, jax.Array]:
    """Every title's fitted prior ``(alpha0 (K,), beta0 (K,))`` from the titles with data."""
    dtype = state.S.dtype
    use = (state.N >= jnp.asarray(hparams.n_min, dtype)).astype(dtype)
    prior = fit_beta_item_prior(state.item_features, state.S * use, state.N * use, hparams.ridge,
                                hparams.fallback_var)
    a0, b0 = predict_beta_item_prior(prior, state.item_features, hparams.min_strength, hparams.max_strength)
    any_fit = jnp.sum(use) > 1
    return jnp.where(any_fit, a0, 1.0), jnp.where(any_fit, b0, 1.0)


@register("bernoulli_ts_feature_prior", hparams=BetaTSPriorHParams,
          rules={"ridge": V.POSITIVE, "n_min": V.NONNEGATIVE, "fallback_var": V.POSITIVE,
                 "min_strength": V.POSITIVE, "max_strength": V.POSITIVE},
          traits=("context_free",), needs=("item_features",))
def bernoulli_ts_feature_prior(num_actions: int, context_dim: int = 1, dtype=jnp.float32, item_features=None,
                               n_mc: int = 256) -> Policy:
    """Beta-Bernoulli TS with empirical-Bayes per-title Beta priors from item features (rewards in [0, 1]).

    probs: Monte Carlo over ``n_mc`` (static) Beta draws.
    """
    K, d = check_sizes("bernoulli_ts_feature_prior", num_actions, context_dim, dtype, n_mc=n_mc)
    feats = validate_item_features("bernoulli_ts_feature_prior", item_features, K, dtype)

    def init(key, hparams):
        z = jnp.zeros((K,), dtype)
        return BetaTSPriorState(S=z, N=z, item_features=jnp.asarray(feats, dtype), t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        a0, b0 = beta_prior_from_state(state, hparams)
        a, b = a0 + state.S, b0 + state.N - state.S
        return ts_decision(key, lambda k, n: beta_logit_sample(k, a, b, (n, K), dtype), mask, int(n_mc), dtype)

    def update(state, context, action, reward, hparams):
        oh = jax.nn.one_hot(action, K, dtype=dtype)
        return state._replace(S=state.S + oh * jnp.asarray(reward, dtype), N=state.N + oh, t=state.t + 1)

    return Policy("bernoulli_ts_feature_prior", K, d, BetaTSPriorHParams(), init, select, update)
