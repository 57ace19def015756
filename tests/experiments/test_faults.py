"""Fault injection, result store: identity (one row per key), staleness (data and code in the
identity, --force) and corruption (verified reads, quarantine, recompute; one schema; readable
files). Each test reproduces a failure seen in a probe of the store, then checks the fix."""

from __future__ import annotations

import json
import os
import stat
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments import cli, main_job, store

# a cheap world: 3 Bernoulli arms, few rounds (compiles once per process)
FAST = ["env=bernoulli", "env.num_actions=3", "policy=epsilon_greedy", "horizon=6", "sweep.chunk_seeds=8",
        "sweep.curve_points=2", "quiet=true", "report=false"]


def _run(root, *extra) -> int:
    return cli.main([*FAST, f"out_dir={root}", *extra])


def _keys(df):
    return df[list(store.KEY_COLUMNS["bakeoff"])]


def assert_store_invariants(root) -> pd.DataFrame:
    """Every cell verifies and is readable; no key appears twice across all cells; every config
    hash's rows share one data and one code fingerprint."""
    frames = []
    for p in store.cell_files(root, "bakeoff"):
        assert store.verify_cell(p, "bakeoff") is None, p
        frames.append(pq.read_table(p, page_checksum_verification=True).to_pandas())
    raw = pd.concat(frames, ignore_index=True)
    assert not _keys(raw).duplicated().any(), _keys(raw)[_keys(raw).duplicated(keep=False)]
    fps = raw.groupby("config_hash")[["data_fingerprint", "code_fingerprint"]].nunique()
    assert (fps == 1).all().all(), fps
    return raw


# ----------------------------------------------------------------------------- 1. identity


def test_growing_seeds_stores_each_seed_once(tmp_path, capsys):
    """Probe: a 30-seed run then a 60-seed run into one out_dir gave 90 rows (seed ranges as keys)."""
    root = tmp_path / "s"
    assert _run(root, "seeds=5") == 0
    assert _run(root, "seeds=11") == 0
    df = store.load(root)
    assert sorted(df["seed"]) == list(range(11))
    assert_store_invariants(root)
    # the summary, `screentest results` and the report count 11 seeds, not 16
    from experiments.report import summarize

    assert summarize(df)["n"].tolist() == [11]
    assert cli.main(["results", str(root)]) == 0
    assert "11 rows" in capsys.readouterr().out
    assert cli.main(["report", str(root), "--out", str(tmp_path / "rep")]) == 0
    assert "| epsilon_greedy | 11 |" in (tmp_path / "rep" / "report.md").read_text()


def test_shrinking_and_offsetting_seeds_never_duplicate(tmp_path):
    root = tmp_path / "s"
    for args in (["seeds=10"], ["seeds=4"], ["seeds=6", "seed_offset=3"], ["seeds=9", "seed_offset=13"]):
        assert _run(root, *args) == 0
        assert_store_invariants(root)
    df = store.load(root)
    assert sorted(df["seed"]) == list(range(10)) + list(range(13, 22))
    # the offset run's seeds equal a fresh run's (a seed's numbers do not depend on its chunk)
    fresh = tmp_path / "fresh"
    assert _run(fresh, "seeds=9", "seed_offset=13") == 0
    a = df[df.seed >= 13].set_index("seed")["cum_regret"]
    b = store.load(fresh).set_index("seed")["cum_regret"]
    pd.testing.assert_series_equal(a, b)


def test_duplicate_grid_values_and_overlapping_specs_are_one_key(tmp_path):
    """Probe: a grid listing a value twice was counted twice; the same point set by
    ``policy.epsilon`` and by a grid gave two copies of each seed."""
    root = tmp_path / "s"
    assert _run(root, "seeds=3", "+policy.grid.epsilon=[0.2,0.2,0.5]") == 0
    assert _run(root, "seeds=3", "policy.epsilon=0.2") == 0  # same point, other spec
    assert _run(root, "seeds=3", "policy.epsilon=0.5", "policy.initial_value=0.0") == 0  # the default, spelt out
    df = store.load(root)
    assert len(df) == 2 * 3
    assert sorted(df["hp_epsilon"].unique()) == [0.2, 0.5]
    assert_store_invariants(root)


def test_labels_with_different_constructor_options_are_not_pooled(tmp_path):
    """Two runs give the label ``ts`` to different policies: the summary keeps them apart."""
    from experiments.report import summarize

    root = tmp_path / "s"
    base = ["env=bernoulli", "env.num_actions=3", "horizon=6", "seeds=3", "quiet=true", "report=false",
            f"out_dir={root}", "policy=bakeoff", *[f"~policy.candidates.{c}" for c in
                                                   ("bernoulli_ts", "ucb1", "epsilon_greedy", "random")]]
    assert cli.main([*base, "+policy.candidates.ts={name: bernoulli_ts, static: {alpha0: 1, beta0: 1}}"]) == 0
    assert cli.main([*base, "+policy.candidates.ts={name: bernoulli_ts, static: {alpha0: 1, beta0: 30}}"]) == 0
    s = summarize(store.load(root))
    assert len(s) == 2 and (s["n"] == 3).all() and s["label"].nunique() == 2


