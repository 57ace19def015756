"""From a screentest :class:`bandits.contracts.Policy` to obp's ``action_dist``.

One jitted, vmapped call of ``policy.select`` over a log's contexts, in fixed-size row blocks
(the last one padded), so a log of any length compiles once per (policy, block size, dtype).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bandits.caching import IdentityLRU
from bandits.contracts import Policy

DEFAULT_BLOCK = 8192


_SELECT_CACHE: IdentityLRU = IdentityLRU(maxsize=64)


def _batched_select(select: Any):
    """jit(vmap(select)) over rows; cached per select function (the policy's static config)."""

    def build():
        def one(key, state, context, mask, hparams, row):
            return select(jax.random.fold_in(key, row), state, context, mask, hparams).probs

        return jax.jit(jax.vmap(one, in_axes=(None, None, 0, 0, None, 0)))

    return _SELECT_CACHE.get(build, select)


def policy_action_dist(
    policy: Policy,
    state: Any,
    hparams: Any,
    context: Any,
    key: jax.Array,
    mask: Any = None,
    per_row: bool = True,
    block_size: int = DEFAULT_BLOCK,
) -> np.ndarray:
    """The evaluation policy's action distribution for every logged context.

    policy: a :class:`bandits.contracts.Policy` (``policy.select`` returns full probabilities).
    state: the policy state (e.g. after training on part of the log), shared by all rows (the
        policy is evaluated frozen, as obp does).
    hparams: the policy's hyperparameter NamedTuple (``policy.default_hparams`` or
        ``policy.hparams(alpha=...)``).
    context: ``(n_rounds, policy.context_dim)`` float.
    key: PRNG key; row ``i`` uses ``fold_in(key, i)`` (matters for Monte-Carlo policies such as
        Thompson sampling, whose probabilities are estimated from draws).
    mask: None (all actions available), ``(n_actions,)`` or ``(n_rounds, n_actions)`` bool.
    per_row: False evaluates row 0 only and broadcasts it (for context-free policies, e.g. a
        Bernoulli TS with 100,000 Monte-Carlo draws); the result is then a read-only broadcast view.
    block_size: rows per jitted call.

    Returns ``action_dist`` ``(n_rounds, n_actions, len_list)`` float64, each ``[i, :, k]``
    renormalised to sum to exactly 1 (policies compute in float32).
    Raises ValueError when the context's dimension differs from ``policy.context_dim``.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    ctx = np.asarray(context)
    if ctx.ndim == 1:
        ctx = ctx[:, None]
    if ctx.ndim != 2:
        raise ValueError(f"context: expected shape (n_rounds, {policy.context_dim}), got shape {ctx.shape}")
    if ctx.shape[1] != policy.context_dim:
        raise ValueError(
            f"context: policy {policy.name!r} expects context dimension {policy.context_dim} "
            f"(policy.context_dim), got context of shape {ctx.shape} (dimension {ctx.shape[1]}); "
            "build the policy with context_dim equal to the log's context width, or select matching columns"
        )
    n, K, L = ctx.shape[0], policy.num_actions, policy.len_list
    if n == 0:
        raise ValueError("context: expected at least one row, got 0")
    if mask is None:
        m = np.ones((1, K), dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"mask: expected a bool array, got dtype {m.dtype}")
        if m.shape == (K,):
            m = m[None, :]
        elif m.shape != (n, K):
            raise ValueError(f"mask: expected shape ({K},) or ({n}, {K}), got shape {m.shape}")
        if not m.any(axis=1).all():
            raise ValueError("mask: expected at least one available action in every row, got a row with none")
    if not per_row:
        ctx = ctx[:1]
        m = m[:1]
    rows = ctx.shape[0]
    bs = int(min(block_size, rows))
    fn = _batched_select(policy.select)
    dtype = jnp.result_type(float)  # float32 unless x64 is enabled
    out = np.empty((rows, K, L), dtype=np.float64)
    for i0 in range(0, rows, bs):
        i1 = min(rows, i0 + bs)
        c = np.zeros((bs, ctx.shape[1]), dtype=np.float64)
        c[: i1 - i0] = ctx[i0:i1]
        mk = np.ones((bs, K), dtype=bool)
        mk[: i1 - i0] = m[i0:i1] if m.shape[0] > 1 else m[0]
        probs = fn(key, state, jnp.asarray(c, dtype), jnp.asarray(mk), hparams,
                   jnp.arange(i0, i0 + bs, dtype=jnp.int32))
        p = np.asarray(probs, dtype=np.float64)[: i1 - i0].reshape(i1 - i0, K, L)
        out[i0:i1] = p
    s = out.sum(axis=1, keepdims=True)
    if not np.all(s > 0):
        raise ValueError("policy: select returned an all-zero probability vector")
    out /= s
    if not per_row:
        return np.broadcast_to(out, (n, K, L))
    return out
