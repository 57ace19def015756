"""Logged feedback at scale: run a logging policy in a world and stream its logs to parquet.

:func:`generate_logs` runs ``members`` independent copies of a logging policy side by side
(``jax.vmap`` over members of one ``lax.scan`` over rounds), ``chunk_rounds`` rounds per compiled
call, and writes each chunk to a parquet file in :class:`bandits.data.LoggedData`'s schema
(``context_0..d-1, action, reward, pscore[, position]``, one row per (impression, slot)) before
drawing the next, so memory is bounded by one chunk whatever the number of rows (10^4 to 10^7 and
beyond). ``action_context`` and the log's shape are stored in the file's metadata;
:func:`read_logs` reads everything back as ``LoggedData``.

Keys (common random numbers, as in :mod:`bandits.engine.rollout`): member ``m`` uses
``member_keys(fold_in(key, m))`` and round ``t`` ``fold_in(stream, t)``, so the rows do not depend
on ``chunk_rounds`` (tested bit for bit).

Propensities. ``pscore`` is the logging policy's probability of the logged action in its slot,
taken from ``Decision.probs`` of the very call that chose it. For single-slot policies the logged
action is drawn from ``probs`` itself (an extra uniform from the round's policy key), so ``pscore``
is exactly the probability with which the action was logged, for every policy, including Thompson
sampling, whose ``probs`` are a Monte Carlo estimate from a static number of draws (the logger is
then "sample from the estimated probabilities": a stochastic policy whose probabilities are known
exactly). Slate policies log their own slate; ``probs[action[l], l]`` is exact for slates with
closed-form marginals (uniform random, epsilon-greedy) and a Monte Carlo estimate for Thompson
slates (as in the Open Bandit Dataset's own BTS logs).

Learning. With ``learn=True`` every member updates its copy of the policy on its own feedback
(``members`` independent learners; a site's single shared learner is ``members=1``); with
``learn=False`` the logger stays at its initial state (e.g. Bernoulli TS frozen at the site prior).

:func:`train_on_logs` is the other direction: it feeds logged rows to a policy's ``update`` (an
offline warm start, one ``lax.scan``), so a policy can be frozen after learning from logs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, Policy
from bandits.core import sample_from_probs
from bandits.engine.rollout import (
    check_compatible,
    init_member,
    member_keys,
    resolve_env_params,
    round_inputs,
    scan_rounds,
    seed_key,
)
from bandits.validation import check_positive_int

__all__ = ["LogSummary", "generate_logs", "read_logs", "train_on_logs", "METADATA_KEY"]

METADATA_KEY = b"screentest.logs"


@dataclass
class LogSummary:
    """What :func:`generate_logs` wrote.

    path: the parquet file (None for in-memory logs). n_rows: rows written (impressions x slots).
    n_impressions: rounds played. len_list: slots per impression. n_actions: K. clicks: sum of
    rewards. expected_clicks: sum of the exact expected rewards of the logged slates (the world's
    truth for the logging policy). seconds: wall time. data: the :class:`bandits.data.LoggedData`
    when ``path`` is None.
    """

    path: str | None
    n_rows: int
    n_impressions: int
    len_list: int
    n_actions: int
    clicks: float
    expected_clicks: float
    seconds: float
    data: Any = None

    @property
    def value(self) -> float:
        """Exact expected reward per row of the logging policy over the logged rounds."""
        return self.expected_clicks / self.n_rows


def _make_chunk_fn(env: Env, policy: Policy, chunk_rounds: int, learn: bool, sample_single: bool):
    """jit(vmap over members) of ``chunk_rounds`` rounds from a carried state; returns per-round logs."""
    L = policy.len_list

    def one_member(carry, key, t0, hparams, params):
        keys = member_keys(key)

        def body(c, inp):
            pstate, estate, obs = c
            dec = policy.select(inp.k_pol, pstate, obs.context, obs.mask, hparams)
            if L == 1 and sample_single:
                action = sample_from_probs(jax.random.fold_in(inp.k_pol, 0x10C5), dec.probs)
                pscore = dec.probs[action]
            else:
                action = dec.action
                pscore = dec.probs[action] if L == 1 else dec.probs[action, jnp.arange(L)]
            if env.splits_step:
                st = env.step_drawn(inp.env_in, estate, action, params)
            else:
                st = env.step(inp.env_in, estate, action, params)
            if learn:
                pstate = policy.update(pstate, obs.context, action, st.reward, hparams)
            out = dict(context=obs.context, action=action, pscore=pscore, reward=st.reward,
                       expected_reward=st.expected_reward)
            return (pstate, st.state, st.obs), out

        ts_fn = lambda ts: round_inputs(env, keys, params, ts + t0)  # noqa: E731
        return scan_rounds(body, carry, chunk_rounds, ts_fn)

    def init(key, hparams, params):
        keys = member_keys(key)
        return init_member(env, policy, keys, hparams, params)

    vinit = jax.jit(jax.vmap(init, in_axes=(0, None, None)))
    vrun = jax.jit(jax.vmap(one_member, in_axes=(0, 0, None, None, None)))
    return vinit, vrun


def _validate_rows(n_rows) -> int:
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or int(n_rows) < 1:
        raise ValueError(f"n_rows: expected an integer >= 1, got {n_rows!r}")
    return int(n_rows)


def generate_logs(
    env: Env,
    policy: Policy,
    n_rows: int,
    path: str | Path | None = None,
    *,
    hparams: Any = None,
    seed: int = 0,
    members: int = 256,
    chunk_rounds: int = 256,
    learn: bool = True,
    sample_single: bool = True,
    context_cols: int | None = None,
    action_context: np.ndarray | None = None,
    env_params: Any = None,
    progress: Callable[[int, int], None] | None = None,
    compression: str = "zstd",
) -> LogSummary:
    """Run ``policy`` in ``env`` and log ``n_rows`` rows (module docstring).

    env, policy: an :class:`bandits.contracts.Env` and a matching :class:`bandits.contracts.Policy`
        (same ``num_actions`` and ``len_list``).
    n_rows: rows to log, >= 1; an impression fills ``len_list`` rows, so the count is rounded up to
        whole impressions (``n_impressions = ceil(n_rows / len_list)``).
    path: parquet file to write (parent folders are created); None keeps the logs in memory and
        returns them as ``LogSummary.data`` (small logs, tests).
    hparams: the logging policy's hyperparameters (None = defaults). seed: the run's key.
    members: parallel logging streams (independent copies of the policy); chunk_rounds: rounds per
        compiled call; a chunk holds ``members x chunk_rounds x len_list`` rows in memory.
    learn: update each member's policy on its feedback (False: a frozen logger).
    sample_single: single-slot policies log an action drawn from their ``probs`` (exact pscore).
    context_cols: write only the first ``context_cols`` context columns (e.g. drop an intercept the
        environment appends); None writes all.
    action_context: ``(K, p)`` item features stored with the logs (in the parquet metadata).
    progress: ``progress(rows_done, n_rows)`` after each chunk.

    Returns a :class:`LogSummary`. Rows are ordered by round, then member, then slot (each
    impression's ``len_list`` rows are consecutive, slot 0 first).
    """
    import time

    check_compatible(env, policy)
    n_rows = _validate_rows(n_rows)
    members = check_positive_int(members, "members")
    chunk_rounds = check_positive_int(chunk_rounds, "chunk_rounds")
    L = policy.len_list
    K = env.num_actions
    d_all = env.context_dim
    d = d_all if context_cols is None else int(context_cols)
    if not 0 <= d <= d_all:
        raise ValueError(f"context_cols: expected an integer in [0, {d_all}], got {context_cols!r}")
    if action_context is not None:
        action_context = np.asarray(action_context, np.float64)
        if action_context.ndim != 2 or action_context.shape[0] != K:
            raise ValueError(f"action_context: expected shape ({K}, p), got {action_context.shape}")
    if compression not in ("zstd", "snappy", "gzip", "none"):
        raise ValueError(f"compression: expected 'zstd', 'snappy', 'gzip' or 'none', got {compression!r}")
    hp = policy.default_hparams if hparams is None else hparams
    if isinstance(hp, dict):
        hp = policy.hparams(**hp)
    hp = jax.tree.map(jnp.asarray, hp)

    n_imp = math.ceil(n_rows / L)
    members = min(members, n_imp)
    rounds_total = math.ceil(n_imp / members)
    chunk_rounds = min(chunk_rounds, rounds_total)
    root = seed_key(int(seed))
    mkeys = jax.vmap(lambda m: jax.random.fold_in(root, m))(jnp.arange(members, dtype=jnp.uint32))
    params = resolve_env_params(env, env_params, member_keys(root).env_params)
    vinit, vrun = _make_chunk_fn(env, policy, chunk_rounds, learn, sample_single)
    carry = vinit(mkeys, hp, params)

    writer = None
    parts: list[dict[str, np.ndarray]] = []
    meta = {"n_actions": K, "len_list": L, "context_dim": d, "policy": policy.name, "env": env.name,
            "seed": int(seed), "members": members, "learn": bool(learn),
            "action_context": None if action_context is None else action_context.tolist()}
    if path is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = [pa.field(f"context_{j}", pa.float64()) for j in range(d)]
        fields += [pa.field("action", pa.int64()), pa.field("reward", pa.float64()), pa.field("pscore", pa.float64())]
        if L > 1:
            fields.append(pa.field("position", pa.int64()))
        schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})
        writer = pq.ParquetWriter(str(path), schema, compression=None if compression == "none" else compression)

    t0 = time.perf_counter()
    done_imp = 0
    clicks = 0.0
    exp_clicks = 0.0
    t = 0
    try:
        while done_imp < n_imp:
            carry, out = vrun(carry, mkeys, jnp.uint32(t), hp, params)
            t += chunk_rounds
            # (members, R, ...) -> round-major (R, members, ...)
            out = jax.tree.map(lambda a: np.swapaxes(np.asarray(a), 0, 1), out)
            take = min(n_imp - done_imp, chunk_rounds * members)
            ctx = out["context"].reshape(-1, d_all)[:take, :d].astype(np.float64)
            act = out["action"].reshape(-1, L)[:take]
            ps = out["pscore"].reshape(-1, L)[:take].astype(np.float64)
            rw = out["reward"].reshape(-1, L)[:take].astype(np.float64)
            ex = out["expected_reward"].reshape(-1)[:take].astype(np.float64)
            clicks += float(rw.sum())
            exp_clicks += float(ex.sum())
            cols = {f"context_{j}": np.repeat(ctx[:, j], L) for j in range(d)}
            cols.update(action=act.reshape(-1).astype(np.int64), reward=rw.reshape(-1), pscore=ps.reshape(-1))
            if L > 1:
                cols["position"] = np.tile(np.arange(L, dtype=np.int64), take)
            if writer is not None:
                import pyarrow as pa

                writer.write_table(pa.table(cols, schema=writer.schema))
            else:
                parts.append(cols)
            done_imp += take
            if progress is not None:
                progress(done_imp * L, n_imp * L)
    finally:
        if writer is not None:
            writer.close()
    data = None
    if path is None:
        from bandits.data import LoggedData

        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        ctx = np.stack([cat[f"context_{j}"] for j in range(d)], axis=1) if d else np.zeros((cat["action"].size, 0))
        data = LoggedData(context=ctx, action=cat["action"], reward=cat["reward"], pscore=cat["pscore"],
                          position=cat.get("position"), action_context=action_context, n_actions=K, len_list=L)
    return LogSummary(path=None if path is None else str(path), n_rows=n_imp * L, n_impressions=n_imp, len_list=L,
                      n_actions=K, clicks=clicks, expected_clicks=exp_clicks, seconds=time.perf_counter() - t0,
                      data=data)


def read_metadata(path: str | Path) -> dict:
    """The metadata :func:`generate_logs` stored in ``path`` (``n_actions, len_list, context_dim,
    action_context, policy, env, seed, ...``); ``{}`` for other parquet files."""
    import pyarrow.parquet as pq

    md = pq.read_schema(str(path)).metadata or {}
    raw = md.get(METADATA_KEY)
    return {} if raw is None else json.loads(raw)


def read_logs(path: str | Path) -> Any:
    """A parquet file written by :func:`generate_logs` as :class:`bandits.data.LoggedData`, with its
    ``action_context``, ``n_actions`` and ``len_list`` restored from the metadata."""
    from bandits.data import LoggedData

    meta = read_metadata(path)
    ac = meta.get("action_context")
    L = int(meta.get("len_list", 1))
    return LoggedData.from_parquet(
        path, position_col="position" if L > 1 else None,
        action_context=None if ac is None else np.asarray(ac, np.float64),
        n_actions=meta.get("n_actions"), len_list=L if L > 1 else None,
    )


def train_on_logs(policy: Policy, context: np.ndarray, action: np.ndarray, reward: np.ndarray, *,
                  hparams: Any = None, seed: int = 0, block: int = 65536) -> Any:
    """Feed logged rounds to ``policy.update`` in order (offline warm start); returns the state.

    context: ``(n, d)`` float with ``d = policy.context_dim`` (context-free policies: any ``d``).
    action, reward: ``(n,)`` for single-slot policies, ``(n, L)`` for slate policies (one row per
        impression, slot ``l`` in column ``l``).
    The state starts at ``policy.init(fold_in(key(seed), 0), hparams)``; rows are scanned in
    blocks of ``block`` rows (one compiled scan per block length: the full blocks share one, a
    shorter last block compiles its own), so device memory is bounded by a block.
    """
    hp = policy.default_hparams if hparams is None else hparams
    if isinstance(hp, dict):
        hp = policy.hparams(**hp)
    hp = jax.tree.map(jnp.asarray, hp)
    ctx = np.asarray(context)
    act = np.asarray(action)
    rew = np.asarray(reward)
    L = policy.len_list
    n = act.shape[0]
    want = (n,) if L == 1 else (n, L)
    if act.shape != want or rew.shape != want:
        raise ValueError(f"action, reward: expected shape {want} for policy {policy.name!r} (len_list {L}), "
                         f"got {act.shape} and {rew.shape}")
    if ctx.ndim != 2 or ctx.shape[0] != n:
        raise ValueError(f"context: expected shape ({n}, {policy.context_dim}), got {ctx.shape}")
    if policy.context_dim > 1 and ctx.shape[1] != policy.context_dim:
        raise ValueError(f"context: policy {policy.name!r} expects dimension {policy.context_dim}, got {ctx.shape[1]}")
    if policy.context_dim <= 1 and ctx.shape[1] != policy.context_dim:
        ctx = np.ones((n, max(policy.context_dim, 1)))
    block = check_positive_int(block, "block")
    state = policy.init(jax.random.fold_in(seed_key(int(seed)), 0), hp)
    dt = jnp.result_type(float)
    for i0 in range(0, n, int(block)):
        i1 = min(n, i0 + int(block))
        state = _train_fn(policy, i1 - i0)(state, jnp.asarray(ctx[i0:i1], dt), jnp.asarray(act[i0:i1], jnp.int32),
                                           jnp.asarray(rew[i0:i1], dt), hp)
    return state


_TRAIN_CACHE: dict[tuple, Any] = {}


def _train_fn(policy: Policy, block: int):
    ck = (id(policy.update), block)
    hit = _TRAIN_CACHE.get(ck)
    if hit is not None and hit[0] is policy.update:
        return hit[1]

    def run(state, ctx, act, rew, hp):
        def body(s, row):
            c, a, r = row
            return policy.update(s, c, a, r, hp), None

        return jax.lax.scan(body, state, (ctx, act, rew))[0]

    jf = jax.jit(run)
    if len(_TRAIN_CACHE) > 64:
        _TRAIN_CACHE.clear()
    _TRAIN_CACHE[ck] = (policy.update, jf)
    return jf
