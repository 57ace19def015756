"""The shared contracts: the policy protocol, the environment protocol and their small types.

This is the lowest module of the project: policies (``bandits.policies``), estimators
(``bandits.estimators``) and worlds (``envs``) build on it and never import each other; the engine
(``bandits.engine``: rollout, sweep, PRNG) runs any :class:`Policy` in any :class:`Env` knowing only
these types. See docs/architecture.md.

Policies
--------
The Policy protocol: pure functions over a state pytree, full action probabilities.

A policy is a :class:`Policy` (a NamedTuple of pure functions, in the spirit of optax).
Static sizes (``num_actions``, ``context_dim``, dtype, Monte Carlo sample counts) are fixed when
the policy is built by its constructor (e.g. ``bandits.policies.linucb(num_actions=10,
context_dim=10)``); numeric knobs (``alpha``, ``epsilon``, ...) live in an ``hparams`` NamedTuple
of scalars that is passed to every call as a *traced* value, so a grid of hyperparameters is a
``jax.vmap`` away and a new value never recompiles.

All functions act on ONE round of ONE member (rlax style); callers ``vmap`` over seeds, grids or
logged rows.

``init(key, hparams) -> state``
    ``key``: PRNG key. ``state``: any pytree of arrays.
``select(key, state, context, mask, hparams) -> Decision``
    ``context``: ``(context_dim,)`` float; ``mask``: ``(num_actions,)`` bool, True = available.
    Returns the chosen action and the full probability vector over actions (ties split evenly,
    masked actions get exactly 0). Thompson-sampling style policies, whose probabilities have no
    closed form, estimate them by Monte Carlo with a static sample count set at construction
    (documented per policy).
``update(state, context, action, reward, hparams) -> state``
    ``action``: ``()`` int32; ``reward``: ``()`` float.

Slate policies (several slots per round, ``len_list`` = L) follow the same protocol with
``Decision.action`` of shape ``(L,)`` and ``Decision.probs`` of shape ``(num_actions, L)`` (the
marginal probability that each action is shown in each slot: obp's ``action_dist`` layout), and
``update`` receiving ``action (L,)`` and ``reward (L,)``.

Environments
------------
The Env protocol: pure functions with static shapes (gymnax style), exact expected rewards.

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
PRNGKey = jax.Array
PolicyState = Any
HParams = Any  # a NamedTuple of scalars (python floats for defaults, traced arrays inside jit)


class Decision(NamedTuple):
    """What ``select`` returns.

    action: ``()`` int32 (or ``(len_list,)`` for slate policies).
    probs: ``(num_actions,)`` float, non-negative, sums to 1, exactly 0 where ``mask`` is False
        (or ``(num_actions, len_list)``: each column sums to 1).
    """

    action: Array
    probs: Array


class Policy(NamedTuple):
    """A bandit policy as pure functions (see the module docstring for the contract).

    name: registry name, e.g. ``"linucb"``.
    num_actions: K, static.
    context_dim: d, static (0 for context-free policies is not used: they accept and ignore a
        context of any static shape ``(d,)``).
    default_hparams: NamedTuple of python floats; ``hparams`` passed to the functions has the same
        structure with (possibly traced) array leaves.
    init, select, update: the pure functions.
    len_list: number of slots a decision fills (1 for single-action policies).
    """

    name: str
    num_actions: int
    context_dim: int
    default_hparams: HParams
    init: Callable[..., PolicyState]
    select: Callable[..., Decision]
    update: Callable[..., PolicyState]
    len_list: int = 1

    def hparams(self, **overrides: Any) -> HParams:
        """Default hyperparameters with ``overrides`` applied; unknown names raise ``TypeError``."""
        fields = type(self.default_hparams)._fields
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise TypeError(
                f"policy {self.name!r}: unknown hyperparameter(s) {unknown}; expected some of {list(fields)}"
            )
        return self.default_hparams._replace(**overrides)


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
