"""Serving-side wrappers that turn any Policy into a Policy: batched updates and delayed feedback.

Production recommenders rarely learn from a click the moment it happens: models are refreshed
every so often (batched updates) and feedback arrives late (a play is known at once, a completion
hours later). Both wrappers keep the inner policy's contract (same ``select``/``update``
signatures, full probabilities, slate layouts included) and add their knobs to the hyperparameters
(the wrapped hyperparameters are a flat NamedTuple: the inner fields plus the wrapper's).

``batched(policy, ...)`` -- "update every B rounds". The state carries two copies of the inner
state: ``live`` receives every update immediately, ``frozen`` is what ``select`` uses and is
replaced by ``live`` after every ``update_every``-th update. This is exactly equivalent to
buffering B observations and applying them in order at the refresh, with O(1) memory in B, so
``update_every`` is a traced hyperparameter (a new B does not recompile). It reproduces the
"feedback every delta steps" protocol of Chapelle and Li (2011, Table 1).

``delayed(policy, max_delay=D, mode=...)`` -- "the reward of round t is applied at round t + d".
A ring buffer of static size ``D + 1`` holds ``(context, action, reward, due_round)`` of the last
``D + 1`` rounds; at the ``update`` call of round ``t`` the current row is stored with
``due = t + d_t`` and every stored row with ``due == t`` is applied to the inner state, oldest first
(so the policy "updates when feedback arrives"; a row with ``d = 0`` is applied at once; rows still
pending at the end of a run are never applied, as in a real system). Delays, clipped to ``[0, D]``:

* ``mode="fixed"``: ``d = delay`` (traced hyperparameter); exactly one row is due per round, one
  inner update per round.
* ``mode="uniform"``: ``d ~ Uniform{0, ..., delay}``;
* ``mode="geometric"``: ``d ~ Geometric`` on ``{0, 1, ...}`` with mean ``delay``, truncated at D.

The random modes apply the rows due in a round with a ``lax.while_loop`` over their number (one
inner update per arrival; under ``vmap`` the loop runs as many times as the member with most
arrivals, the others keeping their state). Delay draws use a key kept in the state
(``fold_in(key, t)``), so ``update`` stays a pure function of its arguments.

Both wrappers are also registered (``"batched"``, ``"delayed"``) with a ``base`` policy name, so
the registry's contract tests cover them.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bandits import validation as V
from bandits.contracts import Policy
from bandits.policies.registry import make, register


def _merged_hparams(policy: Policy, wrapper: str, extra: dict[str, float]):
    """A flat namedtuple type: the inner policy's hyperparameter fields plus the wrapper's."""
    inner_fields = type(policy.default_hparams)._fields
    clash = sorted(set(inner_fields) & set(extra))
    if clash:
        raise ValueError(f"{wrapper}: hyperparameter name(s) {clash} of policy {policy.name!r} clash with the wrapper's")
    fields = list(inner_fields) + list(extra)
    defaults = list(policy.default_hparams) + list(extra.values())
    cls = collections.namedtuple(f"{wrapper.capitalize()}{type(policy.default_hparams).__name__}", fields,
                                 defaults=defaults)
    inner_cls = type(policy.default_hparams)

    def split(h):
        return inner_cls(*[getattr(h, f) for f in inner_fields])

    return cls(), split


def _tree_where(pred, a, b):
    return jax.tree_util.tree_map(lambda u, v: jnp.where(pred, u, v), a, b)


class BatchedState(NamedTuple):
    """live: inner state with every update applied; frozen: inner state used by select; t: () int32."""

    live: Any
    frozen: Any
    t: jax.Array


def batched(policy: Policy, update_every: int = 10) -> Policy:
    """Refresh the serving model every ``update_every`` updates (default hyperparameter value).

    Returns a Policy named ``"batched(<inner>)"`` with hyperparameters = inner fields +
    ``update_every`` (float, rounded, >= 1, traced).
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"batched: policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    if float(update_every) < 1:
        raise ValueError(f"batched: update_every: expected >= 1, got {update_every!r}")
    default, split = _merged_hparams(policy, "batched", {"update_every": float(update_every)})

    def init(key, hparams):
        s = policy.init(key, split(hparams))
        return BatchedState(live=s, frozen=s, t=jnp.zeros((), jnp.int32))

    def select(key, state, context, mask, hparams):
        return policy.select(key, state.frozen, context, mask, split(hparams))

    def update(state, context, action, reward, hparams):
        live = policy.update(state.live, context, action, reward, split(hparams))
        t = state.t + 1
        B = jnp.maximum(jnp.round(jnp.asarray(hparams.update_every)), 1).astype(jnp.int32)
        frozen = _tree_where(t % B == 0, live, state.frozen)
        return BatchedState(live=live, frozen=frozen, t=t)

    return Policy(f"batched({policy.name})", policy.num_actions, policy.context_dim, default, init, select,
                  update, policy.len_list)


class DelayedState(NamedTuple):
    """inner: inner state; ctx: (D+1, d); act: (D+1,) or (D+1, L) int32; rew: (D+1,) or (D+1, L);
    due: (D+1,) int32 round at which each row is applied (-1 = empty); t: () int32; key: PRNG key."""

    inner: Any
    ctx: jax.Array
    act: jax.Array
    rew: jax.Array
    due: jax.Array
    t: jax.Array
    key: jax.Array


_DELAY_MODES = ("fixed", "uniform", "geometric")


