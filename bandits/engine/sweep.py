"""Sweeps: many seeds x a hyperparameter grid x several policies, one compiled call per policy.

``sweep(env, policies, seeds, grid, horizon)`` returns a tidy :class:`pandas.DataFrame` with one
row per (policy, hyperparameter combination, seed).

How it runs
-----------
* **Members.** For each policy the grid (a cartesian product, or an explicit list) and the seeds
  are flattened into members ``(hparams_g, seed_s)``; every member's hyperparameters are passed as
  traced per-member values, so the whole grid uses ONE compiled program per policy.
* **One scan per member, reduced in the scan.** Each member is :func:`bandits.engine.rollout` 's round
  body inside one ``lax.scan``, but the scan carries only the running sums (cumulative reward and
  cumulative regret, Kahan-compensated) and the cumulative regret at the checkpoints: no per-round
  array is ever stored, so memory is ``O(chunk x state)`` whatever the horizon or number of seeds.
* **Chunks.** Members are processed ``chunk_size`` per device per call. The last chunk is padded
  (padding members are computed and dropped), so every call runs the SAME compiled shape: a
  seed's numbers never depend on how many other seeds are in the sweep or where it sits. A
  chunk's members (grid point, seed) are computed from their positions, and a seed count or range
  is never materialised, so planning costs O(chunk) memory whatever the number of seeds;
  :func:`sweep_chunks` yields the results chunk by chunk for sweeps whose table would not fit.
* **Devices.** The member axis of a chunk is sharded over all local JAX devices with
  ``jax.shard_map``; each device runs the very same per-device program (``chunk_size`` members),
  so a sharded sweep is bit-identical to an unsharded one.
* **Common random numbers.** A member's key is ``jax.random.key(seed)``; environment and policy
  key streams are separate (:func:`bandits.engine.rollout.member_keys`), so every policy and every
  hyperparameter value meets the same members (contexts, reward noise, random world) for a
  given seed.

DataFrame columns
-----------------
``policy`` (label), one column per hyperparameter (float; the union over policies, NaN where a
policy lacks it), ``seed`` (int64), ``cum_reward``, ``cum_regret`` (float64 copies of the float
accumulators), ``regret@<t>`` for each checkpoint ``t`` (cumulative regret after ``t`` rounds),
``horizon``, ``env``.

A member whose policy state holds a NaN at the end of its run has diverged (a learning rate too
large, a degenerate hyperparameter): from the round it happened its scores were NaN and its
actions arbitrary (the last item, or uniform), so its ``cum_reward``, ``cum_regret`` and
``regret@`` values are set to NaN and one ``RuntimeWarning`` per policy label names how many
members and which grid points. The check reads the final state once per member.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bandits.caching import IdentityLRU
from bandits.contracts import Env, Policy
from bandits.engine.rollout import (
    DEFAULT_BLOCK,
    check_compatible,
    check_horizon,
    check_hparams,
    init_member,
    member_keys,
    resolve_env_params,
    round_body,
    round_inputs,
    scan_rounds,
    seed_key,
)
from bandits.validation import check_positive_int

AXIS = "members"


# --------------------------------------------------------------------------- argument handling


def log_checkpoints(horizon: int, start: int = 10) -> list[int]:
    """Log-spaced checkpoints: the 1-2-5 series from ``start`` up to ``horizon``, plus ``horizon``.

    ``log_checkpoints(10_000) == [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]``.
    """
    out: list[int] = []
    decade = 1
    while decade <= horizon:
        for m in (1, 2, 5):
            t = m * decade
            if start <= t <= horizon:
                out.append(t)
        decade *= 10
    if not out or out[-1] != horizon:
        out.append(horizon)
    return out


def _resolve_checkpoints(checkpoints, horizon: int) -> list[int]:
    if checkpoints is None:
        return [horizon]
    if isinstance(checkpoints, str):
        if checkpoints != "log":
            raise ValueError(f"checkpoints: expected 'log', None or a sequence of ints, got {checkpoints!r}")
        return log_checkpoints(horizon)
    cps = sorted({int(c) for c in checkpoints})
    bad = [c for c in cps if not 1 <= c <= horizon]
    if bad:
        raise ValueError(f"checkpoints: expected round counts in [1, horizon={horizon}], got {bad}")
    return cps


def _resolve_policies(policies) -> dict[str, Policy]:
    if isinstance(policies, Policy):
        return {policies.name: policies}
    if isinstance(policies, Mapping):
        out = dict(policies)
    elif isinstance(policies, Sequence) and not isinstance(policies, str):
        out = {}
        for p in policies:
            if not isinstance(p, Policy):
                raise TypeError(f"policies: expected Policy objects, got {type(p).__name__}")
            if p.name in out:
                raise ValueError(f"policies: two policies named {p.name!r}; pass a dict label -> Policy")
            out[p.name] = p
    else:
        raise TypeError(f"policies: expected a Policy, a sequence of Policy or a dict label -> Policy, "
                        f"got {type(policies).__name__}")
    if not out:
        raise ValueError("policies: expected at least one policy, got none")
    for label, p in out.items():
        if not isinstance(p, Policy):
            raise TypeError(f"policies[{label!r}]: expected a bandits.contracts.Policy, got {type(p).__name__}")
    return out


class Seeds(NamedTuple):
    """The seeds of a sweep without materialising them: ``range(start, start + count)`` when
    ``arr`` is None (a count or a ``range`` of step 1), else the explicit ``(count,)`` int64 array."""

    count: int
    start: int = 0
    arr: np.ndarray | None = None

    def at(self, idx: np.ndarray) -> np.ndarray:
        """The seeds at positions ``idx`` (int64 array) -> int64 array."""
        if self.arr is None:
            return self.start + np.asarray(idx, np.int64)
        return self.arr[idx]


def _resolve_seeds(seeds) -> Seeds:
    """A count ``n`` (seeds ``0..n-1``), a ``range`` of step 1, or a sequence of distinct ints in
    ``[0, 2**32)``. Counts and ranges stay lazy: memory does not grow with the number of seeds."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if int(seeds) < 1:
            raise ValueError(f"seeds: expected a count >= 1 or a sequence of seeds, got {seeds!r}")
        if int(seeds) > 2**32:
            raise ValueError(f"seeds: expected at most 2**32 seeds (seeds are uint32), got {seeds!r}")
        return Seeds(int(seeds))
    if isinstance(seeds, range):
        if len(seeds) == 0 or seeds.step != 1:
            raise ValueError(f"seeds: expected a non-empty range with step 1, got {seeds!r}")
        if seeds.start < 0 or seeds.stop > 2**32:
            raise ValueError(f"seeds: expected integers in [0, 2**32), got {seeds!r}")
        return Seeds(len(seeds), seeds.start)
    arr = np.asarray(seeds)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"seeds: expected a non-empty 1-D sequence of integers, got {arr.dtype} shape {arr.shape}")
    if arr.min() < 0 or arr.max() >= 2**32:
        raise ValueError(f"seeds: expected integers in [0, 2**32), got range [{arr.min()}, {arr.max()}]")
    if len(np.unique(arr)) != len(arr):
        raise ValueError("seeds: expected distinct seeds, got duplicates")
    return Seeds(int(arr.size), 0, arr.astype(np.int64))


