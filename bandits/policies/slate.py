"""Slate (top-k) policies: ``len_list`` slots per round with exact per-slot probabilities.

``select`` returns ``Decision(action (L,) int32, probs (K, L))``: ``action[l]`` is the item shown
in slot ``l`` (slot 0 = top of the row) and ``probs[a, l]`` the marginal probability that item
``a`` is shown in slot ``l`` (obp's ``action_dist[i]`` layout; each column sums to 1, a row sums to
the probability that the item is shown at all). ``update`` takes ``action (L,)`` (distinct items, as
``select`` returns them) and per-slot ``reward (L,)``.

Position effects (the position-based model, PBM). The reward of item ``a`` in slot ``l`` is
``kappa_l * f(x, a)``: the member examines slot ``l`` with probability ``kappa_l`` (the
``position_weights``, non-increasing, slot 0 first) and then responds to the item. This is
respected in two places:

* learning: a click in slot ``l`` is evidence about ``f`` scaled by ``kappa_l``, so each slot's
  observation enters the ridge model of its item with feature ``kappa_l x`` and target ``r_l``
  (the least-squares fit of ``r_l ~ kappa_l x^T theta_a``); a miss in a rarely examined slot
  therefore counts for little;
* ranking: with ``kappa`` non-increasing, sorting items by ``f`` (or its optimistic / sampled
  version) and filling slots in order maximises the expected slate reward (rearrangement
  inequality), which is what the policies do.

``position_weights`` are validated at construction and kept in the state
(``state.position_weights (L,)``), so a calibrated simulator's learned position effect can be
dropped in. Default: all ones (no position effect).

Policies (ties in the ranking are broken uniformly at random and the probabilities account for it
exactly: an item tied with ``g - 1`` others just below ``n`` better items is in each of slots
``n .. n+g-1`` with probability ``1/g``):

* ``slate_linucb``: rank by ``x^T theta_a + alpha sqrt(x^T A_a^-1 x)``; probs exact.
* ``slate_epsilon_greedy``: with probability ``1 - epsilon`` the greedy ranking by ``x^T theta_a``,
  otherwise a uniformly random ordering of the available items; probs exact
  (``(1 - eps) greedy + eps / n_available``).
* ``slate_lints``: rank by a posterior draw ``N(x^T theta_a, nu^2 x^T A_a^-1 x)``; probs are the
  average of the exact tie-aware slot indicators over ``n_mc`` (static) draws, the first of which
  is the shown slate's draw (Monte Carlo: standard error ``sqrt(p (1 - p) / n_mc)`` per entry;
  ``E[probs]`` is the exact marginal).

Cost of a round. The ridge statistics are the packed inverse of :mod:`bandits.policies._linalg`
(scores of all items in one mat-vec; the ``L`` rank-one updates touch ``L`` distinct rows, so they
run as one batched gather / update / scatter, :func:`ridge_update_slate`), the slate is ``L``
passes of two reductions over the items (:func:`topk_sample`), and the slot marginals (one sort,
``O(K log K)``, per draw) are computed only when a caller uses ``probs`` (logging, OPE): a sweep
that only needs rewards and regret pays about one top-``L`` per round.

At least ``len_list`` items must be available (``mask.sum() >= len_list``); with fewer, the
trailing slots are filled with unavailable items (this cannot raise inside jit; callers that build
catalogs check it).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.policies._linalg import RidgeState, ridge_init, ridge_row_rank_one, ridge_scores, spd_inverse
from bandits.policies.nonstationary import check_sizes
from bandits.policies.registry import register


class SlateState(NamedTuple):
    """Per-item ridge statistics (:class:`~bandits.policies._linalg.RidgeState` layout, updated
    rank-one: no factorisation in a round) plus the position weights.

    cov_tri: ``(K, d(d+1)/2)`` packed ``A_a^{-1}``; theta: ``(K, d)`` ridge estimates ``A_a^{-1} b_a``;
    counts: ``(K,)`` examined-slot updates per item; position_weights: ``(L,)``; t: ``()`` int32.
    """

    cov_tri: jax.Array
    theta: jax.Array
    counts: jax.Array
    position_weights: jax.Array
    t: jax.Array

    @property
    def ridge(self) -> RidgeState:
        return RidgeState(self.cov_tri, self.theta, self.counts)

    @property
    def A(self) -> jax.Array:
        """``(K, d, d)`` ridge Gram matrices ``lam I + sum (kappa_l x)(kappa_l x)^T`` (computed copy)."""
        return spd_inverse(self.ridge.cov)

    @property
    def b(self) -> jax.Array:
        """``(K, d)`` ``sum kappa_l r_l x`` (computed copy, ``A_a theta_a``)."""
        return jnp.einsum("kij,kj->ki", self.A, self.theta)


class SlateLinUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0). lam: ridge penalty (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0


class SlateLinTSHParams(NamedTuple):
    """nu: posterior scale (>= 0). lam: ridge penalty (> 0)."""

    nu: float = 0.5
    lam: float = 1.0


class SlateEpsGreedyHParams(NamedTuple):
    """epsilon: probability of a uniformly random slate, in [0, 1]. lam: ridge penalty (> 0)."""

    epsilon: float = 0.1
    lam: float = 1.0


def topk_slot_probs(scores: jax.Array, mask: jax.Array, len_list: int) -> jax.Array:
    """Exact per-slot marginals of "sort by score, ties in random order, take the top len_list".

    scores: (K,); mask: (K,) bool. Returns (K, len_list): ``probs[a, l] = 1/g_a`` for
    ``n_a <= l < n_a + g_a`` where ``n_a`` counts available items strictly better than ``a`` and
    ``g_a`` the available items tied with it (itself included); 0 for unavailable items.
    ``n_a`` and ``g_a`` come from one sort and two binary searches: ``O(K log K)``, not the
    ``O(K^2)`` pairwise comparison and never an enumeration of slates. An item whose score is NaN
    gets a NaN row (its column sums turn NaN too) rather than a confident probability.
    """
    dtype = scores.dtype
    K = scores.shape[0]
    s = jnp.where(mask, scores, jnp.asarray(-jnp.inf, dtype))
    asc = jnp.sort(s)
    n_masked = K - jnp.sum(mask)
    le = jnp.searchsorted(asc, s, side="right")  # items (masked included, at -inf) <= s_a
    lt = jnp.searchsorted(asc, s, side="left")
    better = K - le
    tied = le - jnp.maximum(lt, n_masked)  # available items equal to s_a
    slots = jnp.arange(len_list)[None, :]
    inside = (slots >= better[:, None]) & (slots < (better + tied)[:, None]) & mask[:, None]
    probs = inside.astype(dtype) / jnp.maximum(tied, 1)[:, None].astype(dtype)
    return jnp.where(jnp.isnan(scores)[:, None], jnp.asarray(jnp.nan, dtype), probs)  # a NaN score stays visible


_KEY_INDEX_BITS_MAX = 16  # catalogs up to 2**16 items: the index takes the low bits of a 32-bit key


def topk_sample(key, scores: jax.Array, mask: jax.Array, len_list: int) -> jax.Array:
    """Top ``len_list`` available items by score, ties broken uniformly at random; (L,) int32.

    Available items first, by decreasing score, ties in a uniformly random order; unavailable items
    last (in random order). ``len_list`` passes of two reductions over the K items (a full sort is
    not needed for the first few): the best score among the remaining items, then the smallest
    32-bit tie key among the items that reach it. A tie key is an independent random word whose low
    ``b = ceil(log2 K)`` bits are replaced by the item's index, so keys are distinct and the second
    reduction names the item; the order of tied items is uniform unless two of them share the
    ``32 - b`` random bits (then the lower index goes first: probability at most ``g^2 2^(b-33)``
    for ``g`` tied items). Catalogs above ``2**16`` items use independent float32 uniforms and a
    third reduction (the index) instead.
    """
    K = scores.shape[0]
    neg = jnp.asarray(-jnp.inf, scores.dtype)
    s = jnp.where(mask, scores, neg)
    n_avail = jnp.sum(mask)
    nb = max(1, int(np.ceil(np.log2(K)))) if K > 1 else 1
    iota = jnp.arange(K, dtype=jnp.uint32)
    if nb <= _KEY_INDEX_BITS_MAX:
        low = np.uint32((1 << nb) - 1)
        tie_key = (jax.random.bits(key, (K,), jnp.uint32) & ~low) | iota
        none = np.uint32(0xFFFFFFFF)
    else:
        u = jax.random.uniform(key, (K,), scores.dtype)
    out = []
    live = jnp.ones((K,), bool)
    for slot in range(len_list):
        avail_left = n_avail > slot  # else every available item is already shown: unavailable ones next
        pool = live & (mask | ~avail_left)
        ranked = jnp.where(avail_left, s, neg)
        best = jnp.max(jnp.where(pool, ranked, neg))
        cand = pool & (ranked >= best)
        if nb <= _KEY_INDEX_BITS_MAX:
            j = jnp.min(jnp.where(cand, tie_key, none)) & low
        else:
            umin = jnp.min(jnp.where(cand, u, 2))
            j = jnp.min(jnp.where(cand & (u <= umin), iota, K))
        out.append(j)
        live = live & (iota != j)
    return jnp.stack(out).astype(jnp.int32)


def ridge_update_slate(state: RidgeState, xs: jax.Array, actions: jax.Array, rewards: jax.Array) -> RidgeState:
    """The ``L`` rank-one updates of a slate round at once: item ``actions[l]`` with ``(xs[l], rewards[l])``.

    xs: ``(L, d)``; actions: ``(L,)`` int, distinct items; rewards: ``(L,)``. The items of a slate
    are distinct, so its slots update different rows and are independent: one gather of the ``L``
    rows, one batched ``u_l = P_{a_l} x_l`` and one scatter give the same rows as ``L`` sequential
    Sherman-Morrison steps (:func:`~bandits.policies._linalg.ridge_update`; each row by
    :func:`~bandits.policies._linalg.ridge_row_rank_one`) at a fraction of the
    operations. A repeated item is not a slate: inside ``jit`` nothing can raise, so every row of a
    repeated item becomes NaN (its scores, hence the policy's probabilities, turn NaN: an
    unmistakable signal rather than a silently dropped update); the policies' ``update`` raises on
    concrete input.
    """
    a = jnp.asarray(actions, jnp.int32)
    p, theta = jax.vmap(ridge_row_rank_one)(state.cov_tri[a], state.theta[a], xs, rewards,  # (L, T), (L, d)
                                            jnp.ones_like(rewards))
    repeated = (jnp.sum(a[:, None] == a[None, :], axis=1) > 1)[:, None]
    nan = jnp.asarray(jnp.nan, xs.dtype)
    p_new, theta_new = jnp.where(repeated, nan, p), jnp.where(repeated, nan, theta)
    return RidgeState(cov_tri=state.cov_tri.at[a].set(p_new), theta=state.theta.at[a].set(theta_new),
                      counts=state.counts.at[a].add(1))


def _slate_sizes(name, num_actions, context_dim, dtype, len_list, position_weights, **static):
    """``(K, d, L, position weights)`` of a slate constructor, every argument checked (naming it)."""
    K, d = check_sizes(name, num_actions, context_dim, dtype, **static)
    return K, d, int(len_list), _validate_slate(name, K, len_list, position_weights)


def _validate_slate(name, num_actions, len_list, position_weights):
    if not isinstance(len_list, int | np.integer) or int(len_list) < 1:
        raise ValueError(f"{name}: len_list: expected an integer >= 1, got {len_list!r}")
    if int(len_list) > int(num_actions):
        raise ValueError(f"{name}: len_list: expected <= num_actions={num_actions}, got {len_list}")
    if position_weights is None:
        return np.ones(int(len_list))
    w = np.asarray(position_weights, dtype=np.float64)
    if w.shape != (int(len_list),):
        raise ValueError(f"{name}: position_weights: expected shape ({len_list},), got {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.diff(w) <= 0)):
        raise ValueError(
            f"{name}: position_weights: expected positive, non-increasing values (slot 0 first), got {w.tolist()}"
        )
    return w


def _slate_family(name, K, d, L, dtype, weights, hparams_default, rank):
    """Build a slate Policy from ``rank(key, mean, quad, mask, hparams) -> (action (L,), probs (K, L))``
    (``quad = x^T A_a^{-1} x``); probs are computed only where a caller uses them."""

    def init(key, hparams):
        r = ridge_init(K, d, hparams.lam, dtype)
        return SlateState(cov_tri=r.cov_tri, theta=r.theta, counts=r.counts,
                          position_weights=jnp.asarray(weights, dtype), t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        mean, quad = ridge_scores(state.ridge, jnp.asarray(context, dtype))
        action, probs = rank(key, mean, quad, mask, hparams)
        return Decision(action=action, probs=probs)

    def update(state, context, action, reward, hparams):
        x = jnp.asarray(context, dtype)
        kap = state.position_weights
        if not isinstance(action, jax.core.Tracer):
            shown = np.asarray(action).reshape(-1)
            if np.unique(shown).size != shown.size:
                raise ValueError(f"{name}: action: expected {L} distinct items (a slate shows an item once), "
                                 f"got {shown.tolist()}")
        act = jnp.reshape(jnp.asarray(action, jnp.int32), (L,))
        r = jnp.reshape(jnp.asarray(reward, dtype), (L,))
        xs = kap[:, None] * x[None, :]  # (L, d) examined features, one rank-one update per slot
        ridge = ridge_update_slate(state.ridge, xs, act, r)
        return state._replace(cov_tri=ridge.cov_tri, theta=ridge.theta, counts=ridge.counts, t=state.t + 1)

    return Policy(name, K, d, hparams_default, init, select, update, len_list=L)


@register("slate_linucb", hparams=SlateLinUCBHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE},
          traits=("slate",))
def slate_linucb(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                 position_weights=None) -> Policy:
    """Top-``len_list`` LinUCB slate; see the module docstring. probs: exact."""
    K, d, L, w = _slate_sizes("slate_linucb", num_actions, context_dim, dtype, len_list, position_weights)

    def rank(key, mean, quad, mask, h):
        score = mean + jnp.asarray(h.alpha, dtype) * jnp.sqrt(quad)
        return topk_sample(key, score, mask, L), topk_slot_probs(score, mask, L)

    return _slate_family("slate_linucb", K, d, L, dtype, w, SlateLinUCBHParams(), rank)


@register("slate_epsilon_greedy", hparams=SlateEpsGreedyHParams, rules={"epsilon": V.UNIT, "lam": V.POSITIVE},
          traits=("slate",))
def slate_epsilon_greedy(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                         position_weights=None) -> Policy:
    """Epsilon-greedy slate on ridge estimates; see the module docstring. probs: exact."""
    K, d, L, w = _slate_sizes("slate_epsilon_greedy", num_actions, context_dim, dtype, len_list, position_weights)

    def rank(key, mean, quad, mask, h):
        eps = jnp.asarray(h.epsilon, dtype)
        k_coin, k_rank = jax.random.split(key)
        explore = jax.random.uniform(k_coin, (), dtype) < eps
        zeros = jnp.zeros_like(mean)
        action = topk_sample(k_rank, jnp.where(explore, zeros, mean), mask, L)
        n_avail = jnp.sum(mask).astype(dtype)
        uniform = jnp.broadcast_to((mask.astype(dtype) / n_avail)[:, None], (K, L))
        probs = (1 - eps) * topk_slot_probs(mean, mask, L) + eps * uniform
        return action, probs

    return _slate_family("slate_epsilon_greedy", K, d, L, dtype, w, SlateEpsGreedyHParams(), rank)


@register("slate_lints", hparams=SlateLinTSHParams, rules={"nu": V.NONNEGATIVE, "lam": V.POSITIVE},
          traits=("slate",))
def slate_lints(num_actions: int, context_dim: int, dtype=jnp.float32, len_list: int = 3,
                position_weights=None, n_mc: int = 256) -> Policy:
    """Linear TS slate: rank by one posterior draw; probs averaged over ``n_mc`` (static) draws."""
    K, d, L, w = _slate_sizes("slate_lints", num_actions, context_dim, dtype, len_list, position_weights, n_mc=n_mc)

    def rank(key, mean, quad, mask, h):
        std = jnp.asarray(h.nu, dtype) * jnp.sqrt(quad)
        # draw 0 (the shown slate) has its own key, so a caller that ignores probs pays one draw
        k0, k_rest, k_tie = (jax.random.fold_in(key, i) for i in range(3))
        draw0 = mean + std * jax.random.normal(k0, (K,), dtype)
        probs = topk_slot_probs(draw0, mask, L)
        if int(n_mc) > 1:
            rest = mean[None, :] + std[None, :] * jax.random.normal(k_rest, (int(n_mc) - 1, K), dtype)
            probs = (probs + jnp.sum(jax.vmap(lambda s_: topk_slot_probs(s_, mask, L))(rest), axis=0)) / n_mc
        return topk_sample(k_tie, draw0, mask, L), probs

    return _slate_family("slate_lints", K, d, L, dtype, w, SlateLinTSHParams(), rank)