# ----------------------------------------------------------------------------- 2. staleness


def _small_log(path, favourite=None):
    from bandits.datasets.obd import load_obd

    df = load_obd().to_dataframe().iloc[:1500].copy()
    if favourite is not None:
        df.loc[df["action"] == favourite, "reward"] = 1.0  # members now love one item: another simulator
    df.to_parquet(path)


def test_changed_log_gives_new_rows_and_force_recomputes(tmp_path):
    """Probe: after the log file changed, a rerun reported '0 cells computed' with the old numbers."""
    log = tmp_path / "logs.parquet"
    _small_log(log)
    root = tmp_path / "s"
    args = ["env=simulator", "data=parquet", f"data.path={log}", "data.position_col=position",
            "env.penalties=[300,3000]", "policy=random", "ope.enabled=false", "seeds=2", "horizon=20",
            "quiet=true", "report=false", f"out_dir={root}"]
    assert cli.main(args) == 0
    first = store.load(root)
    _small_log(log, favourite=0)  # same path, new content
    assert cli.main(args) == 0
    both = store.load(root)
    assert both["config_hash"].nunique() == 2 and len(both) == 4
    new = both[~both["config_hash"].isin(first["config_hash"])]
    assert (new["data_fingerprint"] != first["data_fingerprint"].iloc[0]).all()
    assert not np.allclose(new.sort_values("seed")["cum_regret"], first.sort_values("seed")["cum_regret"])
    assert_store_invariants(root)
    # an unchanged rerun computes nothing; --force recomputes the same rows
    files = {p: p.stat().st_mtime_ns for p in store.cell_files(root, "bakeoff")}
    assert cli.main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in store.cell_files(root, "bakeoff")} == files
    assert cli.main([*args, "--force"]) == 0
    touched = [p for p in store.cell_files(root, "bakeoff") if p.stat().st_mtime_ns != files[p]]
    assert len(touched) == 1
    pd.testing.assert_frame_equal(store.load(root), both)


def test_identity_covers_code_and_data_fingerprints():
    c = main_job.plain(main_job.compose(["policy=random"]))  # env=simulator: fitted on the data
    h = main_job.config_hash(c, "data-a", "code-a")
    assert h != main_job.config_hash(c, "data-b", "code-a")
    assert h != main_job.config_hash(c, "data-a", "code-b")
    assert main_job.ope_config_hash(c, "data-a", "code-a") != main_job.ope_config_hash(c, "data-b", "code-a")
    with pytest.raises(ValueError, match="data_fp"):
        main_job.config_hash(c, None, "code-a")
    synthetic = main_job.plain(main_job.compose(["env=linear", "policy=random"]))
    assert main_job.config_hash(synthetic, None, "code-a") != main_job.config_hash(synthetic, None, "code-b")


