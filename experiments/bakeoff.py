"""The policy bake-off: every candidate x every seed (x every grid point), cell by cell, resumable.

A *cell* is one candidate, one chunk of ``chunk_seeds`` consecutive seeds and every point of the
candidate's in-process hyperparameter grid. It is computed by ONE compiled call of
:func:`bandits.engine.sweep.sweep` (grid x seeds flattened into vmapped members, reduced inside the scan to
the final regret, the total reward and ``curve_points`` points of the cumulative-regret curve, so
memory does not grow with the horizon) and written as one parquet file by :func:`experiments.store.write_cell`.
A rerun skips cells whose file exists, so an interrupted sweep resumes where it stopped.

Common random numbers: seed ``s`` gives member key ``jax.random.key(s)`` for every candidate and
grid point (see :mod:`bandits.engine.rollout`), so candidates face the same members and their final
regrets can be compared pairwise, seed by seed.

The sweep pads the last chunk to the fixed chunk shape (padding rows dropped), so every cell of a
candidate reuses one compiled function and a seed's numbers do not depend on its chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments import store
from experiments.builders import PolicySpec, World


@dataclass(frozen=True)
class Cell:
    """One unit of work: candidate ``spec`` on seeds ``[seed_lo, seed_hi)``."""

    spec: PolicySpec
    seed_lo: int
    seed_hi: int

    @property
    def cell_id(self) -> str:
        h = store.stable_hash(self.spec.identity(), 8)
        return f"{store.safe_name(self.spec.label)}-{h}-seeds{self.seed_lo:07d}-{self.seed_hi:07d}"


def plan_cells(specs: list[PolicySpec], seeds: int, seed_offset: int, chunk_seeds: int) -> list[Cell]:
    """Cells covering seeds ``seed_offset .. seed_offset + seeds - 1`` for every candidate.

    Chunk boundaries are multiples of ``chunk_seeds`` counted from ``seed_offset``, so growing
    ``seeds`` later reuses every finished full chunk.
    """
    if seeds < 1:
        raise ValueError(f"seeds: expected an integer >= 1, got {seeds!r}")
    if chunk_seeds < 1:
        raise ValueError(f"sweep.chunk_seeds: expected an integer >= 1, got {chunk_seeds!r}")
    cells = []
    for spec in specs:
        for lo in range(0, seeds, chunk_seeds):
            cells.append(Cell(spec, seed_offset + lo, seed_offset + min(lo + chunk_seeds, seeds)))
    return cells


def curve_rounds(horizon: int, curve_points: int) -> np.ndarray:
    """``(P,)`` int rounds (1-based counts) at which the cumulative regret curve is kept; ends at T."""
    p = max(1, min(int(curve_points), int(horizon)))
    r = np.unique(np.round(np.linspace(horizon / p, horizon, p)).astype(np.int64))
    return r[r >= 1]


def run_cell(env, policy, cell: Cell, horizon: int, rounds: np.ndarray, chunk_seeds: int,
             env_label: str, progress: Callable[[int, float], None] | None = None) -> pd.DataFrame:
    """Compute one cell with :func:`bandits.engine.sweep.sweep` and return its tidy rows.

    The whole cell (every grid point x every seed of the chunk) is ONE compiled, vmapped call:
    ``chunk_size = (grid points) x chunk_seeds`` members, padded by the sweep to that fixed shape,
    so a seed's numbers do not depend on which chunk it falls in or on the chunk being the last.

    Columns: ``env, horizon, policy`` (label), ``policy_name`` (registry name), ``grid_index``,
    ``hparams`` (JSON of the full hyperparameter point), ``hp_<name>`` (one float column per
    hyperparameter), ``seed``, ``cum_regret`` (final cumulative regret), ``cum_reward``,
    ``regret_curve`` (cumulative regret after each of ``curve_rounds`` rounds, a list).
    """
    from bandits.engine.sweep import sweep

    points = cell.spec.points()
    label = cell.spec.label
    seeds = np.arange(cell.seed_lo, cell.seed_hi, dtype=np.int64)
    grid = {label: points}  # explicit hyperparameter points (the base values when there is no grid)
    raw = sweep(env, {label: policy}, seeds, grid, int(horizon), checkpoints=[int(r) for r in rounds],
                chunk_size=len(points) * int(chunk_seeds), progress=progress)
    G = len(points)
    curve_cols = [f"regret@{int(t)}" for t in rounds]
    curves = raw[curve_cols].to_numpy(np.float64)
    rows = pd.DataFrame({
        "env": env_label,
        "horizon": int(horizon),
        "policy": label,
        "policy_name": cell.spec.name,
        "grid_index": np.repeat(np.arange(G), len(seeds)),
    })
    # the hyperparameter columns are the sweep's (one float64 column per field, the values as
    # configured, rows ordered by grid point then seed), renamed hp_<field>, plus their JSON
    fields = list(type(policy.default_hparams)._fields)
    hp = raw[fields].to_numpy(np.float64)
    rows["hparams"] = [json.dumps(dict(zip(fields, map(float, r), strict=True)), sort_keys=True) for r in hp]
    for j, f in enumerate(fields):
        rows[f"hp_{f}"] = hp[:, j]
    rows["seed"] = raw["seed"].to_numpy(np.int64)
    rows["cum_regret"] = raw["cum_regret"].to_numpy(np.float64)
    rows["cum_reward"] = raw["cum_reward"].to_numpy(np.float64)
    rows["regret_curve"] = list(curves)
    rows["curve_rounds"] = [list(map(int, rounds))] * len(rows)
    return rows


@dataclass
class CellEvent:
    """Progress report after a cell: ``done``/``total`` cells, ``skipped`` (already in the store),
    ``rounds`` simulated in this cell (0 if skipped), ``seconds`` it took."""

    cell: Cell
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
) -> dict[str, int]:
    """Run (or resume) the bake-off into the store ``root`` under ``config_hash``.

    on_cell(event) is called after each cell; on_rounds(rounds, seconds) after each compiled call
    (for a rounds/s display). world: what the candidates are built against (default: the env's
    sizes, nothing provided). Returns counts ``{"cells": n, "computed": c, "skipped": s, "rounds":
    simulated rounds}``.
    """
    world = world or World(env.name, env.num_actions, env.context_dim, env.len_list)
    policies = {s.label: s.build(world) for s in specs}
    rounds = curve_rounds(horizon, curve_points)
    cells = plan_cells(specs, seeds, seed_offset, chunk_seeds)
    computed = skipped = total_rounds = 0
    for i, cell in enumerate(cells):
        t0 = time.perf_counter()
        if store.cell_done(root, "bakeoff", config_hash, cell.cell_id):
            skipped += 1
            ev = CellEvent(cell, i + 1, len(cells), True, 0, time.perf_counter() - t0)
        else:
            df = run_cell(env, policies[cell.spec.label], cell, horizon, rounds, chunk_seeds, env_label,
                          progress=on_rounds)
            store.write_cell(root, "bakeoff", config_hash, cell.cell_id, df, provenance)
            computed += 1
            n_rounds = (cell.seed_hi - cell.seed_lo) * len(cell.spec.points()) * horizon
            total_rounds += n_rounds
            ev = CellEvent(cell, i + 1, len(cells), False, n_rounds, time.perf_counter() - t0)
        if on_cell is not None:
            on_cell(ev)
    return {"cells": len(cells), "computed": computed, "skipped": skipped, "rounds": total_rounds}