def expand_grid(policy: Policy, spec) -> list[Any]:
    """The list of hparams NamedTuples for one policy.

    spec: None (defaults only), a dict ``{name: value or sequence of values}`` (cartesian
    product, in the order given), or a sequence of dicts (explicit combinations). Unknown names
    raise ``TypeError`` naming the policy and its hyperparameters.
    """
    if spec is None:
        return [policy.default_hparams]
    if isinstance(spec, Mapping):
        names = list(spec)
        values = []
        for n in names:
            v = spec[n]
            if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
                v = [v]
            v = list(v)
            if not v:
                raise ValueError(f"grid[{policy.name!r}][{n!r}]: expected at least one value, got none")
            values.append(v)
        combos = [dict(zip(names, vs, strict=True)) for vs in itertools.product(*values)]
    elif isinstance(spec, Sequence):
        combos = [dict(c) for c in spec]
        if not combos:
            raise ValueError(f"grid[{policy.name!r}]: expected at least one combination, got an empty list")
    else:
        raise TypeError(f"grid[{policy.name!r}]: expected a dict of value lists or a list of dicts, "
                        f"got {type(spec).__name__}")
    return [policy.hparams(**c) for c in combos]


def _stack_hparams(hps: list[Any]):
    """List of hparams NamedTuples -> one NamedTuple of ``(G,)`` numpy arrays (dtype per field)."""
    cls = type(hps[0])
    cols = {}
    for f in cls._fields:
        vals = [getattr(h, f) for h in hps]
        probe = np.asarray(vals[0])
        if probe.dtype == np.bool_:
            dt = np.bool_
        elif np.issubdtype(probe.dtype, np.integer):
            dt = np.int32
        else:
            dt = np.dtype(jnp.zeros((), float).dtype)  # float32, or float64 under jax_enable_x64
        cols[f] = np.asarray([np.asarray(v) for v in vals], dtype=dt)
    return cls(**cols)


