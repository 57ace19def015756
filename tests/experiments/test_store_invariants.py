"""Store invariants across a seeded random sequence of runs: changing seeds (grow, shrink, offset),
grids (with repeated values), data, code versions, ``--force``, corrupted cells and interrupted
runs. After every operation: no key twice, no stale key (every row of a config hash was computed
from the data and code that hash stands for), every cell verifies and reads, and a finished run's
rows are exactly the ones it asked for, with the values of the current data.

The simulation itself is replaced by a closed form of (data, hyperparameters, seed), so the
sequence runs in seconds; the real simulation's resume-equals-fresh property is checked by the
SIGKILL tests and ``test_faults.py``. Planning, identity, merging, verification and quarantine are
the real code."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments import bakeoff, main_job, store
from experiments.builders import PolicySpec

CHUNK = 4


def _value(data: float, hp_json: str, seed: int) -> float:
    """The stand-in for a simulated final regret: a smooth function of the data, the point, the seed."""
    return float(data * 100 + int(store.stable_hash(hp_json, 6), 16) % 997 / 997 + np.sin(seed))


def _fake_run_points(data_value):
    def run_points(env, policy, spec, points, seeds, horizon, rounds, chunk_size, env_label, progress=None):
        rows = []
        for pt in points:
            for s in seeds:
                v = _value(data_value(), pt.json, int(s))
                rows.append({"env": env_label, "horizon": int(horizon), **bakeoff.candidate_columns(spec, pt),
                             "seed": int(s), "cum_regret": v, "cum_reward": -v, "regret_curve": [v],
                             "curve_rounds": [int(horizon)]})
        return pd.DataFrame(rows)

    return run_points


class _Interrupt(Exception):
    pass


def _all_cells_verify(root) -> int:
    cells = store.cell_files(root, "bakeoff")
    for p in cells:
        assert store.verify_cell(p, "bakeoff") is None, p
    return len(cells)


def _damage(rng, root):
    cells = store.cell_files(root, "bakeoff")
    if not cells:
        return
    p = cells[int(rng.integers(len(cells)))]
    kind = int(rng.integers(3))
    raw = p.read_bytes()
    if kind == 0:
        p.write_bytes(raw[: len(raw) // 3])
    elif kind == 1:
        col = pq.read_metadata(p).row_group(0).column(store.SCHEMAS["bakeoff"].names.index("cum_regret"))
        b = bytearray(raw)
        b[col.data_page_offset + col.total_compressed_size - 3] ^= 0x5A
        p.write_bytes(bytes(b))
    else:
        p.write_bytes(b"")


@pytest.mark.filterwarnings("ignore::experiments.store.StoreWarning")
def test_store_invariants_across_a_random_sequence_of_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(20261126)
    root = str(tmp_path / "store")
    state = {"data": 0.25, "code": "code-v1"}
    monkeypatch.setattr(bakeoff, "run_points", _fake_run_points(lambda: state["data"]))
    c = main_job.plain(main_job.compose(["policy=random", "env=simulator"]))  # a world fitted on logs: data in the identity
    env = types.SimpleNamespace(name="world", num_actions=4, context_dim=1, len_list=1)
    truth: dict[str, tuple[str, str]] = {}  # config hash -> (data fingerprint, code fingerprint) it stands for
    n_done = 0
    for step in range(30):
        if rng.random() < 0.25:
            state["data"] = float(rng.integers(1, 5)) / 4 + step  # new log content
        if rng.random() < 0.15:
            state["code"] = f"code-v{step}"  # a new version of the code
        if rng.random() < 0.2:
            _damage(rng, root)
        data_fp = store.stable_hash(state["data"], 16)
        chash = main_job.config_hash(c, data_fp, state["code"])
        truth.setdefault(chash, (data_fp, state["code"]))
        grid = sorted(rng.choice([0.05, 0.1, 0.2], size=int(rng.integers(1, 4))).tolist())  # repeats allowed
        specs = [PolicySpec("eg", "epsilon_greedy", grid={"epsilon": grid})]
        if rng.random() < 0.5:
            specs.append(PolicySpec("ucb", "ucb1", hparams={"alpha": float(rng.choice([0.1, 1.0]))}))
        seeds, offset = int(rng.integers(1, 10)), int(rng.integers(0, 7))
        force = bool(rng.random() < 0.1)
        interrupt = bool(rng.random() < 0.15)

        def on_cell(ev, interrupt=interrupt):
            if interrupt:
                raise _Interrupt

        prov = {"data_fingerprint": data_fp, "code_fingerprint": state["code"]}
        try:
            counts = bakeoff.run_bakeoff(env, specs, root=root, config_hash=chash, seeds=seeds, seed_offset=offset,
                                         horizon=5, chunk_seeds=CHUNK, curve_points=1, env_label="world",
                                         provenance=prov, on_cell=on_cell, force=force)
            finished = True
        except _Interrupt:
            finished = False

        if not store.cell_files(root, "bakeoff"):
            continue
        raw = store.load(root)  # reads every cell (data pages checked): a damaged one is quarantined here
        assert _all_cells_verify(root) == len(raw[["config_hash", "cell_id"]].drop_duplicates())  # all read
        key = list(store.KEY_COLUMNS["bakeoff"])
        assert not raw.duplicated(key).any(), f"step {step}: a key stored twice"
        for h, g in raw.groupby("config_hash"):
            assert set(zip(g["data_fingerprint"], g["code_fingerprint"], strict=True)) == {truth[h]}, \
                f"step {step}: stale rows under config {h}"
        if not finished:
            continue
        n_done += 1
        mine = raw[raw["config_hash"] == chash]
        want = set()
        for sp in specs:
            pol = sp.build(bakeoff.World("world", 4, 1))
            for pt in bakeoff.points_of(sp, pol):
                want |= {(sp.label, pt.json, s) for s in range(offset, offset + seeds)}
        got = mine[["policy", "hparams", "seed"]].itertuples(index=False, name=None)
        asked = [r for r in got if r in want]
        assert sorted(asked) == sorted(want), f"step {step}: a requested row is missing"
        sel = mine[[(p, h, s) in want for p, h, s in zip(mine["policy"], mine["hparams"], mine["seed"], strict=True)]]
        expect = [_value(state["data"], h, s) for h, s in zip(sel["hparams"], sel["seed"], strict=True)]
        np.testing.assert_allclose(sel["cum_regret"], expect, rtol=0, atol=0)
        assert counts["computed"] + counts["skipped"] == counts["cells"]
    assert n_done >= 20
    assert len(truth) >= 4  # the sequence did change the data and the code several times
