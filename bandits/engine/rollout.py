"""One policy against one environment for ``horizon`` rounds: a single ``jax.lax.scan``.

Key streams (common random numbers). A member's key ``key`` is split ONCE into an environment
stream and a policy stream (:func:`member_keys`)::

    env_params_key, env_reset_key, env_round_key, policy_init_key, policy_round_key

and round ``t`` (0-based) uses ``fold_in(env_round_key, t)`` for ``env.step`` and
``fold_in(policy_round_key, t)`` for ``policy.select``. Nothing the environment draws depends on
the policy's actions (the synthetic environments draw the noise of every action and the next
context each round), so two policies run with the same ``key`` face the same members: the same
contexts, and the same reward whenever they pick the same action.

Round ``t``::

    decision = policy.select(k_pol_t, policy_state, obs.context, obs.mask, hparams)
    step     = env.step(k_env_t, env_state, decision.action, env_params)
    policy_state = policy.update(policy_state, obs.context, decision.action, step.reward, hparams)
    regret_t = step.best_expected_reward - step.expected_reward          (exact, not estimated)

Blocks of rounds. The per-round keys (and, for environments that split ``step`` into
``draw``/``step_drawn``, the environment's exogenous draws: contexts and reward noise) do not
depend on anything the loop computes, so they are computed ``block`` rounds at a time, vectorised
over the rounds, and the sequential scan keeps only the policy and the state/action-dependent part
of the step (:func:`scan_rounds`). The keys and draws are the same ``fold_in(stream, t)`` values,
so results do not depend on the block size (bit for bit for blocks >= 2, tested; ``block=1`` lets
XLA drop the one-round inner loop and fuse differently, which can round a multiply-add
differently). The speed-up over round-by-round key and draw computation is in docs/simulation.md.

Slate policies/environments (``len_list = L > 1``) are supported: actions ``(L,)``, per-slot
rewards ``(L,)`` (the round's reward is their sum), probs ``(K, L)``, pscore ``(L,)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.caching import IdentityLRU
from bandits.contracts import Env, Policy
from bandits.data import LoggedData
from bandits.engine.prng import resolve_impl
from bandits.validation import check_positive_int, validate_hparams

Array = jax.Array


class MemberKeys(NamedTuple):
    """The five independent key streams of one simulated member (see module docstring)."""

    env_params: Array
    env_reset: Array
    env_round: Array
    policy_init: Array
    policy_round: Array


def member_keys(key) -> MemberKeys:
    """Split a member key into its environment and policy streams (one ``split`` into 5)."""
    ks = jax.random.split(key, 5)
    return MemberKeys(*ks)


def seed_key(seed, impl="threefry_fused"):
    """The member key of an integer seed: ``jax.random.key(seed, impl=impl)`` (traceable).

    The default impl is :data:`bandits.engine.prng.THREEFRY_FUSED` (same bits as JAX's default
    threefry, faster on CPU)."""
    return jax.random.key(seed, impl=resolve_impl(impl))


class Trajectory(NamedTuple):
    """Per-round outputs of :func:`rollout` (leading axis: rounds, ``T = horizon``).

    reward: ``(T,)`` realised reward (summed over slots for slate policies), env dtype.
    expected_reward: ``(T,)`` expected reward of the chosen action(s).
    best_expected_reward: ``(T,)`` best expected reward available in the round.
    regret: ``(T,)`` ``best_expected_reward - expected_reward`` (exact per-round regret).
    action: ``(T,)`` int32 chosen action (``(T, L)`` for slates).
    context: ``(T, d)`` context the policy saw, or None unless ``log=True``.
    pscore: ``(T,)`` probability of the chosen action under the policy (``(T, L)`` for slates:
        ``probs[action_l, l]``), or None unless ``log=True``.
    probs: ``(T, K)`` full action distribution (``(T, K, L)`` for slates), or None unless ``log=True``.
    slot_reward: ``(T, L)`` per-slot rewards for slate policies (None otherwise or unless ``log=True``).
    """

    reward: Array
    expected_reward: Array
    best_expected_reward: Array
    regret: Array
    action: Array
    context: Array | None = None
    pscore: Array | None = None
    probs: Array | None = None
    slot_reward: Array | None = None

    @property
    def cumulative_regret(self) -> Array:
        """``(T,)`` regret summed up to and including each round."""
        return jnp.cumsum(self.regret, axis=-1)


def check_compatible(env: Env, policy: Policy) -> None:
    """Raise unless ``policy`` can act in ``env``: the contract types, the same ``num_actions`` and
    ``len_list``, and the same ``context_dim`` for contextual policies (``context_dim > 1``;
    context-free policies ignore the context and may declare any width)."""
    if not isinstance(env, Env):
        raise TypeError(f"env: expected an bandits.contracts.Env, got {type(env).__name__}")
    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    if policy.num_actions != env.num_actions:
        raise ValueError(f"policy: num_actions={policy.num_actions} does not match env "
                         f"{env.name!r} num_actions={env.num_actions}")
    if policy.len_list != env.len_list:
        raise ValueError(f"policy: len_list={policy.len_list} does not match env {env.name!r} "
                         f"len_list={env.len_list}")
    # context-free policies may declare any context_dim; contextual ones must match.
    if policy.context_dim not in (env.context_dim,) and policy.context_dim > 1:
        raise ValueError(f"policy: context_dim={policy.context_dim} does not match env {env.name!r} "
                         f"context_dim={env.context_dim}")


def check_horizon(horizon) -> int:
    """``horizon`` as an int, or ``ValueError`` unless it is an integer >= 1 (bools refused)."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or int(horizon) < 1:
        raise ValueError(f"horizon: expected an integer >= 1, got {horizon!r}")
    return int(horizon)


