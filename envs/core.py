"""The Env protocol: pure functions with static shapes (gymnax style), exact expected rewards.

An environment is an :class:`Env` NamedTuple. Shapes are fixed when the environment is built;
numeric knobs live in a ``params`` pytree (``env.default_params``) so they can be vmapped.

``reset(key, params) -> (obs, state)``
    ``obs``: :class:`Observation` for the first round.
``step(key, state, action, params) -> EnvStep``
    Plays ``action`` (``()`` int32, or ``(len_list,)`` for slate environments) against the
    round described by the last observation and returns the reward, the next observation and the
    exact expected rewards of the round just played, so regret is exact, not estimated:
    ``regret_t = best_expected_reward - expected_reward``.

Optional, for environments whose randomness does not depend on the state or the action (exogenous
draws: the synthetic families):

``draw(key, params) -> draws`` and ``step_drawn(draws, state, action, params) -> EnvStep``
    ``step(key, s, a, p)`` equals ``step_drawn(draw(key, p), s, a, p)`` bit for bit (tested). The
    rollout and the sweep then draw a block of rounds at once (vectorised over the rounds, out of
    the sequential loop) and keep only the state- and action-dependent work in the loop; results
    are the same as round-by-round stepping. Environments without them (``None``) are stepped
    round by round.

Environments never raise inside jit; constructors validate sizes eagerly and name the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

Array = jax.Array


class Observation(NamedTuple):
    """What a policy sees before choosing.

    context: ``(context_dim,)`` float.
    mask: ``(num_actions,)`` bool, True where the action (item) is available this round.
    """

    context: Array
    mask: Array


class EnvStep(NamedTuple):
    """Result of ``Env.step``.

    obs: the NEXT round's :class:`Observation`.
    state: the next environment state.
    reward: realised reward of the round just played, ``()`` (or ``(len_list,)`` per slot).
    expected_reward: expected reward of the chosen action (slate) this round, ``()``.
    best_expected_reward: best expected reward available this round (over masked actions), ``()``.
    expected_rewards: ``(num_actions,)`` expected reward of every action this round (for slate
        environments ``(num_actions, len_list)``: action a shown in slot l).
    info: dict of extra environment-specific arrays (static keys per environment).
    """

    obs: Observation
    state: Any
    reward: Array
    expected_reward: Array
    best_expected_reward: Array
    expected_rewards: Array
    info: dict


class Env(NamedTuple):
    """A bandit environment as pure functions (see module docstring).

    name: registry name. num_actions: K. context_dim: d. len_list: slots per round (1 = single
    action). default_params: params pytree. reset, step: the pure functions. draw, step_drawn:
    optional split of ``step`` into its exogenous draws and the rest (see the module docstring).
    """

    name: str
    num_actions: int
    context_dim: int
    default_params: Any
    reset: Callable[..., tuple[Observation, Any]]
    step: Callable[..., EnvStep]
    len_list: int = 1
    draw: Callable[..., Any] | None = None
    step_drawn: Callable[..., EnvStep] | None = None

    @property
    def splits_step(self) -> bool:
        """True when the environment provides both ``draw`` and ``step_drawn``."""
        return self.draw is not None and self.step_drawn is not None