def test_fingerprint_covers_content_and_caches_by_stat(tmp_path, monkeypatch):
    f = tmp_path / "x.bin"
    f.write_bytes(b"a" * 1000)
    cache = tmp_path / "fp.json"
    a = store.fingerprint_path(f, cache=cache)
    calls = []
    real = store._hash_file
    monkeypatch.setattr(store, "_hash_file", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    store._FP_MEMO.clear()
    assert store.fingerprint_path(f, cache=cache) == a and calls == []  # from the on-disk cache
    f.write_bytes(b"a" * 999 + b"b")  # same size, one byte changed
    assert store.fingerprint_path(f, cache=cache) != a and len(calls) == 1
    d = tmp_path / "dir"
    d.mkdir()
    (d / "p1").write_bytes(b"1")
    h1 = store.fingerprint_path(d)
    (d / "p1").rename(d / "p2")  # a directory's fingerprint covers the file names
    assert store.fingerprint_path(d) != h1


# ----------------------------------------------------------------------------- 3. corruption


def test_truncated_cell_is_quarantined_and_recomputed(tmp_path, capsys):
    """Probe: a truncated parquet cell counted as done forever; results/report then crashed."""
    root = tmp_path / "s"
    assert _run(root, "seeds=12") == 0
    good = store.load(root)
    cells = store.cell_files(root, "bakeoff")
    assert len(cells) == 2
    victim = cells[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    # results and report do not crash: they warn, name the cell and leave its rows out
    assert cli.main(["results", str(root)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and victim.name in err and "quarantine" in err
    assert not victim.exists() and list((root / "quarantine").rglob("*.bad"))
    # the rerun recomputes the quarantined cell, to the same rows
    assert _run(root, "seeds=12") == 0
    pd.testing.assert_frame_equal(store.load(root), good)
    assert_store_invariants(root)


@pytest.mark.parametrize("damage", ["flip_data_byte", "garbage", "empty", "other_cell", "old_schema"])
def test_damaged_cells_never_load_silently(tmp_path, damage):
    root = tmp_path / "s"
    assert _run(root, "seeds=12") == 0
    good = store.load(root)
    a, b = store.cell_files(root, "bakeoff")
    if damage == "flip_data_byte":
        col = pq.read_metadata(a).row_group(0).column(store.SCHEMAS["bakeoff"].names.index("cum_regret"))
        raw = bytearray(a.read_bytes())
        raw[col.data_page_offset + col.total_compressed_size - 3] ^= 0xFF  # inside a data page's payload
        a.write_bytes(bytes(raw))
    elif damage == "garbage":
        a.write_bytes(b"PAR1" + os.urandom(300) + b"PAR1")
    elif damage == "empty":
        a.write_bytes(b"")
    elif damage == "other_cell":
        a.write_bytes(b.read_bytes())  # a cell copied over another one: its metadata names the other
    else:
        df = pq.read_table(a).to_pandas()
        pq.write_table(pq.read_table(a).replace_schema_metadata(None), a)  # written by an older store
        assert len(df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = store.load(root)
    assert any(issubclass(w.category, store.StoreWarning) for w in caught)
    assert len(df) == len(good) - 8 and not a.exists()
    assert _run(root, "seeds=12") == 0
    pd.testing.assert_frame_equal(store.load(root), good)


def test_one_schema_for_every_cell_and_team_readable_files(tmp_path):
    """Probe: hyperparameter columns differed per cell, so ``pd.read_parquet(store)`` dropped some;
    cells were written 0600."""
    root = tmp_path / "s"
    base = ["env=bernoulli", "env.num_actions=3", "horizon=6", "seeds=2", "quiet=true", "report=false",
            f"out_dir={root}"]
    assert cli.main([*base, "policy=epsilon_greedy"]) == 0
    assert cli.main([*base, "policy=ucb1"]) == 0
    schemas = {pq.read_schema(p).remove_metadata() for p in store.cell_files(root, "bakeoff")}
    assert len(schemas) == 1 and schemas.pop().equals(store.SCHEMAS["bakeoff"])
    every = pd.read_parquet(root / "bakeoff")  # pandas' own reader sees every row and column
    assert len(every) == 4 and {"hparams", "hp_names", "hp_values"} <= set(every.columns)
    hp = {tuple(n) for n in every["hp_names"]}
    assert ("epsilon", "initial_value") in hp and len(hp) == 2
    df = store.load(root)
    assert df["hp_epsilon"].notna().sum() == 2 and df["hp_alpha"].notna().sum() == 2
    old = os.umask(0o022)
    try:
        p = store.atomic_write_bytes(tmp_path / "x" / "f.bin", b"1")
    finally:
        os.umask(old)
    for q in [p, *store.cell_files(root, "bakeoff")]:
        mode = stat.S_IMODE(q.stat().st_mode)
        assert mode & 0o044 == 0o044, oct(mode)  # group and others can read


def test_two_writers_of_one_cell_keep_one_row_per_key(tmp_path):
    """Concurrent merges (two jobs of a parallel multirun) are serialised; each key is stored once."""
    import threading

    rows = pd.DataFrame({
        "env": "e", "horizon": 2, "policy": "p", "policy_name": "random", "candidate": "c", "static": "{}",
        "hparams": "{}", "hp_names": [[]] * 6, "hp_values": [[]] * 6, "seed": np.arange(6),
        "cum_regret": np.arange(6.0), "cum_reward": 0.0, "regret_curve": [[0.0]] * 6, "curve_rounds": [[2]] * 6})
    parts = [rows.iloc[:4], rows.iloc[2:], rows.iloc[1:5], rows]
    ts = [threading.Thread(target=store.merge_cell, args=(tmp_path, "bakeoff", "h", "cell", r)) for r in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    df = store.load(tmp_path)
    assert sorted(df["seed"]) == list(range(6))
    np.testing.assert_array_equal(df.sort_values("seed")["cum_regret"], np.arange(6.0))


def test_load_refuses_duplicate_keys_written_by_hand(tmp_path):
    rows = pd.DataFrame({
        "env": "e", "horizon": 2, "policy": "p", "policy_name": "random", "candidate": "c", "static": "{}",
        "hparams": "{}", "hp_names": [[]] * 2, "hp_values": [[]] * 2, "seed": [0, 1],
        "cum_regret": [1.0, 2.0], "cum_reward": 0.0, "regret_curve": [[0.0]] * 2, "curve_rounds": [[2]] * 2})
    store.write_cell(tmp_path, "bakeoff", "h", "c1", rows)
    store.write_cell(tmp_path, "bakeoff", "h", "c2", rows.iloc[1:])
    with pytest.raises(store.StoreError, match="share a key"):
        store.load(tmp_path)
    with pytest.raises(ValueError, match="share a key"):
        store.write_cell(tmp_path, "bakeoff", "h", "c3", pd.concat([rows, rows]))
    with pytest.raises(ValueError, match="missing"):
        store.write_cell(tmp_path, "bakeoff", "h", "c4", rows.drop(columns="cum_reward"))
    assert json.loads(store.package_versions())["numpy"]
