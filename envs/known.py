"""Known worlds: environments whose click probabilities are set by hand, so every value is exact.

A known world is the ground truth of a fidelity study (``screentest fidelity``,
:mod:`experiments.fidelity`): logs are drawn from it, a member simulator is refitted on those
logs, and what the simulator and the off-policy estimators say about a policy is compared with
the world's exact value of that policy.

:func:`obd_world` is shaped like the bundled Open Bandit Dataset sample (``campaign`` ``all``:
80 items, 3 slots, 20 one-hot member features, the items' ``action_context``) and its truth is

    logit q(x, a, l) = b0 + item_effect[a] + position_effect[l] + x . w + x^T B (z[a] - zbar)

- ``item_effect[a] = logit of the site prior's click rate of item a`` (ZOZOTOWN's Beta prior,
  :func:`bandits.datasets.obd_site_prior`, centred) ``+ item_noise * e_a``, ``e_a ~ N(0, 1)``:
  effects centred on the site prior, with deviations of a stated size that a simulator fitted on
  logs has to learn;
- ``position_effect (L,)``: a stated slot effect on the logit scale (slot 0 is the top slot);
- ``x . w``: member effects (some members click more), scaled so their standard deviation over
  the member pool is ``member_effect``;
- ``x^T B (z[a] - zbar)``: member-feature x item-feature interactions, ``z`` the item design of
  :func:`envs.logged.response.item_design` (label-coded item features one-hot encoded, numeric
  ones standardised) and ``B ~ N(0, 1)``; doubly centred (over the member pool and the items) and
  scaled so that its standard deviation over (member, item) pairs is ``interaction``: the
  strength of personalisation, 0 = every member ranks the items alike;
- ``b0`` sets the level: the uniform random policy's click rate equals ``click_rate`` (default the
  bundled random logs' 0.0038).

Members are drawn from the bundled sample's 10,000 logged contexts (uniformly, as the member
simulator resamples logs), kept as the distinct contexts with their counts as weights (240 for
``all``), so exact values are cheap. The world is a member environment of :mod:`envs.logged` built
on a hand-set :class:`envs.logged.ResponseModel` with no calibration map, so its
``expected_rewards`` and ``best_expected_reward`` are exact (the best slate is enumerated).

The truth lies inside the simulator's model class (item, slot and member effects, member x
item-feature interactions): a refitted simulator can recover it given enough clicks, and what a
fidelity study measures is estimation error, not misspecification (docs/fidelity.md).

Catalog dynamics: ``catalog=`` wraps the world with :func:`envs.catalog.with_catalog` (arrivals,
departures, trends); the wrapped world is non-stationary, so its value depends on the round and
the static truth of :meth:`KnownWorld.value` no longer applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env
from envs.logged.response import ResponseModel, item_design
from envs.logged.simulator import expected_reward_matrix, make_member_env

__all__ = ["KnownWorld", "known_world", "obd_world", "toy_world", "WORLDS", "make_world", "unique_rows"]

OBD_CLICK_RATE = 0.0038  # click rate of the bundled uniform-random OBD sample (38 clicks / 10,000 rows)


def unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``x (n, d)``: ``(rows (m, d), counts (m,) int64, inverse (n,) int64)``,
    ``x == rows[inverse]``. Rows are compared bit for bit (float64)."""
    x = np.ascontiguousarray(np.asarray(x, np.float64))
    if x.ndim != 2:
        raise ValueError(f"x: expected a 2-d array (n, d), got shape {x.shape}")
    if x.shape[1] == 0:
        return x[:1], np.array([x.shape[0]], np.int64), np.zeros(x.shape[0], np.int64)
    v = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(v, return_index=True, return_inverse=True, return_counts=True)
    return x[first], counts.astype(np.int64), inverse.reshape(-1).astype(np.int64)