def delayed(policy: Policy, max_delay: int = 10, mode: str = "fixed", delay: float = 1.0,
            dtype=jnp.float32) -> Policy:
    """Apply each round's feedback ``d`` rounds later (``0 <= d <= max_delay``, static buffer).

    Returns a Policy named ``"delayed(<inner>)"`` with hyperparameters = inner fields + ``delay``
    (float; fixed delay, uniform upper bound or geometric mean depending on ``mode``).
    ``dtype``: dtype of the stored contexts and rewards (match the inner policy's).
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"delayed: policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    if not isinstance(max_delay, int) or max_delay < 0:
        raise ValueError(f"delayed: max_delay: expected an integer >= 0, got {max_delay!r}")
    if mode not in _DELAY_MODES:
        raise ValueError(f"delayed: mode: expected one of {_DELAY_MODES}, got {mode!r}")
    if not 0 <= float(delay) <= max_delay and mode == "fixed":
        raise ValueError(f"delayed: delay: expected 0 <= delay <= max_delay={max_delay}, got {delay!r}")
    default, split = _merged_hparams(policy, "delayed", {"delay": float(delay)})
    N = max_delay + 1
    L = policy.len_list
    d = policy.context_dim
    act_shape = (N,) if L == 1 else (N, L)

    def init(key, hparams):
        k_inner, k_delay = jax.random.split(key)
        return DelayedState(
            inner=policy.init(k_inner, split(hparams)), ctx=jnp.zeros((N, d), dtype),
            act=jnp.zeros(act_shape, jnp.int32), rew=jnp.zeros(act_shape, dtype),
            due=jnp.full((N,), -1, jnp.int32), t=jnp.zeros((), jnp.int32), key=k_delay,
        )

    def select(key, state, context, mask, hparams):
        return policy.select(key, state.inner, context, mask, split(hparams))

    def draw_delay(state, hparams):
        mean = jnp.asarray(hparams.delay, jnp.float32)
        if mode == "fixed":
            dd = jnp.round(mean)
        elif mode == "uniform":
            u = jax.random.uniform(jax.random.fold_in(state.key, state.t), (), jnp.float32)
            dd = jnp.floor(u * (jnp.round(mean) + 1))
        else:
            u = jax.random.uniform(jax.random.fold_in(state.key, state.t), (), jnp.float32, minval=1e-12)
            p = 1.0 / (1.0 + mean)  # P(d = k) = p (1-p)^k has mean (1-p)/p = delay
            dd = jnp.where(mean > 0, jnp.floor(jnp.log(u) / jnp.log1p(-jnp.minimum(p, 1 - 1e-7))), 0.0)
        return jnp.clip(dd, 0, max_delay).astype(jnp.int32)

    def update(state, context, action, reward, hparams):
        h_in = split(hparams)
        t = state.t
        i = t % N
        ctx = state.ctx.at[i].set(jnp.asarray(context, dtype))
        act = state.act.at[i].set(jnp.asarray(action, jnp.int32))
        rew = state.rew.at[i].set(jnp.asarray(reward, dtype))
        due = state.due.at[i].set(t + draw_delay(state, hparams))

        def apply(inner, j):
            return jax.lax.cond(
                due[j] == t, lambda s: policy.update(s, ctx[j], act[j], rew[j], h_in), lambda s: s, inner
            )

        if mode == "fixed":
            j = (t - jnp.clip(jnp.round(jnp.asarray(hparams.delay)), 0, max_delay).astype(jnp.int32)) % N
            inner = apply(state.inner, j)
        else:
            # the due rows, oldest first: slot[k] is the ring index of the k-th arrival, n of them;
            # a while loop applies exactly those n (under vmap: as many as the member with most)
            order = (t + 1 + jnp.arange(N)) % N  # generation rounds t-D .. t, oldest first
            hit = due[order] == t
            rank = jnp.cumsum(hit) - 1
            slot = jnp.sum(jnp.where(hit[None, :] & (rank[None, :] == jnp.arange(N)[:, None]), order[None, :], 0),
                           axis=1)
            n = jnp.sum(hit)

            def body(c):
                k, s = c
                j = slot[k]
                return k + 1, policy.update(s, ctx[j], act[j], rew[j], h_in)

            _, inner = jax.lax.while_loop(lambda c: c[0] < n, body, (jnp.zeros((), jnp.int32), state.inner))
        return DelayedState(inner=inner, ctx=ctx, act=act, rew=rew, due=due, t=t + 1, key=state.key)

    return Policy(f"delayed({policy.name})", policy.num_actions, policy.context_dim, default, init, select,
                  update, L)


@register("batched", rules={"update_every": V.Interval(1.0)}, traits=("wrapper",))
def batched_policy(num_actions: int, context_dim: int, dtype=jnp.float32, base: str = "discounted_linucb",
                   update_every: int = 10, **base_kwargs) -> Policy:
    """Registry entry: ``batched(make(base, ...), update_every)`` (named ``"batched"``)."""
    inner = make(base, num_actions=num_actions, context_dim=context_dim, dtype=dtype, **base_kwargs)
    return batched(inner, update_every)._replace(name="batched")


@register("delayed", rules={"delay": V.NONNEGATIVE}, traits=("wrapper",))
def delayed_policy(num_actions: int, context_dim: int, dtype=jnp.float32, base: str = "discounted_linucb",
                   max_delay: int = 5, mode: str = "uniform", delay: float = 2.0, **base_kwargs) -> Policy:
    """Registry entry: ``delayed(make(base, ...), max_delay, mode, delay)`` (named ``"delayed"``)."""
    inner = make(base, num_actions=num_actions, context_dim=context_dim, dtype=dtype, **base_kwargs)
    return delayed(inner, max_delay=max_delay, mode=mode, delay=delay, dtype=dtype)._replace(name="delayed")
