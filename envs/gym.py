"""Gymnasium adapter for any :class:`bandits.contracts.Env`, and a vector env backed by ``jax.vmap``.

:class:`ScreentestEnv` (``gymnasium.Env``): numpy in and out.

- observation: ``Dict({"context": Box(-inf, inf, (d,), float32), "action_mask": MultiBinary(K)})``;
  ``action_mask[k] == 1`` iff item ``k`` is available this round (catalog windows, item masks).
- action: ``Discrete(K)`` (single-action envs) or :class:`SlateSpace` (slate envs:
  ``MultiDiscrete([K] * L)`` without repeated items). Actions must be integers (a float or bool is
  refused, not truncated) and a slate must show distinct items; anything else raises
  ``ValueError`` naming the action.
- reward: a python float; for slates the sum of the per-slot rewards (``info["slot_reward"]``).
- info: ``expected_reward``, ``best_expected_reward``, ``regret`` (floats, exact),
  ``expected_rewards`` (``(K,)`` or ``(K, L)``), ``action_mask`` (of the next observation) and
  the wrapped env's own info entries as numpy arrays.
- episodes: a bandit has no terminal state, so ``terminated`` is always False and an episode is
  truncated after ``episode_length`` rounds (default 1000; ``truncated=True`` on the last
  step). State that lives through a run (a catalog's clock, a random walk) restarts with
  ``reset``.
- seeding: ``reset(seed=s)`` seeds ``self.np_random``; every reset draws one integer from it,
  ``j``, and the episode's keys are ``split(PRNGKey(j)) -> (reset key, round key)``, round ``t``
  stepping with ``fold_in(round key, t)`` (the rollout convention of ``bandits.engine.rollout``).

:class:`ScreentestVectorEnv` (``gymnasium.vector.VectorEnv``): ``num_envs`` copies stepped by
one jitted ``jax.vmap``. Sub-env ``i`` draws its episode keys exactly as a single
:class:`ScreentestEnv` reset with seed ``seed + i`` (as ``SyncVectorEnv`` seeds its copies), so the
two give the same numbers. Autoreset: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default): the step
that truncates a sub-env returns its last observation with ``truncated=True``; on the NEXT call to
``step`` that sub-env is reset (its action is ignored) and returns the first observation of the new
episode with reward 0, ``terminated = truncated = False`` and zeros in its ``info`` values.
``reset(options={"reset_mask": mask})`` resets only the flagged sub-envs.

Registered ids: every world that declares a ``gym_id`` in :mod:`envs.registry` (``screentest/Member-v0``,
``screentest/LinearGaussian-v0``, ``screentest/LogisticBernoulli-v0``, ``screentest/BernoulliBandit-v0``,
``screentest/Catalog-v0``); importing :mod:`envs` registers them without importing JAX. Each has an
entry point (``gymnasium.make``) and a vector entry point (``gymnasium.make_vec``): by default
:func:`make_registered` / :func:`make_vec_registered`, which build the world from its declaration.
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import gymnasium
except ImportError as _e:  # the Gymnasium adapter is an extra: say how to get it
    raise ImportError("the Gymnasium adapter (envs.gym) needs gymnasium: pip install 'screentest[gym]'") from _e
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space
from gymnasium.vector.vector_env import AutoresetMode

from bandits.caching import IdentityLRU
from bandits.contracts import Env
from envs.registry import register_env

DEFAULT_EPISODE_LENGTH = 1000
_KEY_HIGH = 2**31 - 1



def _check_env(env: Any, episode_length: int) -> int:
    if not isinstance(env, Env):
        raise TypeError(f"env: expected an bandits.contracts.Env, got {type(env).__name__}")
    if isinstance(episode_length, bool) or not isinstance(episode_length, (int, np.integer)) or episode_length < 1:
        raise ValueError(f"episode_length: expected an integer >= 1, got {episode_length!r}")
    return int(episode_length)


def _spaces(env: Env, params: Any, context_bounds: tuple[float, float]) -> tuple[spaces.Dict, spaces.Space, np.dtype]:
    obs_shape, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0), params)
    ctx_dtype = np.dtype(obs_shape.context.dtype)
    if ctx_dtype not in (np.float32, np.float64):
        ctx_dtype = np.dtype(np.float32)
    lo, hi = (float(b) for b in context_bounds)
    if not lo <= hi:
        raise ValueError(f"context_bounds: expected (low, high) with low <= high, got {context_bounds!r}")
    obs_space = spaces.Dict(
        {
            "context": spaces.Box(lo, hi, shape=tuple(obs_shape.context.shape), dtype=ctx_dtype),
            "action_mask": spaces.MultiBinary(env.num_actions),
        }
    )
    if env.len_list == 1:
        act_space: spaces.Space = spaces.Discrete(env.num_actions)
    else:
        act_space = SlateSpace(np.full(env.len_list, env.num_actions, np.int64))
    return obs_space, act_space, ctx_dtype


class SlateSpace(spaces.MultiDiscrete):
    """Slates of distinct items: ``MultiDiscrete([K] * L)`` (or ``(n, L)`` for a vector env) whose
    rows never repeat an item. ``sample`` draws each row without replacement; ``contains`` refuses
    a row with a repeat, so every element of the space is a slate the world can score."""

    def sample(self, mask=None, probability=None) -> np.ndarray:
        if mask is not None or probability is not None:
            for _ in range(1000):
                a = super().sample(mask=mask, probability=probability)
                if self.contains(a):
                    return a
            raise ValueError("mask/probability: no slate of distinct items found in 1000 draws")
        rows = self.nvec.reshape(-1, self.nvec.shape[-1])
        out = np.stack([self.np_random.permutation(int(r[0]))[: r.size] if np.all(r == r[0])
                        else self._distinct_row(r) for r in rows])
        return (out.reshape(self.nvec.shape) + self.start).astype(self.dtype)

    def _distinct_row(self, nvec_row: np.ndarray) -> np.ndarray:
        for _ in range(1000):
            row = np.array([self.np_random.integers(int(k)) for k in nvec_row])
            if np.unique(row).size == row.size:
                return row
        raise ValueError(f"nvec: no row of distinct items in {nvec_row.tolist()}")

    def contains(self, x) -> bool:
        if not super().contains(x):
            return False
        rows = np.sort(np.asarray(x).reshape(-1, self.nvec.shape[-1]), axis=1)
        return not np.any(rows[:, 1:] == rows[:, :-1])

    def __repr__(self) -> str:
        return f"SlateSpace({self.nvec.tolist()})"

    def __eq__(self, other) -> bool:
        return isinstance(other, SlateSpace) and super().__eq__(other)


def _episode_fns(env: Env):
    """Pure ``reset_one(key_int, params)`` and ``step_one(round_key, t, state, action, params)``."""

    def reset_one(key_int, params):
        k_reset, round_key = jax.random.split(jax.random.PRNGKey(key_int))
        obs, state = env.reset(k_reset, params)
        return obs, state, round_key

    def step_one(round_key, t, state, action, params):
        return env.step(jax.random.fold_in(round_key, t), state, action, params)

    return reset_one, step_one


_JIT_CACHE: IdentityLRU = IdentityLRU(maxsize=32)


def _jitted(env: Env):
    """``(reset, step, vreset, vstep)`` jitted once per Env object and shared by every adapter
    built on it (so ten gym envs over one Env compile once)."""

    def build():
        reset_one, step_one = _episode_fns(env)
        return (
            jax.jit(reset_one),
            jax.jit(step_one),
            jax.jit(jax.vmap(reset_one, in_axes=(0, None))),
            jax.jit(jax.vmap(step_one, in_axes=(0, 0, 0, 0, None))),
        )

    return _JIT_CACHE.get(build, env)


def _check_action(action: Any, env: Env, name: str, num_envs: int | None = None, space: Any = None) -> np.ndarray:
    """The action(s) as an int array, or a ``ValueError`` naming ``name``.

    Item indices must be integers (a float or bool is refused, never truncated: ``1.7`` is not
    item 1), in ``[0, K)``, of shape ``()`` (``(L,)`` for a slate; ``num_envs`` in front for a
    vector env), and a slate must not repeat an item (its reward would not be a real slate's).
    """
    a = np.asarray(action)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: expected integer item indices in [0, {env.num_actions}), got {action!r} "
                         f"(dtype {a.dtype}); a float or bool action is not rounded to an item")
    L = env.len_list
    want = (() if L == 1 else (L,)) if num_envs is None else ((num_envs,) if L == 1 else (num_envs, L))
    if a.shape != want:
        raise ValueError(f"{name}: expected shape {want} ({'one item' if L == 1 else f'a slate of {L} items'}"
                         f"{' per sub-env' if num_envs is not None else ''}), got shape {a.shape}: {action!r}")
    if not np.all((a >= 0) & (a < env.num_actions)):
        what = (f"an element of {space} (integers in [0, {env.num_actions}))" if space is not None
                else f"integers in [0, {env.num_actions}) (item indices)")
        raise ValueError(f"{name}: expected {what}, got {action!r}")
    if L > 1:
        srt = np.sort(a.reshape(-1, L), axis=1)
        rep = np.flatnonzero(np.any(srt[:, 1:] == srt[:, :-1], axis=1))
        if rep.size:
            row = a.reshape(-1, L)[rep[0]]
            vals, cnt = np.unique(row, return_counts=True)
            where = f" (sub-env {int(rep[0])})" if num_envs is not None else ""
            raise ValueError(f"{name}: a slate shows {L} distinct items, got {row.tolist()}{where} with item "
                             f"{int(vals[cnt > 1][0])} repeated")
    return a.astype(np.int64)


def _np_info(out, reward_shape_slate: bool) -> dict[str, Any]:
    info = {
        "expected_reward": np.asarray(out.expected_reward),
        "best_expected_reward": np.asarray(out.best_expected_reward),
        "regret": np.asarray(out.best_expected_reward - out.expected_reward),
        "expected_rewards": np.asarray(out.expected_rewards),
        "action_mask": np.asarray(out.obs.mask).astype(np.int8),
    }
    if reward_shape_slate:
        info["slot_reward"] = np.asarray(out.reward)
    for k, v in out.info.items():
        if k not in info:
            info[k] = np.asarray(v)
    return info


class ScreentestEnv(gymnasium.Env):
    """A ``gymnasium.Env`` over an :class:`bandits.contracts.Env` (see the module docstring).

    env: the environment; params: its params (default ``env.default_params``);
    episode_length: rounds per episode (truncation); context_bounds: ``(low, high)`` of the
    context Box (default unbounded; the registered factories pass the known range).
    """

    metadata = {"render_modes": []}

    def __init__(self, env: Env, params: Any = None, episode_length: int = DEFAULT_EPISODE_LENGTH,
                 render_mode: str | None = None, context_bounds: tuple[float, float] = (-np.inf, np.inf)):
        self.episode_length = _check_env(env, episode_length)
        if render_mode is not None:
            raise ValueError(f"render_mode: screentest envs do not render, expected None, got {render_mode!r}")
        self.env = env
        self.params = env.default_params if params is None else params
        self.observation_space, self.action_space, self._ctx_dtype = _spaces(env, self.params, context_bounds)
        self._reset_fn, self._step_fn, _, _ = _jitted(env)
        self._state = None
        self._round_key = None
        self._t = 0
        self._needs_reset = True

    def _obs(self, obs) -> dict[str, np.ndarray]:
        return {
            "context": np.asarray(obs.context, self._ctx_dtype),
            "action_mask": np.asarray(obs.mask).astype(np.int8),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        key_int = int(self.np_random.integers(0, _KEY_HIGH))
        obs, self._state, self._round_key = self._reset_fn(np.uint32(key_int), self.params)
        self._t = 0
        self._needs_reset = False
        o = self._obs(obs)
        return o, {"action_mask": o["action_mask"].copy()}

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("step: call reset() first (the episode has not started or was truncated)")
        a = _check_action(action, self.env, "action", space=self.action_space)
        out = self._step_fn(self._round_key, np.uint32(self._t), self._state, jnp.asarray(a, jnp.int32), self.params)
        self._state = out.state
        self._t += 1
        truncated = self._t >= self.episode_length
        self._needs_reset = truncated
        slate = self.env.len_list > 1
        reward = float(np.sum(np.asarray(out.reward)))
        return self._obs(out.obs), reward, False, truncated, _np_info(out, slate)


class ScreentestVectorEnv(VectorEnv):
    """``num_envs`` copies of an :class:`bandits.contracts.Env`, stepped with one jitted ``jax.vmap``.

    Same spaces per copy as :class:`ScreentestEnv`; batched observation ``{"context": (n, d),
    "action_mask": (n, K) int8}``, rewards/terminations/truncations ``(n,)``, info values
    ``(n, ...)``. Autoreset: NEXT_STEP (module docstring).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env: Env, num_envs: int, params: Any = None,
                 episode_length: int = DEFAULT_EPISODE_LENGTH, render_mode: str | None = None,
                 context_bounds: tuple[float, float] = (-np.inf, np.inf)):
        self.episode_length = _check_env(env, episode_length)
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs: expected an integer >= 1, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError(f"render_mode: screentest envs do not render, expected None, got {render_mode!r}")
        self.env = env
        self.num_envs = int(num_envs)
        self.params = env.default_params if params is None else params
        self.single_observation_space, self.single_action_space, self._ctx_dtype = _spaces(
            env, self.params, context_bounds)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        if isinstance(self.single_action_space, SlateSpace):  # each sub-env's slate of distinct items
            self.action_space = SlateSpace(np.tile(self.single_action_space.nvec, (self.num_envs, 1)))
        else:
            self.action_space = batch_space(self.single_action_space, self.num_envs)
        _, _, self._vreset, self._vstep = _jitted(env)
        self._gens: list[np.random.Generator] | None = None
        self._state = None
        self._obs_cache = None
        self._round_keys = None
        self._t = np.zeros(self.num_envs, np.int64)
        self._autoreset = np.zeros(self.num_envs, bool)

    # -- helpers
    def _draw(self, which: np.ndarray) -> np.ndarray:
        ints = np.zeros(self.num_envs, np.uint32)
        for i in np.flatnonzero(which):
            ints[i] = int(self._gens[i].integers(0, _KEY_HIGH))
        return ints

    def _batched_obs(self, obs) -> dict[str, np.ndarray]:
        return {
            "context": np.asarray(obs.context, self._ctx_dtype),
            "action_mask": np.asarray(obs.mask).astype(np.int8),
        }

    @staticmethod
    def _select(mask: np.ndarray, new, old):
        m = jnp.asarray(mask)

        def pick(a, b):
            return jnp.where(m.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

        return jax.tree.map(pick, new, old)

    # -- API
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        super().reset(seed=seed if isinstance(seed, (int, np.integer)) else None)
        if seed is None:
            if self._gens is None:
                self._gens = [gymnasium.utils.seeding.np_random(None)[0] for _ in range(self.num_envs)]
        else:
            seeds = [int(seed) + i for i in range(self.num_envs)] if isinstance(seed, (int, np.integer)) else list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed: expected an int or {self.num_envs} ints, got {len(seeds)}")
            self._gens = [gymnasium.utils.seeding.np_random(s)[0] for s in seeds]
        which = np.ones(self.num_envs, bool)
        if options is not None and "reset_mask" in options:
            which = np.asarray(options["reset_mask"], bool)
            if which.shape != (self.num_envs,):
                raise ValueError(f"options['reset_mask']: expected shape ({self.num_envs},), got {which.shape}")
            if self._state is None and not which.all():
                raise ValueError("options['reset_mask']: the first reset must reset every sub-env")
        obs, state, rkeys = self._vreset(self._draw(which), self.params)
        if self._state is not None and not which.all():
            obs = self._select(which, obs, self._obs_cache)
            state = self._select(which, state, self._state)
            rkeys = self._select(which, rkeys, self._round_keys)
        self._state, self._obs_cache, self._round_keys = state, obs, rkeys
        self._t = np.where(which, 0, self._t)
        self._autoreset = np.where(which, False, self._autoreset)
        o = self._batched_obs(obs)
        return o, {"action_mask": o["action_mask"].copy()}

    def step(self, actions):
        if self._state is None:
            raise RuntimeError("step: call reset() first")
        a = _check_action(actions, self.env, "actions", self.num_envs)
        out = self._vstep(self._round_keys, self._t.astype(np.uint32), self._state, jnp.asarray(a, jnp.int32),
                          self.params)
        obs, state, rkeys = out.obs, out.state, self._round_keys
        self._t = self._t + 1
        trunc = self._t >= self.episode_length
        rewards = np.asarray(out.reward, np.float64)
        if rewards.ndim > 1:
            rewards = rewards.sum(axis=1)
        info = _np_info(out, self.env.len_list > 1)
        resetting = self._autoreset
        if resetting.any():
            r_obs, r_state, r_keys = self._vreset(self._draw(resetting), self.params)
            obs = self._select(resetting, r_obs, obs)
            state = self._select(resetting, r_state, state)
            rkeys = self._select(resetting, r_keys, rkeys)
            rewards = np.where(resetting, 0.0, rewards)
            trunc = np.where(resetting, False, trunc)
            self._t = np.where(resetting, 0, self._t)
            for k, v in info.items():
                if k == "action_mask":
                    continue
                info[k] = np.where(resetting.reshape((-1,) + (1,) * (v.ndim - 1)), np.zeros_like(v), v)
        self._state, self._obs_cache, self._round_keys = state, obs, rkeys
        self._autoreset = trunc.copy()
        o = self._batched_obs(obs)
        info["action_mask"] = o["action_mask"].copy()
        return o, rewards, np.zeros(self.num_envs, bool), trunc, info


# ----------------------------------------------------------------------------- factories


_ENV_CACHE: IdentityLRU = IdentityLRU(maxsize=32)


def _memo(name: str, kwargs: dict, build) -> Env:
    """Build an Env once per (factory, kwargs) so repeated ``gymnasium.make`` calls reuse the
    compiled functions (kwargs that are not hashable skip the cache)."""
    try:
        ck = (name, tuple(sorted(kwargs.items())))
        hash(ck)
    except TypeError:
        return build()
    return _ENV_CACHE.get(build, key=ck)


def _context_bounds(decl, kwargs: dict) -> tuple[float, float]:
    """Context range of a registered world for the observation space: the declared range, which
    holds for the constructor's default context distribution (the unit sphere lies in [-1, 1]);
    Gaussian contexts (``context_dist="gaussian"``) and worlds that declare none are unbounded."""
    if decl.context_bounds is None or kwargs.get("context_dist", "sphere") != "sphere":
        return (-np.inf, np.inf)
    return decl.context_bounds


def _registered_env(world: str, kwargs: dict) -> Env:
    """The registered world ``world`` built with ``kwargs`` (memoised, see :func:`_memo`)."""
    from envs.registry import declaration

    return _memo(world, kwargs, lambda: declaration(world).load()(**kwargs))


_synthetic = _registered_env  # the name the synthetic families were built under


def _registered_gym(world: str, episode_length: int, render_mode, kwargs: dict, num_envs: int | None = None):
    from envs.registry import declaration

    env = _registered_env(world, kwargs)
    bounds = _context_bounds(declaration(world), kwargs)
    if num_envs is None:
        return ScreentestEnv(env, episode_length=episode_length, render_mode=render_mode, context_bounds=bounds)
    return ScreentestVectorEnv(env, num_envs, episode_length=episode_length, render_mode=render_mode,
                               context_bounds=bounds)


def make_registered(world: str, episode_length: int = DEFAULT_EPISODE_LENGTH, render_mode=None,
                    **kwargs) -> ScreentestEnv:
    """Entry point of the Gymnasium ids of registered worlds (:mod:`envs.registry`): the world
    ``world`` built by its constructor with ``kwargs``, as a :class:`ScreentestEnv`."""
    return _registered_gym(world, episode_length, render_mode, kwargs)


def make_vec_registered(num_envs: int, world: str, episode_length: int = DEFAULT_EPISODE_LENGTH,
                        **kwargs) -> ScreentestVectorEnv:
    """Vector entry point of the Gymnasium ids of registered worlds (``gymnasium.make_vec``)."""
    return _registered_gym(world, episode_length, None, kwargs, num_envs)


# the synthetic families by name (the same factories the Gymnasium ids use)
make_linear_gaussian = functools.partial(make_registered, "linear_gaussian")
make_logistic_bernoulli = functools.partial(make_registered, "logistic_bernoulli")
make_bernoulli_bandit = functools.partial(make_registered, "bernoulli_arms")


@register_env("catalog", gym_id="screentest/Catalog-v0", gym_entry="envs.gym:make_catalog",
              gym_vec_entry="envs.gym:make_vec_catalog", context_bounds=(-1.0, 1.0))
def catalog_env(
    *,
    num_movies: int = 20,
    num_series: int = 10,
    num_games: int = 5,
    num_live_events: int = 5,
    context_dim: int = 5,
    catalog_seed: int = 0,
    seed: int = 0,
    base_rate: float = 0.1,
    scale: float = 2.0,
    drift_sigma: float = 0.0,
    drift_rho: float = 1.0,
    horizon: int = DEFAULT_EPISODE_LENGTH,
    max_size: int | None = None,
    feature_world: bool = True,
    **catalog_kwargs,
) -> Env:
    """The env behind ``screentest/Catalog-v0``: a logistic-Bernoulli world (``envs.synthetic``)
    whose actions are the titles of :func:`envs.catalog.random_catalog` drawn from
    ``catalog_seed`` over ``horizon`` rounds, wrapped by :func:`envs.catalog.with_catalog`
    (logit link). Extra keyword arguments go to ``random_catalog``. Built once per argument set.

    feature_world: if True (default) the titles' response weights come from their features,
    ``theta_k = scale * normalise(features_k @ B)`` with ``B (p, d) ~ N(0, 1)`` drawn from
    ``seed`` (bias ``logit(base_rate)``), so titles with similar features are liked by the same
    members and a feature-based policy (e.g. ``hybrid_linucb`` with ``item_features =
    params.catalog.features``) can generalise to a cold-start title; if False each title gets an
    independent random ``theta_k`` (``logistic_bernoulli(seed=seed)``)."""
    args = dict(num_movies=num_movies, num_series=num_series, num_games=num_games, num_live_events=num_live_events,
                context_dim=context_dim, catalog_seed=catalog_seed, seed=seed, base_rate=base_rate, scale=scale,
                drift_sigma=drift_sigma, drift_rho=drift_rho, horizon=horizon, max_size=max_size,
                feature_world=bool(feature_world), **catalog_kwargs)
    return _memo("catalog", args, lambda: _build_catalog_env(**args))


def _build_catalog_env(*, num_movies, num_series, num_games, num_live_events, context_dim, catalog_seed, seed,
                       base_rate, scale, drift_sigma, drift_rho, horizon, max_size, feature_world,
                       **catalog_kwargs) -> Env:
    from envs.catalog import random_catalog, with_catalog
    from envs.synthetic import logistic_bernoulli, logistic_bernoulli_params

    cat = random_catalog(jax.random.key(int(catalog_seed)), num_movies=num_movies, num_series=num_series,
                         num_games=num_games, num_live_events=num_live_events, horizon=horizon,
                         max_size=max_size, **catalog_kwargs)
    if feature_world:
        feats = np.asarray(cat.features, np.float64)
        b = np.asarray(jax.random.normal(jax.random.key(int(seed)), (feats.shape[1], int(context_dim))), np.float64)
        th = feats @ b
        th = scale * th / np.maximum(np.linalg.norm(th, axis=1, keepdims=True), 1e-12)
        bias = np.full(cat.size, np.log(base_rate / (1.0 - base_rate)))
        params = logistic_bernoulli_params(th, bias)
        base = logistic_bernoulli(num_actions=cat.size, context_dim=context_dim, params=params)
    else:
        base = logistic_bernoulli(num_actions=cat.size, context_dim=context_dim, scale=scale, base_rate=base_rate,
                                  seed=seed)
    return with_catalog(base, cat, drift_sigma=drift_sigma, drift_rho=drift_rho, horizon=horizon, name="catalog")


def make_catalog(episode_length: int = DEFAULT_EPISODE_LENGTH, render_mode=None, **kwargs) -> ScreentestEnv:
    """``screentest/Catalog-v0``: :func:`catalog_env` with the catalog's horizon = ``episode_length``."""
    kwargs.setdefault("horizon", episode_length)
    return ScreentestEnv(catalog_env(**kwargs), episode_length=episode_length, render_mode=render_mode,
                         context_bounds=(-1.0, 1.0))


_MEMBER_CACHE: IdentityLRU = IdentityLRU(maxsize=8)


def member_env(campaign: str = "all", len_list: int = 3, *, data_path: str | None = None,
               temperature: float | None = None, noise: float | None = None, shift: float | None = None,
               add_intercept: bool = False, **fit_kwargs) -> tuple[Env, Any]:
    """The env behind ``screentest/Member-v0``: the :class:`envs.logged.MemberSimulator` fitted on
    the uniform-random OBD logs of ``campaign`` (the bundled sample unless ``data_path``), with
    ``len_list`` slots (3 = OBD's slate; 1 = single-slot). Knobs ``temperature``, ``noise``,
    ``shift`` set the params. Returns ``(env, params)``; fits are cached per argument set."""
    try:
        from bandits.datasets.obd import load_obd
        from envs.logged import fit_member_simulator
    except ImportError as e:  # pragma: no cover - both land in the repo
        raise RuntimeError(f"screentest/Member-v0 needs envs.logged and bandits.datasets.obd: {e}") from e
    ck = (campaign, int(len_list), data_path, bool(add_intercept), tuple(sorted(fit_kwargs.items())))

    def fit():
        data = load_obd("random", campaign, data_path)
        return fit_member_simulator(data, len_list=int(len_list), add_intercept=add_intercept, **fit_kwargs)

    sim = _MEMBER_CACHE.get(fit, key=ck)
    params = sim.with_knobs(temperature=temperature, noise=noise, shift=shift)
    return sim.env, params


def _member_bounds(params) -> tuple[float, float]:
    ctx = np.asarray(params.contexts)
    return (min(0.0, float(ctx.min())), max(1.0, float(ctx.max())))


def make_member(episode_length: int = DEFAULT_EPISODE_LENGTH, render_mode=None, **kwargs) -> ScreentestEnv:
    """``screentest/Member-v0``: :func:`member_env` (kwargs passed on)."""
    env, params = member_env(**kwargs)
    return ScreentestEnv(env, params=params, episode_length=episode_length, render_mode=render_mode,
                         context_bounds=_member_bounds(params))


# vector entry points (gymnasium.make_vec(id, num_envs=n, ...))


def make_vec_linear_gaussian(num_envs: int, **kwargs):
    """Vector env of :func:`envs.synthetic.linear_gaussian` (``screentest/LinearGaussian-v0``)."""
    return make_vec_registered(num_envs, "linear_gaussian", **kwargs)


def make_vec_logistic_bernoulli(num_envs: int, **kwargs):
    """Vector env of :func:`envs.synthetic.logistic_bernoulli` (``screentest/LogisticBernoulli-v0``)."""
    return make_vec_registered(num_envs, "logistic_bernoulli", **kwargs)


def make_vec_bernoulli_bandit(num_envs: int, **kwargs):
    """Vector env of :func:`envs.synthetic.bernoulli_arms` (``screentest/BernoulliBandit-v0``)."""
    return make_vec_registered(num_envs, "bernoulli_arms", **kwargs)


def make_vec_catalog(num_envs: int, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs):
    """Vector entry point of ``screentest/Catalog-v0``."""
    kwargs.setdefault("horizon", episode_length)
    return ScreentestVectorEnv(catalog_env(**kwargs), num_envs, episode_length=episode_length,
                               context_bounds=(-1.0, 1.0))


def make_vec_member(num_envs: int, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs):
    """Vector entry point of ``screentest/Member-v0``."""
    env, params = member_env(**kwargs)
    return ScreentestVectorEnv(env, num_envs, params=params, episode_length=episode_length,
                               context_bounds=_member_bounds(params))