@dataclass
class KnownWorld:
    """A world with exact truth.

    model: the true click model (:class:`envs.logged.ResponseModel`, ``calibration="none"``).
    contexts: ``(m, d)`` float64 distinct member contexts; weights: ``(m,)`` float64 their
        probabilities (sum 1).
    action_context: ``(K, p)`` float64 item features (what the logs carry).
    len_list: slots of the logs the world produces (an impression shows ``len_list`` items).
    add_intercept: environments append a constant 1 to the observed context (``context_dim = d + 1``).
    settings: the numbers that define the world (for reports and JSON).
    catalog: optional ``(catalog, kwargs)`` for :func:`envs.catalog.with_catalog`.
    site_prior: ``(K,)`` float64 prior click rate of each item that a team would know before the
        logs (the OBD site prior), or None; fixed rankers of a fidelity panel sort items by it.
    site_prior_counts: ``(alpha (K,), beta (K,))`` Beta pseudo-counts of that prior (for Bernoulli
        Thompson sampling started from it), or None.
    """

    name: str
    model: ResponseModel
    contexts: np.ndarray
    weights: np.ndarray
    action_context: np.ndarray | None
    len_list: int
    add_intercept: bool = True
    settings: dict = field(default_factory=dict)
    catalog: Any = None
    site_prior: np.ndarray | None = None
    site_prior_counts: tuple | None = None
    dtype: Any = jnp.float32
    _envs: dict = field(default_factory=dict, repr=False)

    @property
    def n_actions(self) -> int:
        return self.model.n_actions

    @property
    def context_dim(self) -> int:
        """Dimension of the context a policy sees (``d + 1`` with the intercept)."""
        return self.contexts.shape[1] + int(self.add_intercept)

    def env(self, len_list: int | None = None) -> Env:
        """The world as an :class:`bandits.contracts.Env` showing ``len_list`` slots (default
        :attr:`len_list`; 1 = single-slot mode, the top slot). Cached per ``len_list``."""
        L = self.len_list if len_list is None else int(len_list)
        if L not in (1, self.len_list):
            raise ValueError(f"len_list: expected 1 or {self.len_list} (the world's slots), got {len_list!r}")
        if L not in self._envs:
            env = make_member_env(self.model, self.contexts, len_list=L, slot=0, add_intercept=self.add_intercept,
                                  member_weights=self.weights, dtype=self.dtype, name=f"{self.name}[L={L}]")
            if self.catalog is not None:
                from envs.catalog import with_catalog

                cat, kw = self.catalog
                env = with_catalog(env, cat, **kw)
            self._envs[L] = env
        return self._envs[L]

    def observed_contexts(self) -> np.ndarray:
        """``(m, context_dim)`` float64: the distinct contexts as a policy sees them."""
        if self.add_intercept:
            return np.concatenate([self.contexts, np.ones((self.contexts.shape[0], 1))], axis=1)
        return self.contexts

    def click_matrix(self) -> np.ndarray:
        """Exact click probabilities ``(m, K, L)`` float64 of every item in every slot (world's slots)."""
        return self.model.expected_matrix(self.contexts)

    def value(self, action_dist: np.ndarray, len_list: int | None = None) -> float:
        """Exact value (expected clicks per slot-impression) of a stationary policy.

        action_dist: ``(m, K, L)`` (or ``(m, K)``) probability of each item in each slot for each
            distinct context (:meth:`observed_contexts` order), with ``L`` = ``len_list`` (1 =
            single-slot mode: the item is shown in the top slot).
        Returns ``sum_i weights_i sum_{a,l} pi(a, l | x_i) q(x_i, a, l) / L`` in float64.
        """
        L = self.len_list if len_list is None else int(len_list)
        Q = self.click_matrix()[:, :, :L]
        pi = np.asarray(action_dist, np.float64)
        if pi.ndim == 2:
            pi = pi[:, :, None]
        if pi.shape != Q.shape:
            raise ValueError(f"action_dist: expected shape {Q.shape} (contexts, items, slots), got {np.shape(action_dist)}")
        return float(np.einsum("i,ikl,ikl->", self.weights, pi, Q) / L)

    def env_value_check(self, len_list: int | None = None) -> float:
        """The uniform policy's value from the JAX environment's own matrix (float32), to check
        that the environment and :meth:`value` agree."""
        env = self.env(len_list)
        if self.catalog is not None:
            raise ValueError("catalog: a world with catalog dynamics has no static value")
        Q = np.asarray(expected_reward_matrix(env), np.float64)  # (m, K, L)
        return float(np.einsum("i,ikl->", self.weights, Q) / (Q.shape[1] * Q.shape[2]))


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _check_settings(interaction, item_noise, member_effect, click_rate, position_effect) -> np.ndarray:
    for name, v in (("interaction", interaction), ("item_noise", item_noise), ("member_effect", member_effect)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    if isinstance(click_rate, bool) or not (isinstance(click_rate, int | float) and 0.0 < click_rate < 0.5):
        raise ValueError(f"click_rate: expected a number in (0, 0.5), got {click_rate!r}")
    pos = np.asarray(position_effect, np.float64)
    if pos.ndim != 1 or pos.size < 1 or not np.all(np.isfinite(pos)):
        raise ValueError(f"position_effect: expected a non-empty 1-d sequence of finite numbers, got {position_effect!r}")
    return pos


def known_world(contexts: np.ndarray, action_context: np.ndarray, item_centre: np.ndarray, *, name: str,
                interaction: float, item_noise: float, member_effect: float, position_effect, click_rate: float,
                add_intercept: bool = True, seed: int = 0, site_prior_counts: tuple | None = None,
                catalog: Any = None, catalog_kwargs: dict | None = None, dtype: Any = jnp.float32,
                settings: dict | None = None) -> KnownWorld:
    """A known world from member contexts, item features and the centre of the item effects.

    contexts: ``(n, d)`` logged member contexts (members are drawn from them uniformly; kept as
        distinct rows with their frequencies). action_context: ``(K, p)`` item features.
    item_centre: ``(K,)`` logit-scale centre of the item effects (centred to mean 0).
    site_prior_counts: ``(alpha, beta)`` Beta pseudo-counts of the team's prior on each item's
        click rate (:attr:`KnownWorld.site_prior` is ``alpha / (alpha + beta)``), or None.
    Other arguments: see :func:`obd_world` (the construction is the module docstring's).
    """
    pos = _check_settings(interaction, item_noise, member_effect, click_rate, position_effect)
    ac = np.asarray(action_context, np.float64)
    K = ac.shape[0]
    prior_a = prior_b = None
    if site_prior_counts is not None:
        prior_a, prior_b = (np.asarray(v, np.float64) for v in site_prior_counts)
        if prior_a.shape != (K,) or prior_b.shape != (K,) or np.any(prior_a <= 0) or np.any(prior_b <= 0):
            raise ValueError(f"site_prior_counts: expected two positive arrays of shape ({K},)")
    centre = np.asarray(item_centre, np.float64)
    if centre.shape != (K,) or not np.all(np.isfinite(centre)):
        raise ValueError(f"item_centre: expected a finite array of shape ({K},), got {centre.shape}")
    if pos.size > K:
        raise ValueError(f"position_effect: expected at most {K} slots (the items), got {pos.size}")
    ctx, counts, _ = unique_rows(contexts)
    wts = counts / counts.sum()
    rng = np.random.default_rng(seed)
    d = ctx.shape[1]
    item = centre - centre.mean() + item_noise * rng.standard_normal(K)

    def wsd(v):  # weighted standard deviation over the member pool
        m = np.sum(wts * v)
        return float(np.sqrt(np.sum(wts * (v - m) ** 2)))

    w = rng.standard_normal(d)
    s = wsd(ctx @ w)
    w = w * (member_effect / s) if s > 0 else np.zeros(d)

    Z = item_design(ac, K)  # (K, q)
    Zc = Z - Z.mean(axis=0, keepdims=True)
    B = rng.standard_normal((d, Z.shape[1]))
    xbar = wts @ ctx
    inter = (ctx - xbar) @ B @ Zc.T  # (m, K), doubly centred: zero mean over members and over items
    sd = float(np.sqrt(np.sum(wts[:, None] * inter**2) / K))
    scale = interaction / sd if sd > 0 else 0.0
    if interaction > 0 and sd == 0:
        raise ValueError("interaction: the member contexts or item features do not vary, so no interaction exists")
    W = scale * (B @ Zc.T)  # (d, K)
    item_bias = item - scale * (xbar @ B @ Zc.T)  # so that x^T W + item_bias has the centred interaction

    base = ctx @ w  # (m,) member effects
    lin = base[:, None, None] + (ctx @ W + item_bias)[:, :, None] + pos[None, None, :]  # (m, K, L) without b0

    def mean_rate(b0):
        return float(np.einsum("i,ikl->", wts, _sigmoid(lin + b0)) / (K * pos.size))

    lo, hi = -30.0, 30.0
    for _ in range(200):  # bisection: the uniform policy's click rate is increasing in b0
        mid = 0.5 * (lo + hi)
        if mean_rate(mid) < click_rate:
            lo = mid
        else:
            hi = mid
    b0 = 0.5 * (lo + hi)

    model = ResponseModel(
        item_bias=item_bias + b0, member_weights=W + w[:, None], position_effect=pos.copy(),
        calibration="none", platt=(1.0, 0.0), iso_x=np.zeros(2), iso_y=np.zeros(2), base_rate=float(click_rate),
        penalties={},
    )
    st = {"world": name, **(settings or {}), "interaction": float(interaction), "item_noise": float(item_noise),
          "member_effect": float(member_effect), "position_effect": pos.tolist(), "click_rate": float(click_rate),
          "seed": int(seed), "n_items": K, "len_list": int(pos.size), "context_dim": d,
          "n_member_contexts": int(ctx.shape[0]), "intercept": float(b0)}
    cat = None if catalog is None else (catalog, dict(catalog_kwargs or {}))
    return KnownWorld(name=name, model=model, contexts=ctx, weights=wts, action_context=ac, len_list=int(pos.size),
                      add_intercept=add_intercept, settings=st, catalog=cat,
                      site_prior=None if site_prior_counts is None else prior_a / (prior_a + prior_b),
                      site_prior_counts=None if site_prior_counts is None else (prior_a, prior_b), dtype=dtype)


def obd_world(
    campaign: str = "all",
    *,
    interaction: float = 0.5,
    item_noise: float = 0.3,
    member_effect: float = 0.3,
    position_effect: tuple[float, ...] = (0.0, -0.2, -0.4),
    click_rate: float = OBD_CLICK_RATE,
    add_intercept: bool = True,
    seed: int = 0,
    catalog: Any = None,
    catalog_kwargs: dict | None = None,
    dtype: Any = jnp.float32,
) -> KnownWorld:
    """The OBD-shaped known world (module docstring).

    campaign: the OBD campaign whose items, item features, site prior and member contexts are
        used (``"all"``: 80 items; ``"men"``: 34; ``"women"``: 46).
    interaction: standard deviation (logit scale) of the member x item interaction over (member,
        item) pairs, >= 0. item_noise: standard deviation of the item effects' deviations from the
        site prior, >= 0. member_effect: standard deviation of member effects, >= 0.
    position_effect: ``(L,)`` slot effects on the logit scale (its length is the number of slots;
        OBD has 3). click_rate: the uniform random policy's click rate, in (0, 0.5).
    add_intercept: policies see the contexts with a constant 1 appended (as the main job's simulator).
    seed: draws ``e`` (item deviations), ``w`` and ``B``.
    catalog, catalog_kwargs: optional :class:`envs.catalog.Catalog` (and keyword arguments of
        :func:`envs.catalog.with_catalog`) for catalog dynamics.
    """
    from bandits.datasets import load_obd, obd_site_prior

    _check_settings(interaction, item_noise, member_effect, click_rate, position_effect)
    data = load_obd("random", campaign)
    alpha, beta = obd_site_prior(campaign)
    return known_world(data.context, data.action_context, _logit(alpha / (alpha + beta)), name=f"obd_{campaign}",
                       interaction=interaction, item_noise=item_noise, member_effect=member_effect,
                       position_effect=position_effect, click_rate=click_rate, add_intercept=add_intercept,
                       seed=seed, site_prior_counts=(alpha, beta), catalog=catalog, catalog_kwargs=catalog_kwargs,
                       dtype=dtype, settings={"world": "obd", "campaign": campaign})


def toy_world(
    n_items: int = 10,
    *,
    n_features: int = 3,
    len_list: int = 2,
    interaction: float = 0.5,
    item_spread: float = 0.6,
    item_noise: float = 0.3,
    member_effect: float = 0.3,
    position_effect: tuple[float, ...] | None = None,
    click_rate: float = 0.05,
    seed: int = 0,
    catalog: Any = None,
    catalog_kwargs: dict | None = None,
    dtype: Any = jnp.float32,
) -> KnownWorld:
    """A small known world for quick checks: ``n_items`` items with two numeric features and one
    3-level label feature, members with ``n_features`` binary features (each 1 with probability
    0.4; 5,000 drawn contexts), ``len_list`` slots (position effects ``-0.3 l`` by default).

    The item effects are centred on a "site prior" drawn with sd ``item_spread`` (the prior a team
    would have); ``item_noise`` is the truth's deviation from it. Other arguments as in
    :func:`obd_world`. Everything is drawn from ``seed``.
    """
    for nm, v, lo in (("n_items", n_items, 2), ("n_features", n_features, 1), ("len_list", len_list, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{nm}: expected an integer >= {lo}, got {v!r}")
    if len_list > n_items:
        raise ValueError(f"len_list: expected at most n_items={n_items}, got {len_list}")
    rng = np.random.default_rng([seed, 17])
    contexts = (rng.random((5000, n_features)) < 0.4).astype(np.float64)
    ac = np.c_[rng.standard_normal((n_items, 2)), rng.integers(0, 3, n_items)]
    centre = item_spread * rng.standard_normal(n_items)
    pos = tuple(-0.3 * np.arange(len_list)) if position_effect is None else position_effect
    base = _sigmoid(centre + _logit(click_rate))
    return known_world(contexts, ac, centre, name="toy", interaction=interaction, item_noise=item_noise,
                       member_effect=member_effect, position_effect=pos, click_rate=click_rate, seed=seed,
                       site_prior_counts=(1000 * base, 1000 * (1 - base)), catalog=catalog,
                       catalog_kwargs=catalog_kwargs, dtype=dtype,
                       settings={"world": "toy", "n_features": int(n_features), "item_spread": float(item_spread)})


# Known worlds by name (``screentest fidelity --world NAME``): name -> constructor(**options).
WORLDS: dict[str, Callable[..., KnownWorld]] = {
    "obd": obd_world,
    "toy": toy_world,
}


def make_world(name: str, **options: Any) -> KnownWorld:
    """Build the known world ``name`` (a key of :data:`WORLDS`); unknown names raise ``KeyError``
    naming the choices."""
    if name not in WORLDS:
        raise KeyError(f"world: expected one of {sorted(WORLDS)}, got {name!r}")
    return WORLDS[name](**options)
