"""The policy bake-off: every candidate x every hyperparameter point x every seed, resumable.

Identity. A bake-off row is keyed by (config hash, candidate label, candidate id, hyperparameter
point, seed): the candidate id hashes its registry name and constructor options, the point is
the policy's full hyperparameter tuple (defaults included) as canonical JSON, so the same point
reached by ``policy.alpha=0.1``, by a grid containing 0.1 or by a grid listing 0.1 twice is one
key. Seeds are cut into chunks on absolute boundaries (seed ``s`` is in chunk
``s // chunk_seeds``), and each (candidate, point, chunk) is one *cell*, one parquet file in the
store; its rows are the chunk's seeds computed so far. Growing, shrinking or offsetting ``seeds``
therefore only ever adds the seeds a cell lacks (:func:`experiments.store.merge_cell`), and never
stores a seed twice.

Work. The unit of work is one candidate and one chunk: the seeds some of its points lack, for
those points, in ONE compiled call of :func:`bandits.engine.sweep.sweep` (points x seeds
flattened into vmapped members, reduced inside the scan to the final regret, the total reward and
``curve_points`` points of the cumulative-regret curve, so memory does not grow with the horizon),
padded to the fixed shape (every point x ``chunk_seeds`` members), so every call of a candidate
reuses one compiled function and a seed's numbers do not depend on its chunk. Cells are planned
lazily, so memory does not depend on the number of seeds.

Common random numbers: seed ``s`` gives member key ``jax.random.key(s)`` for every candidate and
grid point (see :mod:`bandits.engine.rollout`), so candidates face the same members and their final
regrets can be compared pairwise, seed by seed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments import store
from experiments.builders import PolicySpec, World


def candidate_id(spec: PolicySpec) -> str:
    """12 hex digits identifying a candidate's policy: its registry name and constructor options."""
    return store.stable_hash({"name": spec.name, "static": spec.static}, 12)


def static_json(spec: PolicySpec) -> str:
    """The candidate's constructor options as canonical JSON (stored beside its id)."""
    return json.dumps(spec.static, sort_keys=True, default=str)


@dataclass(frozen=True)
class Point:
    """One hyperparameter point of a candidate: ``values`` the policy's full hyperparameter tuple
    as floats (field order), ``json`` its canonical JSON (the row key), ``hash`` 8 hex digits."""

    names: tuple[str, ...]
    values: tuple[float, ...]

    @property
    def json(self) -> str:
        return json.dumps(dict(zip(self.names, self.values, strict=True)), sort_keys=True)

    @property
    def hash(self) -> str:
        return store.stable_hash(self.json, 8)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values, strict=True))


def points_of(spec: PolicySpec, policy) -> list[Point]:
    """The distinct hyperparameter points of a candidate, in grid order (a value listed twice in a
    grid, or a field set to its default, gives the same point once)."""
    out: list[Point] = []
    seen: set[str] = set()
    fields = tuple(type(policy.default_hparams)._fields)
    for p in spec.points():
        hp = policy.hparams(**p)
        pt = Point(fields, tuple(float(getattr(hp, f)) for f in fields))
        if pt.json not in seen:
            seen.add(pt.json)
            out.append(pt)
    return out


def candidate_columns(spec: PolicySpec, point: Point) -> dict:
    """The identity columns every stored row of a candidate's point carries (store schema)."""
    return {"policy": spec.label, "policy_name": spec.name, "candidate": candidate_id(spec),
            "static": static_json(spec), "hparams": point.json, "hp_names": list(point.names),
            "hp_values": list(point.values)}


def cell_id(spec: PolicySpec, point: Point, lo: int, hi: int) -> str:
    """Name of the cell of ``point`` of ``spec`` holding the seeds of chunk ``[lo, hi)``."""
    return f"{store.safe_name(spec.label)}-{candidate_id(spec)[:8]}-{point.hash}-seeds{lo:07d}-{hi:07d}"