# --------------------------------------------------------------------------- the compiled chunk


_CHUNK_CACHE: IdentityLRU = IdentityLRU(maxsize=64)


def _member_summary(env: Env, policy: Policy, horizon: int, ckpts: tuple[int, ...], unroll: int,
                    prng_impl, env_params_fn, block: int = DEFAULT_BLOCK):
    """``(seed uint32, hparams, env_params) -> (cum_reward, cum_regret, regret_at (C,), nan_state)`` for ONE
    member; ``nan_state``: the final policy state holds a NaN (the policy diverged)."""
    ck = np.asarray(ckpts, np.uint32)

    def member(seed, hparams, env_params):
        keys = member_keys(seed_key(seed, prng_impl))
        params = resolve_env_params(env, env_params_fn if env_params_fn is not None else env_params,
                                    keys.env_params)
        inner = init_member(env, policy, keys, hparams, params)
        play = round_body(env, policy, hparams, params)
        def inputs(ts):
            return round_inputs(env, keys, params, ts)

        def first_round(c):
            return play(c, jax.tree.map(lambda a: a[0], inputs(jnp.zeros(1, jnp.uint32))))[1]

        shapes = jax.eval_shape(first_round, inner)
        rdt = jnp.result_type(shapes["reward"].dtype, shapes["regret"].dtype)
        z = jnp.zeros((), rdt)
        cps = jnp.asarray(ck)

        def body(c, inp):
            inner, sr, cr, sg, cg, at = c
            t = inp.t
            inner, out = play(inner, inp)
            # Kahan-compensated running sums (float32 over 10^6 rounds stays accurate)
            y = out["reward"].astype(rdt) - cr
            s = sr + y
            cr = (s - sr) - y
            sr = s
            y = out["regret"].astype(rdt) - cg
            s = sg + y
            cg = (s - sg) - y
            sg = s
            at = jnp.where(cps == t + 1, sg, at)
            return (inner, sr, cr, sg, cg, at), None

        # inputs are made a block at a time (memory O(block), independent of the horizon)
        init = (inner, z, z, z, z, jnp.zeros((len(ckpts),), rdt))
        (final, sr, _, sg, _, at), _ = scan_rounds(body, init, horizon, inputs, block, unroll)
        floats = [leaf for leaf in jax.tree.leaves(final[0])
                  if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact)]
        nan_state = jnp.any(jnp.stack([jnp.any(jnp.isnan(leaf)) for leaf in floats])) if floats else jnp.bool_(False)
        return sr, sg, at, nan_state

    return member


