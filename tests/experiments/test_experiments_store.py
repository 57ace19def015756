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


SWEEP = ["env=linear", "policy=linucb", "env.num_actions=4", "env.context_dim=3", "sweep.chunk_seeds=2",
         "horizon=15000", "sweep.curve_points=5", "quiet=true", "report=false"]
# the same 48 seeds as two jobs of a multirun (24 seeds each), or as one job
MULTI = ["-m", "seeds=24", "seed_offset=0,24"]


def _cli(out_dir, extra=()):
    flags = [a for a in extra if a.startswith("-")]  # Hydra wants its flags before the overrides
    return [sys.executable, "-m", "experiments.cli", *flags, *SWEEP, f"out_dir={out_dir}",
            *[a for a in extra if not a.startswith("-")]]


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(p.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an exited child nobody reaped yet is not running


def _kill_after(argv, root, n_cells, env, cwd) -> list[int]:
    """Start ``argv``, SIGKILL it once ``n_cells`` cells have landed; returns its workers' pids."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= set(_children(proc.pid))
        if len(store.cell_files(root, "bakeoff")) >= n_cells:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    workers |= set(_children(proc.pid))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return sorted(workers)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
@pytest.mark.slow
def test_sigkill_at_a_random_point_of_a_multirun_then_rerun_gives_identical_rows(tmp_path, monkeypatch):
    """Kill -9 a parallel (joblib) multirun at a random point after its first cells land: its
    workers stop with it (abruptly, at whatever point of their work they are), none is left
    computing, the store stays valid, and a rerun ends with exactly the rows of one uninterrupted
    job over the same seeds."""
    from experiments import cli

    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    killed = tmp_path / "killed"
    k = int(np.random.default_rng(7).integers(2, 8))
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    workers = _kill_after(_cli(killed, [*MULTI, *joblib]), killed, k, env, tmp_path)
    assert workers, "the joblib launcher started no worker processes"
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:  # do not leave them running if the check fails
        os.kill(w, signal.SIGKILL)
    assert not left, f"joblib workers {left} kept running after their parent was killed"
    n = len(store.cell_files(killed, "bakeoff"))
    assert 1 <= n < 24, f"expected a partial store, found {n} of 24 cells"
    store.load(killed)  # every cell on disk verifies and reads

    # rerun (in this process, with the basic launcher): finishes the missing cells only
    monkeypatch.chdir(tmp_path)
    assert cli.main([*MULTI, *SWEEP, f"out_dir={killed}"]) == 0
    clean = tmp_path / "clean"
    assert cli.main([*SWEEP, "seeds=48", f"out_dir={clean}"]) == 0

    a = store.load(killed)
    b = store.load(clean)
    assert len(a) == 48 and not a.duplicated(store.row_key_columns(a, "bakeoff")).any()
    assert sorted(a["seed"]) == list(range(48))
    # provenance may differ (git_commit: teammates may commit between runs; config_yaml: the job's
    # own seeds and offset); every result column must match
    prov = ["git_commit", "config_yaml"]
    pd.testing.assert_frame_equal(a.drop(columns=prov), b.drop(columns=prov))
