"""A living catalog, composable with any :class:`bandits.contracts.Env`.

A streaming catalog changes while a policy runs: titles arrive with no history (cold start),
licences expire, live events exist for a few hours and trend while they do, and tastes drift.
This module models that as a wrapper, :func:`with_catalog`, that takes any environment with
``K = env.num_actions`` actions and treats action ``k`` as catalog slot ``k``.

Catalog (:class:`Catalog`, a NamedTuple of arrays, so it lives in the env ``params`` and can be
vmapped; one compiled scan serves every catalog of the same size):

- ``item_type (K,) int32``: 0 movie, 1 series, 2 game, 3 live event (:data:`TITLE_TYPES`).
- ``features (K, p) float``: item features (e.g. for hybrid / feature-based policies). The wrapper
  does not use them to make rewards; they are what a policy may know about a cold-start title.
- ``arrive (K,) int32``, ``depart (K,) int32``: availability window ``[arrive, depart)`` in rounds;
  :data:`NEVER` (``2**31 - 1``) means the title never leaves.
- ``present (K,) bool``: False for padding slots (fixed maximum catalog size); never available.
- ``peak (K,) float``, ``sharpness (K,) float``, ``amplitude (K,) float``: a live event's trend
  curve (below). Ignored (and required to be 0 amplitude) for other types.
- ``drift_slope (K,) float``: deterministic drift of each title's appeal per round.

Availability: title ``k`` is available in round ``t`` iff ``present[k] and arrive[k] <= t <
depart[k]``. The wrapper ANDs this with the base environment's own mask, so the observation mask
reflects availability every round; ``expected_rewards`` is 0 for unavailable titles and
``best_expected_reward`` is the best over available ones. Choosing an unavailable title (a policy
that ignores the mask) gives reward 0 and expected reward 0.

Appeal offset of title ``k`` in round ``t`` (on the scale set by ``link``)::

    z_k(t) = amplitude_k * h(t - arrive_k; peak_k, sharpness_k) * [type_k == live_event]
             + drift_slope_k * t + w_k(t)

    h(s; p, a) = (s / p) ** a * exp(a * (1 - s / p))   for s >= 0, else 0        (trend curve)
    w_k(0) = 0,  w_k(t + 1) = drift_rho * w_k(t) + drift_sigma * eps_k(t),  eps ~ N(0, 1)

``h`` is a gamma-kernel bump: 0 at arrival, rising to exactly 1 at ``s = p`` (the peak, ``p``
rounds after arrival), then decaying; larger ``a`` gives a sharper peak. ``w`` is a per-title
random walk (``drift_rho = 1``) or, with ``drift_rho < 1``, a mean-reverting AR(1) walk.

How the offset changes the base expected reward ``mu_k`` (``link``, static):

- ``"logit"`` (binary rewards, e.g. click): ``mu'_k = sigmoid(logit(mu_k) + z_k)``. The realised
  reward is coupled to the base environment's Bernoulli(``mu``) draw ``r`` (so the base env's
  randomness, and common random numbers across policies, are kept): if ``mu' >= mu`` then
  ``r' = r or (u < (mu' - mu) / (1 - mu))``, else ``r' = r and (u < mu' / mu)``, with ``u`` uniform;
  ``P(r' = 1) = mu'`` exactly. Requires the base env's reward to be Bernoulli(``mu``).
- ``"additive"`` (any reward distribution): ``mu'_k = mu_k + z_k`` and ``r' = r + mu'_a - mu_a``,
  so the noise of the base env is kept and the expectation is exact.

Slate environments (``len_list = L > 1``): the offset of title ``k`` applies to every slot; the
slate's expected reward is the sum over slots of ``expected_rewards[a_l, l]`` and the best slate is
found exactly among distinct available titles (see :func:`best_slate_value`).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation

Array = jax.Array

MOVIE, SERIES, GAME, LIVE_EVENT = 0, 1, 2, 3
TITLE_TYPES: tuple[str, ...] = ("movie", "series", "game", "live_event")
NEVER = 2**31 - 1  # depart value of a title that never leaves
LINKS = ("logit", "additive")


class Catalog(NamedTuple):
    """A fixed-size catalog (see the module docstring for every field's meaning).

    item_type (K,) int32; features (K, p) float; arrive (K,) int32; depart (K,) int32;
    present (K,) bool; peak (K,) float; sharpness (K,) float; amplitude (K,) float;
    drift_slope (K,) float.
    """

    item_type: Array
    features: Array
    arrive: Array
    depart: Array
    present: Array
    peak: Array
    sharpness: Array
    amplitude: Array
    drift_slope: Array

    @property
    def size(self) -> int:
        """Maximum catalog size K (static)."""
        return int(self.item_type.shape[-1])


class CatalogParams(NamedTuple):
    """Params of a catalog-wrapped env.

    base: the base env's params. catalog: :class:`Catalog`. drift_sigma: () std of the per-round
    random-walk step of every title's appeal. drift_rho: () persistence of the walk (1 = random
    walk, < 1 mean-reverting).
    """

    base: Any
    catalog: Catalog
    drift_sigma: Array
    drift_rho: Array


class CatalogState(NamedTuple):
    """State of a catalog-wrapped env: base state, round index ``t`` () int32 of the current
    observation, random-walk part of the appeal ``drift (K,)``, and ``mask (K,) bool`` of the
    current observation (base mask AND availability), used for ``best_expected_reward``."""

    base: Any
    t: Array
    drift: Array
    mask: Array


# ----------------------------------------------------------------------------------------------
# pure functions of the catalog


def trend_curve(s: Array, peak: Array, sharpness: Array) -> Array:
    """Live-event trend curve ``h(s) = (s/p)**a * exp(a (1 - s/p))`` for ``s >= 0``, else 0.

    s: rounds since arrival, any shape float; peak ``p > 0`` and sharpness ``a > 0`` broadcast
    against ``s``. Returns the same shape, values in ``[0, 1]``, ``h(p) = 1``.
    """
    s = jnp.asarray(s)
    u = jnp.maximum(s, 0.0) / peak
    safe_u = jnp.where(u > 0, u, 1.0)
    val = jnp.exp(sharpness * (jnp.log(safe_u) + 1.0 - safe_u))
    return jnp.where(u > 0, val, jnp.zeros_like(val))


def available(catalog: Catalog, t: Array) -> Array:
    """Availability mask ``(K,) bool`` in round ``t`` (``() int``): ``present & arrive <= t < depart``."""
    t = jnp.asarray(t, jnp.int32)
    return catalog.present & (catalog.arrive <= t) & (t < catalog.depart)


def appeal_offset(catalog: Catalog, t: Array, drift: Array) -> Array:
    """Appeal offset ``z (K,)`` in round ``t``: live-event trend + deterministic drift + walk ``drift (K,)``."""
    dtype = catalog.amplitude.dtype
    tf = jnp.asarray(t, dtype)
    s = tf - catalog.arrive.astype(dtype)
    live = catalog.item_type == LIVE_EVENT
    trend = jnp.where(live, catalog.amplitude * trend_curve(s, catalog.peak, catalog.sharpness), 0.0)
    return (trend + catalog.drift_slope * tf + drift).astype(dtype)


def best_slate_value(values: Array, mask: Array) -> Array:
    """Best total ``sum_l values[a_l, l]`` over slates of distinct available items.

    values: ``(K, L)`` float (item ``k`` in slot ``l``); mask: ``(K,)`` bool. Returns ``()``.
    Exact for ``L <= 4``: an optimal slate uses, in each slot, one of that slot's ``L`` best items
    (if the optimal item of slot ``l`` is outside its top ``L``, one of those ``L`` is unused by the
    other ``L - 1`` slots and swapping it in does not lower the total), so the ``L**L`` index
    combinations into the per-slot top-``L`` lists are enumerated (27 for OBD's 3 slots). For
    ``L > 4`` a greedy slot-by-slot pick is used (exact when values are a product of an item and a
    slot factor). Returns 0 when fewer than ``L`` items are available.
    """
    num_items, num_slots = values.shape
    neg = jnp.asarray(-jnp.inf, values.dtype)
    masked = jnp.where(mask[:, None], values, neg)
    if num_slots == 1:
        best = jnp.max(masked)
        return jnp.where(jnp.isfinite(best), best, jnp.zeros_like(best))
    if num_slots <= 4:
        _, top = jax.lax.top_k(masked.T, num_slots)  # (L, L): slot -> its L best items
        combos = np.array(list(itertools.product(range(num_slots), repeat=num_slots)), np.int32)
        items = top[np.arange(num_slots)[None, :], combos]  # (C, L)
        vals = masked[items, np.arange(num_slots)[None, :]]  # (C, L)
        same = items[:, :, None] == items[:, None, :]
        distinct = jnp.sum(same, axis=(1, 2)) == num_slots
        tot = jnp.where(distinct, jnp.sum(vals, axis=1), neg)
        best = jnp.max(tot)
    else:

        def body(carry, slot):
            used, total = carry
            col = jnp.where(used, neg, masked[:, slot])
            k = jnp.argmax(col)
            return (used.at[k].set(True), total + col[k]), None

        (_, best), _ = jax.lax.scan(
            body, (jnp.zeros((num_items,), bool), jnp.zeros((), values.dtype)), jnp.arange(num_slots)
        )
    return jnp.where(jnp.isfinite(best), best, jnp.zeros_like(best))


def chosen_value(values: Array, action: Array) -> Array:
    """Expected reward of ``action`` (``()`` or ``(L,)``) under ``values`` (``(K,)`` or ``(K, L)``).

    A slate that repeats an item earns nothing for the repeats (a member sees a title once), so
    a slate is never worth more than the best slate of distinct items and regret stays >= 0."""
    if values.ndim == 1:
        return values[action]
    L = values.shape[1]
    repeat = jnp.any((action[:, None] == action[None, :]) & jnp.tril(jnp.ones((L, L), bool), -1), axis=1)
    return jnp.sum(jnp.where(repeat, 0, values[action, jnp.arange(L)]))


def best_value(values: Array, mask: Array) -> Array:
    """Best expected reward over available actions: ``values (K,)`` or ``(K, L)``, ``mask (K,)``."""
    if values.ndim == 1:
        return best_slate_value(values[:, None], mask)
    return best_slate_value(values, mask)


# ----------------------------------------------------------------------------------------------
# construction and validation


def _type_codes(item_type: Any) -> np.ndarray:
    arr = np.asarray(item_type)
    if arr.ndim != 1:
        raise ValueError(f"item_type: expected a 1-D sequence of title types, got shape {arr.shape}")
    if arr.dtype.kind in "USO":
        out = np.empty(arr.shape, np.int32)
        for i, v in enumerate(arr):
            if str(v) not in TITLE_TYPES:
                raise ValueError(f"item_type[{i}]: expected one of {TITLE_TYPES}, got {v!r}")
            out[i] = TITLE_TYPES.index(str(v))
        return out
    if arr.dtype.kind not in "iu":
        raise ValueError(f"item_type: expected strings {TITLE_TYPES} or integer codes 0..3, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 3):
        bad = int(np.flatnonzero((arr < 0) | (arr > 3))[0])
        raise ValueError(f"item_type[{bad}]: expected an integer code 0..3 {TITLE_TYPES}, got {arr[bad]}")
    return arr.astype(np.int32)


def make_catalog(
    item_type: Any,
    arrive: Any = None,
    depart: Any = None,
    *,
    features: Any = None,
    present: Any = None,
    peak: Any = None,
    sharpness: Any = None,
    amplitude: Any = None,
    drift_slope: Any = None,
    dtype=jnp.float32,
) -> Catalog:
    """Build a :class:`Catalog` from explicit arrays and validate it.

    item_type: ``(K,)`` strings from :data:`TITLE_TYPES` or int codes 0..3.
    arrive: ``(K,)`` int >= 0 (default 0); depart: ``(K,)`` int > arrive, or :data:`NEVER`
    (default never). features: ``(K, p)`` (default: the one-hot type, p = 4). present: ``(K,)``
    bool (default all True). peak (default 1), sharpness (default 2), amplitude (default 0):
    ``(K,)`` trend parameters (live events only). drift_slope: ``(K,)`` (default 0).
    Raises ``ValueError`` naming the argument on bad input (see :func:`validate_catalog`).
    """
    codes = _type_codes(item_type)
    k = codes.shape[0]
    if k < 1:
        raise ValueError("item_type: expected at least one title, got 0")

    def vec(name, value, default, kind):
        if value is None:
            return np.full((k,), default)
        arr = np.asarray(value)
        if arr.ndim == 0:
            arr = np.full((k,), arr.item())
        if arr.shape != (k,):
            raise ValueError(f"{name}: expected shape ({k},) to match item_type, got {arr.shape}")
        if kind == "int" and arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise ValueError(f"{name}: expected integer rounds, got dtype {arr.dtype}")
        if kind == "float" and not np.all(np.isfinite(arr.astype(np.float64))):
            raise ValueError(f"{name}: expected finite values, got {arr}")
        return arr

    arrive_a = vec("arrive", arrive, 0, "int").astype(np.int64)
    depart_a = vec("depart", depart, NEVER, "int").astype(np.int64)
    present_a = vec("present", present, True, "bool").astype(bool)
    peak_a = vec("peak", peak, 1.0, "float").astype(np.float64)
    sharp_a = vec("sharpness", sharpness, 2.0, "float").astype(np.float64)
    amp_a = vec("amplitude", amplitude, 0.0, "float").astype(np.float64)
    slope_a = vec("drift_slope", drift_slope, 0.0, "float").astype(np.float64)
    if features is None:
        feats = np.eye(4)[codes]
    else:
        feats = np.asarray(features, np.float64)
        if feats.ndim != 2 or feats.shape[0] != k:
            raise ValueError(f"features: expected shape ({k}, p), got {feats.shape}")
        if not np.all(np.isfinite(feats)):
            raise ValueError("features: expected finite values, got NaN or inf")
    for name, arr in (("arrive", arrive_a), ("depart", depart_a)):
        if arr.min() < 0 or arr.max() > NEVER:
            raise ValueError(f"{name}: expected rounds in [0, {NEVER}], got range [{arr.min()}, {arr.max()}]")
    cat = Catalog(
        item_type=jnp.asarray(codes, jnp.int32),
        features=jnp.asarray(feats, dtype),
        arrive=jnp.asarray(arrive_a, jnp.int32),
        depart=jnp.asarray(depart_a, jnp.int32),
        present=jnp.asarray(present_a, bool),
        peak=jnp.asarray(peak_a, dtype),
        sharpness=jnp.asarray(sharp_a, dtype),
        amplitude=jnp.asarray(amp_a, dtype),
        drift_slope=jnp.asarray(slope_a, dtype),
    )
    validate_catalog(cat)
    return cat


def validate_catalog(catalog: Catalog, num_actions: int | None = None, horizon: int | None = None, *,
                     unbounded: bool = False, min_available: int = 1) -> None:
    """Check a catalog eagerly; raise ``ValueError`` naming the field on the first problem.

    Checks shapes agree, types are 0..3, ``depart > arrive`` for present titles, live events have a
    finite window, ``peak > 0``, ``sharpness > 0``, ``amplitude == 0`` for non-live titles. With
    ``num_actions``, the size must equal it; with ``horizon``, every round ``0 .. horizon - 1``
    must have at least ``min_available`` available titles (else policies would face an empty
    mask, or a slate of ``min_available`` slots could not be filled); with ``unbounded`` (and no
    horizon), every round from 0 on, for ever.
    """
    if not isinstance(catalog, Catalog):
        raise TypeError(f"catalog: expected an envs.catalog.Catalog, got {type(catalog).__name__}")
    c = jax.tree_util.tree_map(np.asarray, catalog)
    k = c.item_type.shape[0] if c.item_type.ndim == 1 else -1
    if k < 1:
        raise ValueError(f"catalog.item_type: expected shape (K,) with K >= 1, got {c.item_type.shape}")
    for name in ("arrive", "depart", "present", "peak", "sharpness", "amplitude", "drift_slope"):
        if getattr(c, name).shape != (k,):
            raise ValueError(f"catalog.{name}: expected shape ({k},), got {getattr(c, name).shape}")
    if c.features.ndim != 2 or c.features.shape[0] != k:
        raise ValueError(f"catalog.features: expected shape ({k}, p), got {c.features.shape}")
    if num_actions is not None and k != int(num_actions):
        raise ValueError(
            f"catalog: expected size {int(num_actions)} (the env's num_actions), got a catalog of {k} titles"
        )
    if c.item_type.min() < 0 or c.item_type.max() > 3:
        raise ValueError(f"catalog.item_type: expected codes 0..3 {TITLE_TYPES}, got {np.unique(c.item_type)}")
    pres = c.present.astype(bool)
    bad = np.flatnonzero(pres & (c.depart <= c.arrive))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"catalog.depart[{i}]: expected depart > arrive (window [arrive, depart)), got arrive={c.arrive[i]}, depart={c.depart[i]}"
        )
    live = pres & (c.item_type == LIVE_EVENT)
    bad = np.flatnonzero(live & (c.depart >= NEVER))
    if bad.size:
        raise ValueError(f"catalog.depart[{int(bad[0])}]: a live event needs a finite window, got depart=NEVER")
    bad = np.flatnonzero(live & ~(c.peak > 0))
    if bad.size:
        raise ValueError(f"catalog.peak[{int(bad[0])}]: expected > 0 rounds after arrival, got {c.peak[bad[0]]}")
    bad = np.flatnonzero(live & ~(c.sharpness > 0))
    if bad.size:
        raise ValueError(f"catalog.sharpness[{int(bad[0])}]: expected > 0, got {c.sharpness[bad[0]]}")
    bad = np.flatnonzero((c.item_type != LIVE_EVENT) & (c.amplitude != 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"catalog.amplitude[{i}]: the trend applies to live events only; title {i} is a "
            f"{TITLE_TYPES[int(c.item_type[i])]} with amplitude {c.amplitude[i]}"
        )
    if horizon is None and unbounded:
        # availability changes only at the finite arrivals and departures: past the last of them
        # it stays as it is for ever, so checking up to one round after it covers every round
        ends = np.concatenate([c.arrive[pres], c.depart[pres][c.depart[pres] < NEVER]])
        last = int(ends.max()) + 1 if ends.size else 1
        counts = _available_counts(c, pres, last + 1)
        short = np.flatnonzero(counts < min_available)
        if short.size:
            r = int(short[0])
            when = f"from round {r} on" if np.all(counts[r:] < min_available) else f"in round {r}"
            raise ValueError(
                f"catalog: {_fewer(counts[r], min_available)} {when}; a catalog wrapper without a horizon may run "
                f"any number of rounds, so it would simulate an empty catalog: pass horizon=T (the rounds you will "
                f"simulate) to check only those, or keep titles available for good (depart=NEVER)"
            )
    if horizon is not None:
        horizon = int(horizon)
        counts = _available_counts(c, pres, horizon)
        empty = np.flatnonzero(counts < min_available)
        if empty.size:
            raise ValueError(
                f"catalog: {_fewer(counts[int(empty[0])], min_available)} in round {int(empty[0])} (of horizon "
                f"{horizon}); keep at least {min_available} title(s) available every round (e.g. with arrive=0, "
                f"depart=NEVER)"
            )


def _available_counts(c, pres: np.ndarray, horizon: int) -> np.ndarray:
    """Available titles per round ``0 .. horizon - 1`` (a difference array over the windows)."""
    lo = np.clip(c.arrive[pres], 0, horizon)
    hi = np.clip(c.depart[pres], 0, horizon)
    diff = np.zeros(horizon + 1, np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi, -1)
    return np.cumsum(diff)[:horizon]


def _fewer(count: int, need: int) -> str:
    if count == 0:
        return "no title is available"
    return f"only {int(count)} title(s) are available, fewer than the {need} slots of a slate"


def random_catalog(
    key: Array,
    *,
    num_movies: int = 20,
    num_series: int = 10,
    num_games: int = 5,
    num_live_events: int = 5,
    horizon: int = 1000,
    max_size: int | None = None,
    feature_dim: int = 4,
    initial_fraction: float = 0.5,
    departure_fraction: float = 0.2,
    live_duration: tuple[float, float] = (0.05, 0.2),
    live_amplitude: tuple[float, float] = (1.0, 3.0),
    drift_slope_scale: float = 0.0,
    dtype=jnp.float32,
) -> Catalog:
    """Draw a random catalog from ``key``.

    Titles are laid out by type (movies, series, games, live events), then padding up to
    ``max_size`` (default: the number of titles). Non-live titles: a fraction ``initial_fraction``
    is in the catalog from round 0, the rest arrive uniformly in ``[1, horizon)`` (cold start); a
    fraction ``departure_fraction`` leaves after a lifetime uniform in ``[horizon/4, horizon]``,
    the others never leave. Title 0 is always there from round 0 and never leaves, so no round
    has an empty catalog. Live events: duration uniform in ``live_duration * horizon`` (at least
    2 rounds), arrival uniform so the window ends by ``horizon``, peak uniform in
    ``[0.2, 0.5] * duration``, sharpness uniform in ``[1, 4]``, amplitude uniform in
    ``live_amplitude``. Features ``(K, 4 + feature_dim)``: one-hot type then standard normals
    (zeros for padding). ``drift_slope`` is normal with std ``drift_slope_scale``.
    """
    counts = (int(num_movies), int(num_series), int(num_games), int(num_live_events))
    for name, n in zip(("num_movies", "num_series", "num_games", "num_live_events"), counts, strict=True):
        if n < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {n}")
    if sum(counts[:3]) < 1:
        raise ValueError("num_movies + num_series + num_games: expected >= 1 (an evergreen title), got 0")
    horizon = int(horizon)
    if horizon < 2:
        raise ValueError(f"horizon: expected an integer >= 2, got {horizon}")
    n = sum(counts)
    size = n if max_size is None else int(max_size)
    if size < n:
        raise ValueError(f"max_size: expected >= the number of titles {n}, got {size}")
    if not 0.0 <= initial_fraction <= 1.0:
        raise ValueError(f"initial_fraction: expected a value in [0, 1], got {initial_fraction}")
    if not 0.0 <= departure_fraction <= 1.0:
        raise ValueError(f"departure_fraction: expected a value in [0, 1], got {departure_fraction}")
    lo_d, hi_d = live_duration
    if not 0.0 < lo_d <= hi_d <= 1.0:
        raise ValueError(f"live_duration: expected 0 < low <= high <= 1 (fractions of horizon), got {live_duration}")
    lo_a, hi_a = live_amplitude
    if lo_a > hi_a:
        raise ValueError(f"live_amplitude: expected low <= high, got {live_amplitude}")

    cat = _draw_catalog(
        key, counts, size, horizon, int(feature_dim), float(initial_fraction), float(departure_fraction),
        float(lo_d), float(hi_d), float(lo_a), float(hi_a), float(drift_slope_scale), jnp.dtype(dtype),
    )
    validate_catalog(cat, horizon=horizon)
    return cat


@functools.partial(jax.jit, static_argnums=tuple(range(1, 13)))
def _draw_catalog(key, counts, size, horizon, feature_dim, initial_fraction, departure_fraction,
                  lo_d, hi_d, lo_a, hi_a, drift_slope_scale, dtype) -> Catalog:
    """The draws of :func:`random_catalog` (one compiled function per static configuration)."""
    n = sum(counts)
    ks = jax.random.split(key, 10)
    codes = np.concatenate([np.full(c, t, np.int32) for t, c in enumerate(counts)] + [np.zeros(size - n, np.int32)])
    n_reg = sum(counts[:3])
    nl = counts[3]
    # regular titles
    at_start = jax.random.uniform(ks[0], (n_reg,)) < initial_fraction
    arr_reg = jnp.where(at_start, 0, jax.random.randint(ks[1], (n_reg,), 1, horizon))
    leaves = jax.random.uniform(ks[2], (n_reg,)) < departure_fraction
    life = jax.random.randint(ks[3], (n_reg,), max(1, horizon // 4), horizon + 1)
    dep_reg = jnp.where(leaves, arr_reg + life, NEVER)
    arr_reg = arr_reg.at[0].set(0)
    dep_reg = dep_reg.at[0].set(NEVER)
    # live events
    dmin = max(2, int(np.ceil(lo_d * horizon)))
    dmax = max(dmin, int(np.floor(hi_d * horizon)))
    dur = jax.random.randint(ks[4], (nl,), dmin, dmax + 1)
    start = jnp.floor(jax.random.uniform(ks[5], (nl,)) * (horizon - dur + 1)).astype(jnp.int32)
    peak_l = dur * jax.random.uniform(ks[6], (nl,), minval=0.2, maxval=0.5)
    sharp_l = jax.random.uniform(ks[7], (nl,), minval=1.0, maxval=4.0)
    amp_l = jax.random.uniform(ks[8], (nl,), minval=lo_a, maxval=hi_a)
    pad = size - n
    arrive = jnp.concatenate([arr_reg, start, jnp.zeros(pad, jnp.int32)]).astype(jnp.int32)
    depart = jnp.concatenate([dep_reg, start + dur, jnp.full(pad, NEVER)]).astype(jnp.int32)
    present = np.arange(size) < n
    ones = jnp.ones((n_reg,), dtype)
    peak = jnp.concatenate([ones, peak_l.astype(dtype), jnp.ones(pad, dtype)])
    sharp = jnp.concatenate([2 * ones, sharp_l.astype(dtype), 2 * jnp.ones(pad, dtype)])
    amp = jnp.concatenate([0 * ones, amp_l.astype(dtype), jnp.zeros(pad, dtype)])
    kf, ksl = jax.random.split(ks[9])
    feats = jnp.concatenate(
        [jax.nn.one_hot(codes, 4, dtype=dtype), jax.random.normal(kf, (size, feature_dim), dtype)], axis=1
    )
    feats = jnp.where(present[:, None], feats, 0.0)
    slope = jnp.where(present, drift_slope_scale * jax.random.normal(ksl, (size,), dtype), 0.0)
    return Catalog(
        item_type=jnp.asarray(codes),
        features=feats,
        arrive=arrive,
        depart=depart,
        present=jnp.asarray(present),
        peak=peak,
        sharpness=sharp,
        amplitude=amp,
        drift_slope=slope.astype(dtype),
    )


# ----------------------------------------------------------------------------------------------
# the wrapper


def with_catalog(
    env: Env,
    catalog: Catalog,
    *,
    link: str = "logit",
    drift_sigma: float = 0.0,
    drift_rho: float = 1.0,
    horizon: int | None = None,
    name: str | None = None,
) -> Env:
    """Wrap ``env`` with a living ``catalog`` (size must equal ``env.num_actions``).

    link: ``"logit"`` (binary rewards; default) or ``"additive"`` (any rewards), static; see the
    module docstring. drift_sigma, drift_rho: defaults of the appeal random walk, stored in the
    params (traced: a new value does not recompile). horizon: the rounds the wrapper will run;
    every round ``0 .. horizon - 1`` must have ``env.len_list`` available titles. Without it the
    wrapper may run any number of rounds, so every round from 0 on must have them (a catalog
    that empties is refused, rather than simulated as an empty catalog with zero regret).

    Returns an :class:`Env` with params :class:`CatalogParams` and state :class:`CatalogState`.
    ``step`` info adds ``catalog_t`` (round played, () int32), ``catalog_available`` ((K,) bool
    of that round) and ``catalog_offset`` ((K,) appeal offset of that round) to the base info.
    """
    if not isinstance(env, Env):
        raise TypeError(f"env: expected an bandits.contracts.Env, got {type(env).__name__}")
    if link not in LINKS:
        raise ValueError(f"link: expected one of {LINKS}, got {link!r}")
    validate_catalog(catalog, num_actions=env.num_actions, horizon=horizon, unbounded=horizon is None,
                     min_available=env.len_list)
    if not drift_sigma >= 0:
        raise ValueError(f"drift_sigma: expected >= 0, got {drift_sigma}")
    num_actions = env.num_actions
    dtype = catalog.amplitude.dtype

    default_params = CatalogParams(
        base=env.default_params,
        catalog=catalog,
        drift_sigma=jnp.asarray(drift_sigma, dtype),
        drift_rho=jnp.asarray(drift_rho, dtype),
    )

    def reset(key, params):
        obs, bstate = env.reset(key, params.base)
        t0 = jnp.zeros((), jnp.int32)
        mask = obs.mask & available(params.catalog, t0)
        drift = jnp.zeros((num_actions,), params.catalog.amplitude.dtype)
        return Observation(obs.context, mask), CatalogState(bstate, t0, drift, mask)

    def step(key, state, action, params):
        cat = params.catalog
        k_base, k_coup, k_walk = jax.random.split(key, 3)
        out = env.step(k_base, state.base, action, params.base)
        avail = available(cat, state.t)
        z = appeal_offset(cat, state.t, state.drift)
        mu = out.expected_rewards
        zz = z if mu.ndim == 1 else z[:, None]
        if link == "logit":
            eps = jnp.asarray(1e-6, mu.dtype)
            p = jnp.clip(mu, eps, 1 - eps)
            new_mu = jax.nn.sigmoid(jnp.log(p) - jnp.log1p(-p) + zz).astype(mu.dtype)
        else:
            new_mu = (mu + zz).astype(mu.dtype)
        av = avail if mu.ndim == 1 else avail[:, None]
        new_mu = jnp.where(av, new_mu, jnp.zeros_like(new_mu))
        # realised reward of the chosen action(s)
        if mu.ndim == 1:
            mu_a, nmu_a, av_a = mu[action], new_mu[action], avail[action]
        else:
            slots = jnp.arange(mu.shape[1])
            mu_a, nmu_a, av_a = mu[action, slots], new_mu[action, slots], avail[action]
        r = out.reward
        if link == "logit":
            u = jax.random.uniform(k_coup, jnp.shape(r), dtype=mu.dtype)
            hit = r > 0.5
            up = nmu_a >= mu_a
            p_up = (nmu_a - mu_a) / jnp.maximum(1 - mu_a, 1e-12)
            p_keep = nmu_a / jnp.maximum(mu_a, 1e-12)
            new_r = jnp.where(up, hit | (u < p_up), hit & (u < p_keep)).astype(r.dtype)
        else:
            new_r = (r + (nmu_a - mu_a)).astype(r.dtype)
        new_r = jnp.where(av_a, new_r, jnp.zeros_like(new_r))
        if mu.ndim == 2:  # a repeated item in a slate earns nothing (see chosen_value)
            L = mu.shape[1]
            repeat = jnp.any((action[:, None] == action[None, :]) & jnp.tril(jnp.ones((L, L), bool), -1), axis=1)
            new_r = jnp.where(repeat, jnp.zeros_like(new_r), new_r)
        t1 = state.t + 1
        walk = params.drift_rho * state.drift + params.drift_sigma * jax.random.normal(
            k_walk, (num_actions,), state.drift.dtype
        )
        next_mask = out.obs.mask & available(cat, t1)
        new_state = CatalogState(out.state, t1, walk.astype(state.drift.dtype), next_mask)
        obs = Observation(out.obs.context, next_mask)
        info = dict(out.info)
        info.update(catalog_t=state.t, catalog_available=avail, catalog_offset=z)
        return EnvStep(
            obs=obs,
            state=new_state,
            reward=new_r,
            expected_reward=chosen_value(new_mu, action).astype(out.expected_reward.dtype),
            best_expected_reward=best_value(new_mu, state.mask).astype(out.best_expected_reward.dtype),
            expected_rewards=new_mu,
            info=info,
        )

    return Env(
        name=name or f"{env.name}+catalog",
        num_actions=num_actions,
        context_dim=env.context_dim,
        default_params=default_params,
        reset=reset,
        step=step,
        len_list=env.len_list,
    )