def _compiled_chunk(env, policy, horizon, ckpts, chunk_size, devices, unroll, prng_impl, env_params_fn,
                    block: int = DEFAULT_BLOCK):
    """``(jitted chunk function, mesh)``: the members of one chunk, vmapped per device and sharded
    over ``devices``; cached by the identity of env, policy and env_params_fn."""

    def build():
        member = _member_summary(env, policy, horizon, ckpts, unroll, prng_impl, env_params_fn, block)
        per_device = jax.vmap(member, in_axes=(0, 0, None))
        mesh = Mesh(np.asarray(devices), (AXIS,))
        spec = PartitionSpec(AXIS)
        fn = jax.shard_map(per_device, mesh=mesh, in_specs=(spec, spec, PartitionSpec()),
                           out_specs=(spec, spec, spec, spec), check_vma=False)
        return jax.jit(fn), mesh

    key = (horizon, ckpts, chunk_size, tuple(d.id for d in devices), unroll, str(prng_impl), block)
    return _CHUNK_CACHE.get(build, env, policy, env_params_fn, key=key)


class CompileStats(NamedTuple):
    """Time spent compiling a chunk: wall and process-CPU seconds (both 0.0 on a cache hit)."""

    wall_s: float
    cpu_s: float


LAPACK_IN_ROUND = (
    "sweep: the policy or environment calls a LAPACK kernel (jnp.linalg / jax.scipy.linalg) inside a round; "
    "jaxlib's CPU LAPACK kernels block XLA's intra-op pool threads while they split a batch over the same "
    "pool, and with several running at once the sweep can hang at 0% CPU. Use the loops in "
    "bandits.policies._linalg (cholesky, cho_solve, spd_solve) instead.")


_EXEC_CACHE: IdentityLRU = IdentityLRU(maxsize=64)


def _executable(jf, per_call: int, m_hp, env_arg, sharding) -> tuple[Any, CompileStats]:
    """AOT-compile the chunk function for its (fixed) argument shapes: ``(executable, CompileStats)``.

    Cached per jitted function and argument signature, so only the first sweep of a
    configuration pays the compile (reported as ``df.attrs["compile_s"]`` and
    ``df.attrs["compile_cpu_s"]``, excluded from progress).
    """
    seeds_aval = jax.ShapeDtypeStruct((per_call,), jnp.uint32, sharding=sharding)
    hp_aval = jax.tree.map(lambda c: jax.ShapeDtypeStruct((per_call,), c.dtype, sharding=sharding), m_hp)
    env_aval = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), env_arg)
    sig = (per_call, jax.tree.structure(m_hp), tuple(np.dtype(c.dtype).str for c in m_hp),
           jax.tree.structure(env_arg), tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(env_arg)))
    stats = CompileStats(0.0, 0.0)

    def build():
        nonlocal stats
        t0, c0 = time.perf_counter(), time.process_time()
        lowered = jf.lower(seeds_aval, hp_aval, env_aval)
        if "lapack_" in lowered.as_text():
            warnings.warn(LAPACK_IN_ROUND, RuntimeWarning, stacklevel=4)
        exe = lowered.compile()
        stats = CompileStats(time.perf_counter() - t0, time.process_time() - c0)
        return exe

    exe = _EXEC_CACHE.get(build, jf, key=sig)
    return exe, stats


# --------------------------------------------------------------------------- public entry points


# Members per device per call: as many as keep the chunk's policy states within this many bytes
# (the states are read and written every round; measured in docs/policies.md: chunks whose states
# stay in cache beat one large chunk streaming its states from memory).
CHUNK_STATE_BYTES = 8 << 20
CHUNK_MIN, CHUNK_MAX = 8, 1024


