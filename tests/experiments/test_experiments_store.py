"""Result store: atomic cells, loading, resume, and a real SIGKILL in the middle of a sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import store

REPO = Path(__file__).resolve().parents[2]


def _rows(n=3, seed0=0, policy="a", hparams='{"alpha": 1.0}'):
    """``n`` bake-off rows with every column of the store's bake-off schema."""
    return pd.DataFrame({
        "env": "e", "horizon": 2, "policy": policy, "policy_name": "random", "candidate": "c0", "static": "{}",
        "hparams": hparams, "hp_names": [["alpha"]] * n, "hp_values": [[1.0]] * n,
        "seed": np.arange(seed0, seed0 + n), "cum_regret": np.linspace(1.0, 2.0, n), "cum_reward": 0.0,
        "regret_curve": [[0.5, 1.0]] * n, "curve_rounds": [[1, 2]] * n})


def test_write_cell_is_atomic_and_loadable(tmp_path):
    assert not store.cell_done(tmp_path, "bakeoff", "h1", "c0")
    p = store.write_cell(tmp_path, "bakeoff", "h1", "c0", _rows(), {"config_yaml": "x: 1\n"})
    assert p.is_file() and store.cell_done(tmp_path, "bakeoff", "h1", "c0")
    # no temporary file is left behind next to the cell
    assert [q.name for q in p.parent.iterdir()] == [p.name]
    store.write_cell(tmp_path, "bakeoff", "h1", "c1", _rows(2, seed0=3))
    df = store.load(tmp_path)
    assert list(df["seed"]) == [0, 1, 2, 3, 4]
    assert set(df["cell_id"]) == {"c0", "c1"}
    assert df.loc[0, "config_yaml"] == "x: 1\n"
    assert "jax" in df.loc[0, "versions"] and df.loc[0, "git_commit"]
    assert list(df.loc[0, "regret_curve"]) == [0.5, 1.0]
    assert (df["hp_alpha"] == 1.0).all()  # derived from the hparams JSON


def test_interrupted_write_leftovers_are_ignored(tmp_path):
    store.write_cell(tmp_path, "bakeoff", "h", "c0", _rows())
    # what a kill -9 during a write leaves: a partial temporary file in the same directory
    d = store.cell_path(tmp_path, "bakeoff", "h", "c0").parent
    (d / ".tmp-abc.part").write_bytes(b"PAR1 garbage")
    assert len(store.load(tmp_path)) == 3
    assert not store.cell_done(tmp_path, "bakeoff", "h", "c1")


def test_load_errors_name_the_directory(tmp_path):
    with pytest.raises(store.StoreError, match="does not exist"):
        store.load(tmp_path / "nope")
    with pytest.raises(store.StoreError, match="no 'bakeoff' results"):
        store.load(tmp_path)
    store.write_cell(tmp_path, "mine", "h", "c0", _rows())
    with pytest.raises(store.StoreError, match=r"tables present: \['mine'\]"):
        store.load(tmp_path, "bakeoff")


def test_stable_hash_ignores_key_order():
    assert store.stable_hash({"a": 1, "b": [1, 2]}) == store.stable_hash({"b": [1, 2], "a": 1})
    assert store.stable_hash({"a": 1}) != store.stable_hash({"a": 2})


SWEEP = ["env=linear", "policy=linucb", "env.num_actions=4", "env.context_dim=3", "seeds=24", "sweep.chunk_seeds=2",
         "horizon=3000", "sweep.curve_points=5", "quiet=true", "report=false"]


def _cli(out_dir, extra=()):
    return [sys.executable, "-m", "experiments.cli", *SWEEP, f"out_dir={out_dir}", *extra]


def test_sigkill_mid_sweep_then_rerun_gives_identical_rows(tmp_path):
    """Kill -9 a running sweep after its first cells land, rerun it, compare with a clean run."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(killed), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    cells_dir = killed / "bakeoff"
    deadline = time.monotonic() + 120
    n_at_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        n_at_kill = len(store.cell_files(killed, "bakeoff"))
        if n_at_kill >= 2:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_after = len(store.cell_files(killed, "bakeoff"))
    assert 2 <= n_after < 12, f"expected a partial store, found {n_after} of 12 cells"
    assert cells_dir.is_dir()

    # rerun: finishes the missing cells only
    rerun = subprocess.run(_cli(killed), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    clean = tmp_path / "clean"
    full = subprocess.run(_cli(clean), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]

    a = store.load(killed)
    b = store.load(clean)
    assert len(a) == 24 and not a.duplicated(store.row_key_columns(a)).any()
    assert sorted(a["seed"]) == list(range(24))
    # git_commit is provenance (teammates may commit between the runs); every other column must match
    pd.testing.assert_frame_equal(a.drop(columns="git_commit"), b.drop(columns="git_commit"))