def _pscore(probs: Array, action: Array, len_list: int) -> Array:
    if len_list == 1:
        return probs[action]
    return probs[action, jnp.arange(len_list)]


DEFAULT_BLOCK = 32


class RoundInputs(NamedTuple):
    """What round ``t`` needs that does not depend on the loop (computed a block at a time).

    t: ``()`` uint32 round index. k_pol: the policy's round key ``fold_in(policy_round, t)``.
    env_in: ``env.draw(fold_in(env_round, t), params)`` when the environment splits its step,
    otherwise the environment's round key ``fold_in(env_round, t)``.
    """

    t: Array
    k_pol: Array
    env_in: Any


def round_inputs(env: Env, keys: MemberKeys, env_params, ts: Array) -> RoundInputs:
    """:class:`RoundInputs` of rounds ``ts`` ``(B,)`` uint32, vectorised over the rounds."""
    k_pol = jax.vmap(lambda t: jax.random.fold_in(keys.policy_round, t))(ts)
    k_env = jax.vmap(lambda t: jax.random.fold_in(keys.env_round, t))(ts)
    if env.splits_step:
        env_in = jax.vmap(lambda k: env.draw(k, env_params))(k_env)
    else:
        env_in = k_env
    return RoundInputs(ts, k_pol, env_in)


def scan_rounds(body, carry, horizon: int, inputs_fn, block: int = DEFAULT_BLOCK, unroll: int = 1):
    """``lax.scan`` of ``body(carry, RoundInputs) -> (carry, y)`` over rounds ``0 .. horizon-1``.

    The inputs of ``block`` rounds at a time come from ``inputs_fn(ts (B,) uint32)`` (vectorised,
    outside the sequential loop); an outer scan walks the blocks and an inner scan the rounds of a
    block, plus one shorter scan for ``horizon % block`` leftover rounds (all shapes static).
    Returns ``(carry, ys)`` with ``ys`` stacked over all ``horizon`` rounds (None if ``body``
    returns None).
    """
    block = max(1, min(int(block), horizon))
    n_blocks, rest = divmod(horizon, block)

    def outer(cb, _):
        c, b = cb  # the block index is carried (no (n_blocks,) array: memory independent of horizon)
        ts = b * jnp.uint32(block) + jnp.arange(block, dtype=jnp.uint32)
        c, y = jax.lax.scan(body, c, inputs_fn(ts), unroll=unroll)
        return (c, b + 1), y

    ys = None
    if n_blocks:
        (carry, _), ys = jax.lax.scan(outer, (carry, jnp.zeros((), jnp.uint32)), None, length=n_blocks)
        ys = jax.tree.map(lambda y: y.reshape(n_blocks * block, *y.shape[2:]), ys)
    if rest:
        ts = jnp.uint32(n_blocks * block) + jnp.arange(rest, dtype=jnp.uint32)
        carry, tail = jax.lax.scan(body, carry, inputs_fn(ts), unroll=unroll)
        ys = tail if ys is None else jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail)
    return carry, ys