def auto_chunk_size(policy: Policy, n_members: int, n_devices: int = 1,
                    state_bytes: int = CHUNK_STATE_BYTES) -> int:
    """Chunk size for ``chunk_size="auto"``: members per device whose policy states fill
    ``state_bytes``, a power of two in ``[CHUNK_MIN, CHUNK_MAX]``, and never more than the members
    each device has (no padding beyond one chunk)."""
    shapes = jax.eval_shape(lambda: policy.init(jax.random.key(0), policy.default_hparams))
    per_member = max(1, sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes)
                            if hasattr(x, "dtype") and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)))
    fit = max(CHUNK_MIN, min(CHUNK_MAX, 1 << int(math.log2(max(1, state_bytes // per_member)))))
    return int(max(1, min(fit, math.ceil(n_members / max(1, n_devices)))))


def count_rounds(policies, seeds, grid=None, horizon: int = 1000) -> int:
    """Total member-rounds a :func:`sweep` call will simulate (for a progress bar's total)."""
    pols = _resolve_policies(policies)
    n_seeds = _resolve_seeds(seeds).count
    grid = grid or {}
    return sum(len(expand_grid(p, grid.get(label))) for label, p in pols.items()) * n_seeds * int(horizon)


def _check_args(env, policies, seeds, grid, horizon, checkpoints, chunk_size, progress, unroll, block):
    if not isinstance(env, Env):
        raise TypeError(f"env: expected an bandits.contracts.Env, got {type(env).__name__}")
    pols = _resolve_policies(policies)
    seeds_ = _resolve_seeds(seeds)
    horizon = check_horizon(horizon)
    ckpts = tuple(_resolve_checkpoints(checkpoints, horizon))
    auto = isinstance(chunk_size, str) and chunk_size == "auto"
    if not auto and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size: expected an integer >= 1 or 'auto', got {chunk_size!r}")
    if isinstance(unroll, bool) or not isinstance(unroll, (int, np.integer)) or unroll < 1:
        raise ValueError(f"unroll: expected an integer >= 1, got {unroll!r}")
    block = check_positive_int(block, "block")
    grid = dict(grid or {})
    unknown = sorted(set(grid) - set(pols))
    if unknown:
        raise ValueError(f"grid: keys {unknown} are not policy labels; expected some of {sorted(pols)}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable (rounds, seconds) or None, got {type(progress).__name__}")
    return pols, seeds_, horizon, ckpts, grid, block


def sweep_chunks(env: Env, policies, seeds, grid: Mapping[str, Any] | None = None, horizon: int = 1000, *,
                 env_params=None, checkpoints="log", chunk_size: int | str = "auto", progress: Callable | None = None,
                 devices: Sequence[Any] | None = None, unroll: int = 1, prng_impl="threefry_fused",
                 block: int = DEFAULT_BLOCK) -> Iterator[pd.DataFrame]:
    """:func:`sweep` as a stream: one DataFrame per compiled call, planned lazily.

    Same arguments as :func:`sweep`. Each yielded frame holds the rows of one chunk (at most
    ``chunk_size x devices`` members of one policy): ``policy``, that policy's hyperparameter
    columns, ``seed``, ``cum_reward``, ``cum_regret``, ``regret@<t>``, ``horizon``, ``env``;
    ``attrs["compile_s"]`` / ``attrs["compile_cpu_s"]`` / ``attrs["chunk_size"]`` on a policy's
    first chunk. Members (grid
    point x seed) are computed from their position, so memory is ``O(chunk)`` whatever the number
    of seeds (``seeds=10**9`` plans nothing up front): reduce the frames as they come.
    """
    pols, seeds_, horizon, ckpts, grid, block = _check_args(env, policies, seeds, grid, horizon, checkpoints,
                                                           chunk_size, progress, unroll, block)
    devices = list(jax.local_devices() if devices is None else devices)
    auto = isinstance(chunk_size, str)
    params_fn = env_params if callable(env_params) else None
    shared_params = None if callable(env_params) else resolve_env_params(env, env_params, None)
    for label, policy in pols.items():
        check_compatible(env, policy)
        hps = expand_grid(policy, grid.get(label))
        stacked = _stack_hparams(hps)
        check_hparams(policy, stacked)
        fields = type(hps[0])._fields
        given = {f: np.asarray([float(getattr(h, f)) for h in hps], np.float64) for f in fields}
        S = seeds_.count
        M = len(hps) * S

        chunk = auto_chunk_size(policy, M, len(devices)) if auto else int(chunk_size)
        per_call = chunk * len(devices)
        jf, mesh = _compiled_chunk(env, policy, horizon, ckpts, chunk, devices, int(unroll),
                                   prng_impl, params_fn, block)
        sharding = NamedSharding(mesh, PartitionSpec(AXIS))
        rep = NamedSharding(mesh, PartitionSpec())
        env_arg = jax.device_put(shared_params, rep)  # None (no params, or a per-member callable) is fine
        compiled, stats = _executable(jf, per_call, stacked, env_arg, sharding)
        n_nan, nan_points = 0, []
        for lo in range(0, M, per_call):
            hi = min(lo + per_call, M)
            idx = np.arange(lo, lo + per_call, dtype=np.int64)
            idx = np.where(idx < hi, idx, lo)  # pad with the chunk's first member (dropped below)
            g_idx, s_pos = np.divmod(idx, S)
            m_seed = seeds_.at(s_pos)
            s_chunk = jax.device_put(m_seed.astype(np.uint32), sharding)
            h_chunk = jax.device_put(type(stacked)(*[np.asarray(col)[g_idx] for col in stacked]), sharding)
            t0 = time.perf_counter()
            out = jax.block_until_ready(compiled(s_chunk, h_chunk, env_arg))
            seconds = time.perf_counter() - t0
            n = hi - lo
            if progress is not None:
                progress(n * horizon, seconds)
            df = pd.DataFrame({"policy": np.repeat(label, n)})
            for f in fields:  # the values as given (not their float32 round trip)
                df[f] = given[f][g_idx[:n]]
            df["seed"] = m_seed[:n]
            nan_state = np.asarray(out[3], bool)[:n]
            # a diverged member's numbers are not results: NaN, and named in a warning below
            df["cum_reward"] = np.where(nan_state, np.nan, np.asarray(out[0], np.float64)[:n])
            df["cum_regret"] = np.where(nan_state, np.nan, np.asarray(out[1], np.float64)[:n])
            at = np.where(nan_state[:, None], np.nan, np.asarray(out[2], np.float64)[:n])
            for j, t in enumerate(ckpts):
                df[f"regret@{t}"] = at[:, j]
            df["horizon"] = horizon
            df["env"] = env.name
            if nan_state.any():
                n_nan += int(nan_state.sum())
                for g in np.unique(g_idx[:n][nan_state]):
                    if g not in nan_points:
                        nan_points.append(int(g))
            if lo == 0:
                df.attrs["compile_s"], df.attrs["compile_cpu_s"] = stats.wall_s, stats.cpu_s
                df.attrs["chunk_size"] = chunk
            yield df
        if n_nan:
            warnings.warn(_diverged_message(label, n_nan, M, [hps[g] for g in nan_points]), RuntimeWarning,
                          stacklevel=2)


def _diverged_message(label: str, n_nan: int, n_members: int, points: list) -> str:
    """One line: how many members of policy ``label`` diverged, and at which grid points."""
    shown = "; ".join(", ".join(f"{f}={float(getattr(h, f)):g}" for f in type(h)._fields) for h in points[:3])
    more = f" and {len(points) - 3} more" if len(points) > 3 else ""
    return (f"sweep: policy {label!r}: the policy state of {n_nan} of {n_members} members became NaN (the policy "
            f"diverged; grid point(s): {shown}{more}); their cum_reward, cum_regret and regret@ values are NaN")


def _table_bytes(n_rows: int, n_cols: int) -> int:
    return int(n_rows) * (int(n_cols) * 8 + 64)  # float64 columns plus the label column's overhead


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def sweep(env: Env, policies, seeds, grid: Mapping[str, Any] | None = None, horizon: int = 1000, *,
          env_params=None, checkpoints="log", chunk_size: int | str = "auto", progress: Callable | None = None,
          devices: Sequence[Any] | None = None, unroll: int = 1, prng_impl="threefry_fused",
          block: int = DEFAULT_BLOCK) -> pd.DataFrame:
    """Simulate every (policy, hyperparameters, seed) for ``horizon`` rounds; tidy results.

    env: an :class:`bandits.contracts.Env`.
    policies: a Policy, a sequence of Policy (labelled by ``name``) or a dict label -> Policy.
    seeds: a count n (seeds ``0..n-1``), a ``range`` of step 1, or a sequence of distinct ints in
        ``[0, 2**32)``; counts and ranges are never materialised.
    grid: dict label -> grid spec (see :func:`expand_grid`); policies without an entry run
        their default hyperparameters.
    horizon: rounds per member (static).
    env_params: None (``env.default_params`` for everyone), a params pytree (shared), or a
        callable ``key -> params`` (a random world per seed, from the member's env_params stream;
        e.g. ``lambda k: envs.synthetic.sample_params(env, k)``).
    checkpoints: ``"log"`` (:func:`log_checkpoints`), None (horizon only) or round counts.
    chunk_size: members per device per compiled call (memory bound and the unit of
        determinism: results are bit-identical for a fixed ``chunk_size``), or ``"auto"``
        (:func:`auto_chunk_size`: sized so the chunk's policy states stay in cache; the sizes
        used are in ``df.attrs["chunk_size"]``, one per policy label).
    progress: ``progress(rounds, seconds)`` after each chunk: member-rounds simulated in the
        chunk (padding excluded) and the chunk's wall time.
    devices: devices to shard over (default ``jax.local_devices()``).
    unroll: ``lax.scan`` unroll factor.
    block: rounds whose keys and exogenous environment draws are computed at once
        (:func:`bandits.engine.rollout.scan_rounds`; speed only, results identical).
    prng_impl: key impl, default ``"threefry_fused"`` (:mod:`bandits.engine.prng`: the same streams as
        JAX's default threefry, fused for speed); None, ``"rbg"``, ... pass through to JAX.

    Returns a DataFrame (columns in the module docstring), rows ordered by policy, grid point,
    seed. Memory: O(chunk_size x (policy state + checkpoints)) per device plus the returned table;
    a table that would not fit in half the machine's memory is refused before any work, with a
    pointer to :func:`sweep_chunks`, which streams it.
    """
    pols, seeds_, horizon, ckpts, grid, block = _check_args(env, policies, seeds, grid, horizon, checkpoints,
                                                           chunk_size, progress, unroll, block)
    n_rows = n_cols = 0
    chunks_used: dict[str, int] = {}
    for label, policy in pols.items():
        hps = expand_grid(policy, grid.get(label))
        n_rows += len(hps) * seeds_.count
        n_cols = max(n_cols, len(type(hps[0])._fields) + 4 + len(ckpts))
    mem = _memory_bytes()
    need = _table_bytes(n_rows, n_cols)
    if mem is not None and need > mem // 2:
        raise MemoryError(
            f"seeds: {seeds_.count:,} seeds x the grid give a table of {n_rows:,} rows (about {need / 2**30:.1f} GiB), "
            f"more than half of this machine's {mem / 2**30:.1f} GiB; stream it with "
            f"bandits.engine.sweep.sweep_chunks(...) and reduce each chunk, or sweep fewer seeds")
    frames = []
    hp_columns: list[str] = []
    compile_total = compile_cpu = 0.0
    for policy in pols.values():
        for f in type(policy.default_hparams)._fields:
            if f not in hp_columns:
                hp_columns.append(f)
    for df in sweep_chunks(env, pols, seeds, grid, horizon, env_params=env_params, checkpoints=checkpoints,
                           chunk_size=chunk_size, progress=progress, devices=devices, unroll=unroll,
                           prng_impl=prng_impl, block=block):
        compile_total += df.attrs.get("compile_s", 0.0)
        compile_cpu += df.attrs.get("compile_cpu_s", 0.0)
        if "chunk_size" in df.attrs:
            chunks_used[str(df["policy"].iat[0])] = df.attrs["chunk_size"]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    lead = ["policy", *hp_columns, "seed", "cum_reward", "cum_regret", *[f"regret@{t}" for t in ckpts],
            "horizon", "env"]
    out = out.reindex(columns=lead)
    out.attrs["compile_s"] = compile_total
    out.attrs["compile_cpu_s"] = compile_cpu
    out.attrs["chunk_size"] = chunks_used
    return out