@dataclass(frozen=True)
class Chunk:
    """One unit of work: candidate ``spec`` on the requested seeds ``[want_lo, want_hi)`` of the
    chunk ``[lo, hi)`` (absolute boundaries, multiples of ``chunk_seeds``)."""

    spec: PolicySpec
    lo: int
    hi: int
    want_lo: int
    want_hi: int


def plan_chunks(specs: list[PolicySpec], seeds: int, seed_offset: int, chunk_seeds: int) -> Iterator[Chunk]:
    """Chunks covering seeds ``seed_offset .. seed_offset + seeds - 1`` for every candidate, lazily
    (memory O(1) in ``seeds``). Chunk boundaries are multiples of ``chunk_seeds`` counted from 0."""
    seeds, seed_offset, chunk_seeds = _check_plan(seeds, seed_offset, chunk_seeds)
    end = seed_offset + seeds
    for spec in specs:
        for c in range(seed_offset // chunk_seeds, (end - 1) // chunk_seeds + 1):
            lo, hi = c * chunk_seeds, (c + 1) * chunk_seeds
            yield Chunk(spec, lo, hi, max(lo, seed_offset), min(hi, end))


def count_chunks(seeds: int, seed_offset: int, chunk_seeds: int) -> int:
    """Number of chunks per candidate point of :func:`plan_chunks` (arithmetic, no planning)."""
    seeds, seed_offset, chunk_seeds = _check_plan(seeds, seed_offset, chunk_seeds)
    return (seed_offset + seeds - 1) // chunk_seeds - seed_offset // chunk_seeds + 1


def _check_plan(seeds, seed_offset, chunk_seeds) -> tuple[int, int, int]:
    for name, v, lo in (("seeds", seeds, 1), ("seed_offset", seed_offset, 0), ("sweep.chunk_seeds", chunk_seeds, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
    if int(seed_offset) + int(seeds) > 2**32:
        raise ValueError(f"seeds, seed_offset: seeds must lie in [0, 2**32), got seed_offset={seed_offset} "
                         f"+ seeds={seeds}")
    return int(seeds), int(seed_offset), int(chunk_seeds)


def curve_rounds(horizon: int, curve_points: int) -> np.ndarray:
    """``(P,)`` int rounds (1-based counts) at which the cumulative regret curve is kept; ends at T."""
    p = max(1, min(int(curve_points), int(horizon)))
    r = np.unique(np.round(np.linspace(horizon / p, horizon, p)).astype(np.int64))
    return r[r >= 1]


def run_points(env, policy, spec: PolicySpec, points: list[Point], seeds: np.ndarray, horizon: int,
               rounds: np.ndarray, chunk_size: int, env_label: str,
               progress: Callable[[int, float], None] | None = None) -> pd.DataFrame:
    """Compute ``points x seeds`` with ONE compiled, vmapped :func:`bandits.engine.sweep.sweep` call
    (members padded by the sweep to ``chunk_size``) and return their tidy rows.

    Columns: the bake-off table's (:data:`experiments.store.SCHEMAS`) except ``config_hash``,
    ``cell_id`` and provenance; rows ordered by point, then seed.
    """
    from bandits.engine.sweep import sweep

    label = spec.label
    raw = sweep(env, {label: policy}, np.asarray(seeds, np.int64), {label: [p.as_dict() for p in points]},
                int(horizon), checkpoints=[int(r) for r in rounds], chunk_size=int(chunk_size), progress=progress)
    S = len(seeds)
    curve_cols = [f"regret@{int(t)}" for t in rounds]
    curves = raw[curve_cols].to_numpy(np.float64)
    frames = []
    for g, pt in enumerate(points):
        sl = slice(g * S, (g + 1) * S)
        cols = candidate_columns(spec, pt)
        frames.append(pd.DataFrame({
            "env": env_label, "horizon": int(horizon),
            **{k: [v] * S if isinstance(v, list) else v for k, v in cols.items()},
            "seed": raw["seed"].to_numpy(np.int64)[sl],
            "cum_regret": raw["cum_regret"].to_numpy(np.float64)[sl],
            "cum_reward": raw["cum_reward"].to_numpy(np.float64)[sl],
            "regret_curve": list(curves[sl]),
            "curve_rounds": [list(map(int, rounds))] * S,
        }))
    return pd.concat(frames, ignore_index=True)


@dataclass
class CellEvent:
    """Progress report after a chunk of work: ``done``/``total`` cells, ``skipped`` (every cell of
    the chunk already in the store), ``rounds`` simulated (0 if skipped), ``seconds`` it took."""

    chunk: Chunk
    done: int
    total: int
    skipped: bool
    rounds: int
    seconds: float


def run_bakeoff(
    env,
    specs: list[PolicySpec],
    *,
    root: str,
    config_hash: str,
    seeds: int,
    seed_offset: int,
    horizon: int,
    chunk_seeds: int,
    curve_points: int,
    env_label: str,
    provenance: dict[str, str] | None = None,
    on_cell: Callable[[CellEvent], None] | None = None,
    on_rounds: Callable[[int, float], None] | None = None,
    world: World | None = None,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Run (or resume) the bake-off into the store ``root`` under ``config_hash``.

    For every candidate and chunk, the seeds of the request that a point's cell lacks are computed
    (all of them when ``force``: the stored rows are then replaced) and merged into the cell.
    on_start(total_cells) is called once the cells are counted; on_cell(event) after each chunk;
    on_rounds(rounds, seconds) after each compiled call (for a rounds/s display). world: what the
    candidates are built against (default: the env's sizes, nothing provided). Returns counts
    ``{"cells": n, "computed": cells written, "skipped": cells already complete, "rounds": simulated
    member-rounds}``.
    """
    world = world or World(env.name, env.num_actions, env.context_dim, env.len_list)
    policies = {s.label: s.build(world) for s in specs}
    pts = {s.label: points_of(s, policies[s.label]) for s in specs}
    rounds = curve_rounds(horizon, curve_points)
    per_point = count_chunks(seeds, seed_offset, chunk_seeds)
    total = per_point * sum(len(p) for p in pts.values())
    if on_start is not None:
        on_start(total)
    computed = skipped = total_rounds = done = 0
    for ch in plan_chunks(specs, seeds, seed_offset, chunk_seeds):
        t0 = time.perf_counter()
        spec = ch.spec
        want = np.arange(ch.want_lo, ch.want_hi, dtype=np.int64)
        todo: list[tuple[Point, np.ndarray]] = []
        for pt in pts[spec.label]:
            if force:
                todo.append((pt, want))
                continue
            have = store.cell_keys(root, "bakeoff", config_hash, cell_id(spec, pt, ch.lo, ch.hi), ["seed"])
            missing = want if have is None else np.setdiff1d(want, have["seed"].to_numpy(np.int64))
            if missing.size:
                todo.append((pt, missing))
        n_cells = len(pts[spec.label])
        if not todo:
            skipped += n_cells
            done += n_cells
            if on_cell is not None:
                on_cell(CellEvent(ch, done, total, True, 0, time.perf_counter() - t0))
            continue
        seeds_needed = np.unique(np.concatenate([m for _, m in todo]))
        points = [pt for pt, _ in todo]
        df = run_points(env, policies[spec.label], spec, points, seeds_needed, horizon, rounds,
                        len(pts[spec.label]) * int(chunk_seeds), env_label, progress=on_rounds)
        for pt, missing in todo:
            rows = df[(df["hparams"] == pt.json) & df["seed"].isin(missing)]
            store.merge_cell(root, "bakeoff", config_hash, cell_id(spec, pt, ch.lo, ch.hi), rows, provenance,
                             replace=force)
        computed += len(todo)
        skipped += n_cells - len(todo)
        done += n_cells
        n_rounds = len(points) * len(seeds_needed) * int(horizon)
        total_rounds += n_rounds
        if on_cell is not None:
            on_cell(CellEvent(ch, done, total, False, n_rounds, time.perf_counter() - t0))
    return {"cells": total, "computed": computed, "skipped": skipped, "rounds": total_rounds}