def round_body(env: Env, policy: Policy, hparams, env_params):
    """One round, the scan body shared by :func:`rollout` and :func:`bandits.engine.sweep.sweep`.

    Returns ``play(carry, inp) -> (carry, out)`` with ``carry = (policy_state, env_state, obs)``
    (as made by :func:`init_member`), ``inp`` a :class:`RoundInputs` and ``out`` a dict of this
    round's ``reward`` (summed over slots), ``expected_reward``, ``best_expected_reward``,
    ``regret``, ``action``, ``context``, ``probs`` and ``slot_reward`` (the env's per-slot reward).
    """
    L = policy.len_list
    drawn = env.splits_step

    def play(carry, inp: RoundInputs):
        pstate, estate, obs = carry
        dec = policy.select(inp.k_pol, pstate, obs.context, obs.mask, hparams)
        if drawn:
            st = env.step_drawn(inp.env_in, estate, dec.action, env_params)
        else:
            st = env.step(inp.env_in, estate, dec.action, env_params)
        pstate = policy.update(pstate, obs.context, dec.action, st.reward, hparams)
        reward = st.reward if L == 1 else jnp.sum(st.reward)
        regret = st.best_expected_reward - st.expected_reward
        out = dict(reward=reward, expected_reward=st.expected_reward,
                   best_expected_reward=st.best_expected_reward, regret=regret, action=dec.action,
                   context=obs.context, probs=dec.probs, slot_reward=st.reward)
        return (pstate, st.state, st.obs), out

    return play


def init_member(env: Env, policy: Policy, keys: MemberKeys, hparams, env_params):
    """Initial ``(policy_state, env_state, obs)`` of one member."""
    pstate = policy.init(keys.policy_init, hparams)
    obs, estate = env.reset(keys.env_reset, env_params)
    return pstate, estate, obs


def make_rollout(env: Env, policy: Policy, horizon: int, log: bool = False, unroll: int = 1,
                 block: int = DEFAULT_BLOCK):
    """A pure function ``(key, hparams, env_params) -> Trajectory`` (jit/vmap-able).

    ``env_params`` may also be None: the environment's ``default_params`` are used, or a callable
    ``key -> params`` drawing a random world from the member's ``env_params`` key stream.
    block: rounds whose keys/draws are computed at once (:func:`scan_rounds`; speed only).
    """
    check_compatible(env, policy)
    T = check_horizon(horizon)
    L = policy.len_list

    def run(key, hparams, env_params=None):
        keys = member_keys(key)
        params = resolve_env_params(env, env_params, keys.env_params)
        carry = init_member(env, policy, keys, hparams, params)
        play = round_body(env, policy, hparams, params)

        def body(c, t):
            c, out = play(c, t)
            if not log:
                out = {k: out[k] for k in ("reward", "expected_reward", "best_expected_reward",
                                           "regret", "action")}
            return c, out

        _, ys = scan_rounds(body, carry, T, lambda ts: round_inputs(env, keys, params, ts), block, unroll)
        if not log:
            return Trajectory(ys["reward"], ys["expected_reward"], ys["best_expected_reward"],
                              ys["regret"], ys["action"])
        pscore = jax.vmap(lambda p, a: _pscore(p, a, L))(ys["probs"], ys["action"])
        return Trajectory(ys["reward"], ys["expected_reward"], ys["best_expected_reward"], ys["regret"],
                          ys["action"], ys["context"], pscore, ys["probs"],
                          ys["slot_reward"] if L > 1 else None)

    return run


def resolve_env_params(env: Env, env_params, key):
    """None -> ``env.default_params``; callable -> ``env_params(key)``; otherwise as given."""
    if env_params is None:
        return env.default_params
    if callable(env_params):
        return env_params(key)
    return env_params


_JIT_CACHE: IdentityLRU = IdentityLRU(maxsize=64)


def _jitted_rollout(env: Env, policy: Policy, horizon: int, log: bool, unroll: int, params_callable,
                    block: int = DEFAULT_BLOCK):
    """The jitted rollout of (env, policy, params_callable), cached by their identity."""

    def build():
        fn = make_rollout(env, policy, horizon, log, unroll, block)
        if params_callable is not None:
            return jax.jit(lambda key, hp: fn(key, hp, params_callable))
        return jax.jit(fn)

    return _JIT_CACHE.get(build, env, policy, params_callable, key=(horizon, log, unroll, block))


