"""Slate Bernoulli Thompson sampling with per-item Beta priors (registered as ``"bts"``).

Each item ``a`` has a Beta posterior ``Beta(alpha_a, beta_a)`` over its click probability. A round
draws ``theta_a ~ Beta(alpha_a, beta_a)`` for every available item and shows the ``len_list``
items with the largest draws, best first (slot 0 = the top draw). This is the policy ZOZOTOWN ran
to collect the ``bts`` half of the Open Bandit Dataset (obp's ``BernoulliTS``), and
:func:`obd_site_prior` gives the Beta prior the site used (``is_zozotown_prior=True`` in obp).

Probabilities. The chance that item ``a`` lands in slot ``k`` has no closed form, so
``select`` estimates ``probs (K, L)`` by Monte Carlo from ``n_mc`` joint draws (static, set at
construction; the returned action is the ranking of the first of those draws, so it is an exact
Thompson sample; that draw has its own key, so when ``probs`` is not used XLA drops the other
``n_mc - 1`` and a round costs one draw per item). For off-policy evaluation of the context-free policy the same quantity is
estimated once with many draws by :func:`bts_action_dist` (obp's
``compute_batch_action_dist(n_rounds, n_sim)``, vectorised in JAX and chunked to bound memory);
its Monte Carlo standard error per entry is ``sqrt(p (1 - p) / n_sim)``.

State: ``BTSState(alpha (K,), beta (K,), t () int32)``: posterior parameters (prior scaled by
``hparams.prior_scale`` at ``init``, plus observed rewards / non-rewards) and rounds seen.
``update(state, context, action (L,), reward (L,), hparams)`` adds ``reward`` to ``alpha`` and
``1 - reward`` to ``beta`` of each shown item (obp's update with ``batch_size=1``); rewards are
expected in ``[0, 1]``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.datasets.obd import obd_site_prior
from bandits.policies._sampling import beta_logit_sample, beta_sample, gamma_sample
from bandits.policies.registry import register

__all__ = [
    "BTSHParams",
    "BTSState",
    "bernoulli_ts",
    "obd_site_prior",
    "bts_action_dist",
    "compute_batch_action_dist",
    "gamma_sample",
    "beta_sample",
]


class BTSHParams(NamedTuple):
    """prior_scale: multiplies the prior pseudo-counts ``(alpha0, beta0)`` at ``init`` (1 = as given;
    smaller = weaker prior, same prior mean)."""

    prior_scale: float = 1.0


class BTSState(NamedTuple):
    alpha: jax.Array  # (K,) float, posterior successes + prior
    beta: jax.Array  # (K,) float, posterior failures + prior
    t: jax.Array  # () int32, rounds seen


def _check_prior(name: str, x, num_actions: int) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.shape != (num_actions,):
        raise ValueError(f"{name}: expected shape ({num_actions},) (one Beta parameter per action), got shape {a.shape}")
    if not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"{name}: expected finite values > 0, got min {a.min()!r}")
    return a


def _topk_draw(key, alpha, beta, mask, len_list, n, dtype):
    """``(n, L)`` int32: the top-L items of ``n`` independent joint Beta draws (masked items last)."""
    theta = beta_logit_sample(key, alpha, beta, (n, alpha.shape[0]), dtype)  # ranks like the draws
    theta = jnp.where(mask, theta, jnp.asarray(-jnp.inf, dtype))
    return jax.lax.top_k(theta, len_list)[1].astype(jnp.int32)


def _slot_counts(idx, weight, num_actions, len_list):
    """idx (n, L) int32, weight (n,) int32 -> counts (K, L) int32."""
    slots = jnp.broadcast_to(jnp.arange(len_list, dtype=jnp.int32), idx.shape)
    w = jnp.broadcast_to(weight[:, None], idx.shape)
    return jnp.zeros((num_actions, len_list), jnp.int32).at[idx, slots].add(w)


@register("bts", hparams=BTSHParams, rules={"prior_scale": V.POSITIVE},
          traits=("context_free", "slate", "single_slot"))
def bernoulli_ts(
    num_actions: int,
    context_dim: int = 1,
    dtype=jnp.float32,
    *,
    len_list: int = 1,
    alpha=None,
    beta=None,
    campaign: str | None = None,
    n_mc: int = 1000,
) -> Policy:
    """Slate Bernoulli Thompson sampling (context-free; any context of shape ``(context_dim,)`` is ignored).

    num_actions: K items. len_list: L slots filled per round (1 <= L <= K).
    alpha, beta: ``(K,)`` Beta prior parameters (> 0); default 1 (uniform prior).
    campaign: ``"all"``/``"men"``/``"women"`` uses ZOZOTOWN's site prior (:func:`obd_site_prior`),
        like obp's ``BernoulliTS(is_zozotown_prior=True, campaign=...)``; excludes alpha/beta.
    n_mc: Monte Carlo draws per ``select`` used to estimate ``probs (K, L)`` (static).

    Decision: ``action (L,) int32`` distinct items, best first; ``probs (K, L)``: Monte Carlo
    estimate of P(item in slot), each column sums to 1, exactly 0 for masked items. At least L
    items must be available in ``mask``. With ``len_list=1`` the policy follows the single-action
    protocol: ``action ()``, ``probs (K,)``, ``update`` with ``action ()`` and ``reward ()``.
    """
    K = int(num_actions)
    L = int(len_list)
    if K < 1:
        raise ValueError(f"num_actions: expected an integer >= 1, got {num_actions!r}")
    if not 1 <= L <= K:
        raise ValueError(f"len_list: expected an integer in [1, num_actions={K}], got {len_list!r}")
    if int(n_mc) < 1:
        raise ValueError(f"n_mc: expected an integer >= 1, got {n_mc!r}")
    n_mc = int(n_mc)
    if campaign is not None:
        if alpha is not None or beta is not None:
            raise ValueError("campaign: give either campaign (the site prior) or alpha/beta, not both")
        alpha, beta = obd_site_prior(campaign)
        if alpha.shape[0] != K:
            raise ValueError(f"num_actions: campaign {campaign!r} has {alpha.shape[0]} items, got num_actions={K}")
    alpha0 = _check_prior("alpha", np.ones(K) if alpha is None else alpha, K)
    beta0 = _check_prior("beta", np.ones(K) if beta is None else beta, K)

    def init(key, hparams):
        s = jnp.asarray(hparams.prior_scale, dtype)
        return BTSState(alpha=s * jnp.asarray(alpha0, dtype), beta=s * jnp.asarray(beta0, dtype),
                        t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        # draw 0 (the shown slate) has its own key: a caller that ignores probs pays one draw
        idx0 = _topk_draw(jax.random.fold_in(key, 0), state.alpha, state.beta, mask, L, 1, dtype)  # (1, L)
        counts = _slot_counts(idx0, jnp.ones((1,), jnp.int32), K, L)
        if n_mc > 1:
            rest = _topk_draw(jax.random.fold_in(key, 1), state.alpha, state.beta, mask, L, n_mc - 1, dtype)
            counts = counts + _slot_counts(rest, jnp.ones((n_mc - 1,), jnp.int32), K, L)
        idx = idx0
        probs = counts.astype(dtype) / jnp.asarray(n_mc, dtype)
        probs = jnp.where(jnp.reshape(mask, (K, 1)), probs, 0)  # exactly 0 when masked (all 0 if none left)
        if L == 1:  # plain single-action protocol: action (), probs (K,)
            return Decision(action=idx[0, 0], probs=probs[:, 0])
        return Decision(action=idx[0], probs=probs)

    def update(state, context, action, reward, hparams):
        action = jnp.reshape(action, (L,)).astype(jnp.int32)
        r = jnp.reshape(jnp.asarray(reward, dtype), (L,))
        return BTSState(alpha=state.alpha.at[action].add(r), beta=state.beta.at[action].add(1 - r), t=state.t + 1)

    return Policy("bts", K, int(context_dim), BTSHParams(), init, select, update, L)


@functools.partial(jax.jit, static_argnames=("len_list", "n_sim", "chunk_size", "dtype"))
def _batched_counts(key, alpha, beta, mask, len_list, n_sim, chunk_size, dtype):
    K = alpha.shape[0]
    n_chunks = -(-n_sim // chunk_size)

    def body(counts, c):
        idx = _topk_draw(jax.random.fold_in(key, c), alpha, beta, mask, len_list, chunk_size, dtype)
        valid = (c * chunk_size + jnp.arange(chunk_size)) < n_sim
        return counts + _slot_counts(idx, valid.astype(jnp.int32), K, len_list), None

    counts, _ = jax.lax.scan(body, jnp.zeros((K, len_list), jnp.int32), jnp.arange(n_chunks))
    return counts


def bts_action_dist(
    key: jax.Array,
    alpha,
    beta,
    len_list: int,
    n_sim: int = 100_000,
    mask=None,
    chunk_size: int = 10_000,
    dtype=jnp.float32,
) -> np.ndarray:
    """Monte Carlo slot probabilities of context-free slate Bernoulli TS.

    Simulates ``n_sim`` independent rounds: draw ``theta ~ Beta(alpha, beta)`` for all K items,
    rank, keep the top ``len_list``; returns the frequency of each (item, slot) as a ``(K, L)``
    float64 numpy array (columns sum to 1). Same estimand as obp's
    ``BernoulliTS.compute_batch_action_dist`` (one row of it); standard error of an entry ``p`` is
    ``sqrt(p (1 - p) / n_sim)``. Draws run in ``ceil(n_sim / chunk_size)`` chunks of
    ``chunk_size`` (memory ``O(chunk_size * K)``) inside one jitted ``lax.scan``.

    alpha, beta: ``(K,)`` posterior (or prior) parameters, > 0 (e.g. ``obd_site_prior("all")`` or a
    :class:`BTSState`'s fields). mask: optional ``(K,)`` bool of available items.
    """
    a = jnp.asarray(alpha, dtype)
    b = jnp.asarray(beta, dtype)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"alpha, beta: expected two arrays of shape (K,), got {a.shape} and {b.shape}")
    K = a.shape[0]
    L = int(len_list)
    if not 1 <= L <= K:
        raise ValueError(f"len_list: expected an integer in [1, K={K}], got {len_list!r}")
    if int(n_sim) < 1 or int(chunk_size) < 1:
        raise ValueError(f"n_sim, chunk_size: expected integers >= 1, got {n_sim!r}, {chunk_size!r}")
    m = jnp.ones((K,), bool) if mask is None else jnp.asarray(mask, bool)
    if m.shape != (K,):
        raise ValueError(f"mask: expected shape ({K},), got {m.shape}")
    if int(jnp.sum(m)) < L:
        raise ValueError(f"mask: expected at least len_list={L} available items, got {int(jnp.sum(m))}")
    chunk = min(int(chunk_size), int(n_sim))
    counts = _batched_counts(key, a, b, m, L, int(n_sim), chunk, dtype)
    return np.asarray(counts, np.float64) / float(n_sim)


def compute_batch_action_dist(
    key: jax.Array, alpha, beta, len_list: int, n_sim: int = 100_000, n_rounds: int = 1, **kw
) -> np.ndarray:
    """obp-style ``action_dist (n_rounds, K, len_list)`` float64 for context-free BTS: the
    :func:`bts_action_dist` estimate repeated for every round (a read-only broadcast view, memory
    ``O(K L)``; ``np.array(...)`` materialises it)."""
    if int(n_rounds) < 1:
        raise ValueError(f"n_rounds: expected an integer >= 1, got {n_rounds!r}")
    dist = bts_action_dist(key, alpha, beta, len_list, n_sim, **kw)
    return np.broadcast_to(dist, (int(n_rounds),) + dist.shape)
