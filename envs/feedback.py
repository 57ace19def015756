"""Two-stage (play-then-complete) feedback as an environment wrapper.

A member first plays (clicks) a title, and only then may complete it (finish the film, binge the
series). :func:`with_two_stage` turns any environment whose reward is a play indicator into one
with both stages:

- play: the base environment's reward, ``play ~ Bernoulli(mu_a)`` where ``mu`` is the base
  ``expected_rewards`` (the base reward must be 0/1 with ``P(1) = mu``: e.g.
  ``envs.synthetic.logistic_bernoulli``, ``bernoulli_arms``, a catalog-wrapped one, the member
  simulator);
- complete: given play, ``complete ~ Bernoulli(c_a)`` with a per-title completion probability
  ``c (K,)``; without play, ``complete = 0``;
- reward: ``play_weight * play + complete_weight * complete``. ``reward="play"`` is weights
  (1, 0), ``"complete"`` is (0, 1), ``"weighted"`` takes the given weights.

Expected values stay exact: ``E[play] = mu_a``, ``E[complete] = mu_a c_a``, so
``expected_rewards = mu * (play_weight + complete_weight * c)`` and regret is computed on that.
The weights and ``c`` live in the params (traced; vmap over them freely).

Slates (``len_list = L``): ``play`` and ``complete`` are ``(L,)`` per slot, ``c`` indexes the
shown titles, and the slate value is the sum over slots (as in :mod:`envs.catalog`).

Delayed feedback (rewards arriving ``d`` rounds later) is handled on the policy side
(``bandits.policies.wrappers``); this wrapper only changes what the reward is.

Compose it outermost: ``with_two_stage(with_catalog(base, catalog), c)``: the catalog shapes the
play probability, this wrapper adds completion.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation
from envs.catalog import TITLE_TYPES, Catalog, best_value, chosen_value

Array = jax.Array

REWARD_MODES = ("play", "complete", "weighted")


class TwoStageParams(NamedTuple):
    """base: base env params; completion_prob: ``(K,)`` P(complete | play) per title;
    play_weight, complete_weight: ``()`` reward weights."""

    base: Any
    completion_prob: Array
    play_weight: Array
    complete_weight: Array


class TwoStageState(NamedTuple):
    """base: base env state; mask: ``(K,) bool`` of the current observation (for the best value)."""

    base: Any
    mask: Array


def completion_by_type(
    catalog: Catalog,
    movie: float = 0.6,
    series: float = 0.3,
    game: float = 0.5,
    live_event: float = 0.8,
) -> Array:
    """Per-title completion probabilities ``(K,)`` from the title type of each catalog slot."""
    vals = np.array([movie, series, game, live_event], np.float64)
    for name, v in zip(TITLE_TYPES, vals, strict=True):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}: expected a completion probability in [0, 1], got {v}")
    return jnp.asarray(vals, catalog.amplitude.dtype)[catalog.item_type]


def with_two_stage(
    env: Env,
    completion_prob: Any,
    *,
    reward: str = "complete",
    play_weight: float | None = None,
    complete_weight: float | None = None,
    name: str | None = None,
) -> Env:
    """Wrap ``env`` (0/1 play rewards) with play-then-complete feedback.

    completion_prob: ``(K,)`` (or a scalar, broadcast) probabilities in [0, 1].
    reward: ``"play"``, ``"complete"`` or ``"weighted"`` (then both weights are required).
    Returns an :class:`Env` with params :class:`TwoStageParams`. ``step`` info adds ``play`` and
    ``complete`` (shape of the reward, 0/1), ``expected_play`` and ``expected_complete`` (``()``,
    of the chosen action or slate) to the base info.
    """
    if not isinstance(env, Env):
        raise TypeError(f"env: expected an bandits.contracts.Env, got {type(env).__name__}")
    if reward not in REWARD_MODES:
        raise ValueError(f"reward: expected one of {REWARD_MODES}, got {reward!r}")
    if reward == "weighted":
        if play_weight is None or complete_weight is None:
            raise ValueError(
                f"play_weight, complete_weight: both required for reward='weighted', got {play_weight!r}, {complete_weight!r}"
            )
        w = (float(play_weight), float(complete_weight))
        if not all(np.isfinite(w)):
            raise ValueError(f"play_weight, complete_weight: expected finite numbers, got {w}")
    else:
        if play_weight is not None or complete_weight is not None:
            raise ValueError(f"play_weight, complete_weight: only used with reward='weighted', got reward={reward!r}")
        w = (1.0, 0.0) if reward == "play" else (0.0, 1.0)
    k = env.num_actions
    c = np.asarray(completion_prob, np.float64)
    if c.ndim == 0:
        c = np.full((k,), float(c))
    if c.shape != (k,):
        raise ValueError(f"completion_prob: expected shape ({k},) (num_actions), got {c.shape}")
    if not np.all((c >= 0) & (c <= 1)):
        raise ValueError(f"completion_prob: expected probabilities in [0, 1], got range [{c.min()}, {c.max()}]")
    leaves = [x for x in jax.tree_util.tree_leaves(env.default_params) if hasattr(x, "dtype")]
    floats = [x.dtype for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)]
    dtype = floats[0] if floats else jnp.float32
    default_params = TwoStageParams(
        base=env.default_params,
        completion_prob=jnp.asarray(c, dtype),
        play_weight=jnp.asarray(w[0], dtype),
        complete_weight=jnp.asarray(w[1], dtype),
    )

    def reset(key, params):
        obs, bstate = env.reset(key, params.base)
        return obs, TwoStageState(bstate, obs.mask)

    def step(key, state, action, params):
        k_base, k_comp = jax.random.split(key)
        out = env.step(k_base, state.base, action, params.base)
        mu = out.expected_rewards
        cp = params.completion_prob.astype(mu.dtype)
        c_all = cp if mu.ndim == 1 else cp[:, None]
        wp = params.play_weight.astype(mu.dtype)
        wc = params.complete_weight.astype(mu.dtype)
        play = out.reward
        u = jax.random.uniform(k_comp, jnp.shape(play), dtype=mu.dtype)
        complete = ((play > 0.5) & (u < cp[action])).astype(play.dtype)
        values = mu * (wp + wc * c_all)
        info = dict(out.info)
        info.update(
            play=play,
            complete=complete,
            expected_play=chosen_value(mu, action).astype(mu.dtype),
            expected_complete=chosen_value(mu * c_all, action).astype(mu.dtype),
        )
        return EnvStep(
            obs=Observation(out.obs.context, out.obs.mask),
            state=TwoStageState(out.state, out.obs.mask),
            reward=(wp * play + wc * complete).astype(play.dtype),
            expected_reward=chosen_value(values, action).astype(out.expected_reward.dtype),
            best_expected_reward=best_value(values, state.mask).astype(out.best_expected_reward.dtype),
            expected_rewards=values,
            info=info,
        )

    return Env(
        name=name or f"{env.name}+two_stage",
        num_actions=k,
        context_dim=env.context_dim,
        default_params=default_params,
        reset=reset,
        step=step,
        len_list=env.len_list,
    )
