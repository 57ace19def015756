"""Replay a learning policy through uniformly logged data (Li, Chu, Langford, Wang, WSDM 2011).

Walk through the rows in order; show the row's context to the policy; if the policy chooses the
logged action, the round counts (the policy sees the logged reward and learns from it), otherwise
the row is skipped and the policy's state does not change. With a uniform logger each matched round
is distributed exactly as a round of the policy run live (contexts i.i.d.), so the mean reward over
the ``n_matched`` rounds estimates the policy's online average reward over about ``n / K`` rounds.

:func:`replay_evaluate` is one jitted ``lax.scan`` over the log. Round keys are
``fold_in(round_key, i)`` for row ``i``; the policy's mask is all-True (the log does not record
availability). Single-action policies only (``len_list = 1``); rows with a ``position`` (e.g.
OBD's three slots) are used as single-action rounds, position ignored. The estimator for a fixed
policy's action distribution is :func:`bandits.estimators.replay.replay_estimator`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.caching import IdentityLRU
from bandits.contracts import Policy
from bandits.estimators.replay import check_uniform_logger, require_logged

Array = jax.Array


class ReplayResult(NamedTuple):
    """Result of :func:`replay_evaluate`.

    value: mean reward over matched rounds (float; NaN if nothing matched).
    n_matched: number of rows where the policy chose the logged action (int).
    se: ``std(matched rewards) / sqrt(n_matched)`` (float; treats the matched rewards as
        independent, which holds exactly for a fixed policy and approximately for a learner).
    n_rounds: rows replayed (int).
    matched: ``(n,)`` bool, which rows counted.
    chosen: ``(n,)`` int64, the policy's choice on each row.
    """

    value: float
    n_matched: int
    se: float
    n_rounds: int
    matched: np.ndarray
    chosen: np.ndarray


_SCAN_CACHE: IdentityLRU = IdentityLRU(maxsize=32)


def _replay_scan(policy: Policy, dtype) -> Any:
    """Jitted ``(key, hparams, ctx, act, rew) -> (matched (n,), chosen (n,))`` for ``policy``,
    cached by the policy's identity and the dtype."""

    def build():
        mask = jnp.ones((policy.num_actions,), bool)

        def run(key, hparams, ctx, act, rew):
            k_init, k_round = jax.random.split(key)
            state = policy.init(k_init, hparams)

            def body(state, row):
                i, x, a, r = row
                dec = policy.select(jax.random.fold_in(k_round, i), state, x, mask, hparams)
                hit = dec.action == a
                new = policy.update(state, x, dec.action, r, hparams)
                state = jax.tree.map(lambda n_, o_: jnp.where(hit, n_, o_), new, state)
                return state, (hit, dec.action)

            idx = jnp.arange(act.shape[0], dtype=jnp.uint32)
            _, (matched, chosen) = jax.lax.scan(body, state, (idx, ctx, act, rew))
            return matched, chosen

        return jax.jit(run)

    return _SCAN_CACHE.get(build, policy, key=jnp.dtype(dtype).name)


def replay_evaluate(
    policy: Policy,
    data: Any,
    key: Any = 0,
    hparams: Any = None,
    *,
    check_uniform: bool = True,
    dtype=jnp.float32,
) -> ReplayResult:
    """Replay ``policy`` through uniformly logged ``data`` (Li et al. 2011), one ``lax.scan``.

    policy: a single-action :class:`bandits.contracts.Policy` with ``num_actions == data.n_actions``
        and ``context_dim == data.context.shape[1]`` (context-free policies with
        ``context_dim <= 1`` accept any context width).
    data: :class:`bandits.data.LoggedData` (context ``(n, d)``, action, reward, pscore ``(n,)``).
    key: PRNG key or int seed; hparams: the policy's hparams (None: defaults; a dict: overrides).
    check_uniform: refuse logs whose pscore is not ``1 / n_actions`` everywhere (default True).
    dtype: float dtype of contexts and rewards fed to the policy.

    Rows are replayed in stored order (sort by timestamp first if it matters). The policy learns
    only from matched rows. Returns :class:`ReplayResult`.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    data = require_logged(data)
    ctx, act, rew, ps, k = data.context, data.action, data.reward, data.pscore, data.n_actions
    if policy.len_list != 1:
        raise ValueError(
            f"policy: replay_evaluate runs single-action policies (len_list=1), got {policy.name!r} with "
            f"len_list={policy.len_list}; evaluate slate policies with replay_estimator on their action_dist"
        )
    if policy.num_actions != k:
        raise ValueError(f"policy: num_actions={policy.num_actions} does not match data.n_actions={k}")
    if policy.context_dim > 1 and policy.context_dim != ctx.shape[1]:
        raise ValueError(
            f"policy: context_dim={policy.context_dim} does not match data.context of width {ctx.shape[1]}"
        )
    if check_uniform:
        check_uniform_logger(ps, k)
    if hparams is None:
        hparams = policy.default_hparams
    elif isinstance(hparams, dict):
        hparams = policy.hparams(**hparams)
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(int(key))
    hp = jax.tree.map(jnp.asarray, hparams)
    fn = _replay_scan(policy, dtype)
    matched, chosen = fn(
        key, hp, jnp.asarray(ctx, dtype), jnp.asarray(act, jnp.int32), jnp.asarray(rew, dtype)
    )
    matched = np.asarray(matched, bool)
    chosen = np.asarray(chosen, np.int64)
    m = int(matched.sum())
    r = rew[matched]
    value = float(r.mean()) if m else float("nan")
    se = float(r.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan")
    return ReplayResult(value, m, se, int(act.shape[0]), matched, chosen)