def _validate_hparams(policy: Policy, hparams):
    if hparams is None:
        return policy.default_hparams
    if isinstance(hparams, dict):
        return policy.hparams(**hparams)
    if type(hparams) is not type(policy.default_hparams):
        raise TypeError(f"hparams: expected {type(policy.default_hparams).__name__} (or a dict of "
                        f"overrides) for policy {policy.name!r}, got {type(hparams).__name__}")
    return hparams


def check_hparams(policy: Policy, hparams) -> None:
    """Eager hyperparameter checks (:func:`bandits.validation.validate_hparams`): types and the
    ranges each policy registers; works on scalars and on stacked grids (arrays)."""
    validate_hparams(policy, hparams)


def rollout(env: Env, policy: Policy, key, hparams=None, env_params=None, horizon: int = 1000,
            log: bool = False, unroll: int = 1, block: int = DEFAULT_BLOCK) -> Trajectory:
    """Run ``policy`` on ``env`` for ``horizon`` rounds; one jitted ``lax.scan``.

    env, policy: :class:`bandits.contracts.Env`, :class:`bandits.contracts.Policy` with matching
        ``num_actions`` / ``len_list`` (and ``context_dim`` for contextual policies).
    key: PRNG key of the member (``jax.random.key(seed)``) or an int seed (then
        :func:`seed_key`: the fused threefry impl, same stream as ``jax.random.key(seed)``).
    hparams: the policy's hparams NamedTuple, a dict of overrides, or None (defaults).
    env_params: params pytree, None (``env.default_params``) or a callable ``key -> params``
        (random world per member, drawn from the member's env_params stream).
    horizon: number of rounds T (static). log: also return context, pscore and full probs.
    unroll: ``lax.scan`` unroll factor (speed only; results are identical).
    block: rounds whose keys and exogenous environment draws are computed at once (speed only;
        results are identical, see the module docstring).

    Returns a :class:`Trajectory` of ``(T, ...)`` arrays. Compiled functions are cached per
    (env, policy, horizon, log, unroll, block); a new ``hparams`` value or key never recompiles.
    """
    check_compatible(env, policy)
    horizon = check_horizon(horizon)
    block = check_positive_int(block, "block")
    hparams = _validate_hparams(policy, hparams)
    check_hparams(policy, hparams)
    if isinstance(key, (int, np.integer)):
        key = seed_key(int(key))
    hp = jax.tree.map(jnp.asarray, hparams)
    if callable(env_params):
        return _jitted_rollout(env, policy, horizon, log, unroll, env_params, block)(key, hp)
    return _jitted_rollout(env, policy, horizon, log, unroll, None, block)(key, hp, env_params)


def to_logged_data(traj: Trajectory, num_actions: int | None = None) -> LoggedData:
    """Turn a ``log=True`` trajectory into :class:`bandits.data.LoggedData` (obp vocabulary).

    Single-action: ``context (T, d)``, ``action (T,)``, ``reward (T,)``, ``pscore (T,)``,
    ``position None``. Slates (``action (T, L)``): one row per (round, slot) in round-major
    order, ``position`` = slot index (0-based), ``pscore`` = marginal probability of the shown
    action in that slot, ``context`` repeated per slot (obp's layout).
    """
    if traj.context is None or traj.pscore is None:
        raise ValueError("traj: expected a trajectory from rollout(..., log=True) (context/pscore present), "
                         "got one without logged feedback")
    ctx = np.asarray(traj.context, np.float64)
    act = np.asarray(traj.action, np.int64)
    ps = np.asarray(traj.pscore, np.float64)
    probs = np.asarray(traj.probs, np.float64)
    K = int(probs.shape[1]) if num_actions is None else int(num_actions)
    if act.ndim == 1:
        L = 1
        rew = np.asarray(traj.reward, np.float64)
        position = None
    else:
        T, L = act.shape
        rew = np.asarray(traj.slot_reward, np.float64).reshape(-1)
        ctx = np.repeat(ctx, L, axis=0)
        act = act.reshape(-1)
        ps = ps.reshape(-1)
        position = np.tile(np.arange(L, dtype=np.int64), T)
    return LoggedData(context=ctx, action=act, reward=rew, pscore=ps, position=position,
                      n_actions=K, len_list=L)
