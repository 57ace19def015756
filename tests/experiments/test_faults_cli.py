"""Fault injection, the error contract of every entry point (main job, results, report, abtest,
calibrate): a bad value or file gives ONE line naming the argument and exit code 2 before any
work; ``calibrate`` tells a failed check (3) from a crash (1) and writes valid JSON; Ctrl-C ends a
run with one line and exit code 130, even with ``--quiet``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import cli, store

REPO = Path(__file__).resolve().parents[2]


def _one_error_line(capsys, prefix: str, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(prefix), err[0]
    for n in needles:
        assert n in err[0], (n, err[0])
    return err[0]


def _logs(path: Path, **changes) -> Path:
    from bandits.datasets.obd import load_obd

    df = load_obd().to_dataframe().iloc[:600]
    for k, v in changes.items():
        df[k] = v(df[k])
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("case", ["directory", "corrupt", "one_based_ids", "raw_ids", "one_based_slots"])
def test_main_job_refuses_bad_logs_in_one_line(case, tmp_path, capsys, monkeypatch):
    """Probe: a directory as ``data.path`` passed the pre-check and died later with a traceback."""
    monkeypatch.chdir(tmp_path)
    if case == "directory":
        path, want = tmp_path / "logs", "data.path: expected a parquet file, got a directory"
        path.mkdir()
    elif case == "corrupt":
        path, want = tmp_path / "logs.parquet", "data.path: cannot read the logs"
        path.write_bytes(b"PAR1" + b"\0" * 100)
    elif case == "one_based_ids":
        path, want = _logs(tmp_path / "logs.parquet", action=lambda a: a + 1), "1-based item ids? subtract 1"
    elif case == "raw_ids":
        path, want = _logs(tmp_path / "logs.parquet", action=lambda a: a + 100000), "raw catalogue ids"
    else:
        path, want = _logs(tmp_path / "logs.parquet", position=lambda p: p + 1), "1-based positions"
    args = ["data=parquet", f"data.path={path}", "policy=random", "quiet=true", f"out_dir={tmp_path / 's'}"]
    if case == "one_based_slots":
        args.append("data.position_col=position")
    assert cli.main(args) == 2
    _one_error_line(capsys, "screentest: error: invalid config: ", want)
    assert not (tmp_path / "s" / "bakeoff").exists()


def test_subcommands_refuse_bad_values_and_files_in_one_line(tmp_path, capsys):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"\x00\xff" * 40)
    root = tmp_path / "s"
    assert cli.main(["env=bernoulli", "env.num_actions=3", "policy=random", "seeds=2", "horizon=4", "quiet=true",
                     "report=false", f"out_dir={root}"]) == 0
    capsys.readouterr()
    cases = [
        (["results", str(a_file)], "screentest results: error: results directory", "is not a directory"),
        (["results", str(root), "--output", str(tmp_path / "no" / "x.csv"), "--format", "csv"],
         "screentest results: error: --output:", "does not exist"),
        (["results", str(root), "--format", "xml"], "screentest results: error:", "--format"),
        (["report", str(root), "--out", str(a_file)], "screentest report: error: --out:", "got the file"),
        (["report", str(tmp_path / "nope")], "screentest report: error:", "does not exist"),
        (["abtest", "analyze", str(garbage)], "screentest abtest analyze: error: path: cannot read", "as parquet"),
        (["abtest", "analyze", str(tmp_path)], "screentest abtest analyze: error: path:", "directory"),
        (["abtest", "aa", "--plot", str(tmp_path / "no" / "p.png")], "screentest abtest aa: error: --plot:", ""),
        (["abtest", "aa", "--tests", "0"], "screentest abtest aa: error: --tests:", ">= 1"),
        (["abtest", "plan", "--mde", "0.1", "--alpha", "2"], "screentest abtest plan: error: --alpha:", "(0, 1)"),
        (["calibrate", "--data-path", str(tmp_path / "missing")], "screentest calibrate: error: --data-path:",
         "no such directory"),
        (["calibrate", "--out", str(a_file)], "screentest calibrate: error: --out:", "got the file"),
        (["calibrate", "--members", "0"], "screentest calibrate: error: --members:", ">= 1"),
    ]
    for argv, prefix, needle in cases:
        assert cli.main(argv) == 2, argv
        _one_error_line(capsys, prefix, needle)


def test_calibrate_tells_a_failed_check_from_a_crash_and_writes_valid_json(tmp_path, monkeypatch, capsys):
    """Probe: ``calibrate`` exited 1 both for "check failed" and for a crash, and wrote NaN into JSON."""
    import experiments.sim2real as s2r

    report = SimpleNamespace(to_text=lambda: "report", to_dict=lambda: {"auc": float("nan"), "bins": [1.0, np.inf]})
    res = SimpleNamespace(ok=False, to_text=lambda: "check", to_dict=lambda: {"ok": False, "z": np.float64("nan")})
    monkeypatch.setattr(s2r, "sim_to_real", lambda *a, **k: (res, SimpleNamespace(report=report)))
    argv = ["calibrate", "--no-plot", "--no-verdict", "--out", str(tmp_path)]
    assert cli.main(argv) == 3
    payload = json.loads((tmp_path / "calibrate.json").read_text())  # strict JSON: no NaN tokens
    assert payload["sim_to_real"]["z"] is None and payload["calibration"]["bins"] == [1.0, None]
    assert "NaN" not in (tmp_path / "calibrate.json").read_text()

    def crash(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(s2r, "sim_to_real", crash)
    with pytest.raises(RuntimeError):  # a crash is not a failed check: it propagates (exit 1 from the shell)
        cli.main(argv)


def _wait_for(pred, timeout=120.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_ctrl_c_exits_quietly_with_130_even_when_quiet(tmp_path):
    """Probe: Ctrl-C printed 249 traceback lines, even with --quiet."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    root = tmp_path / "s"
    argv = [sys.executable, "-m", "experiments.cli", "env=linear", "env.num_actions=4", "env.context_dim=3",
            "policy=linucb", "seeds=400", "sweep.chunk_seeds=2", "horizon=20000", f"out_dir={root}", "--quiet"]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = _wait_for(lambda: len(store.cell_files(root, "bakeoff")) >= 1, proc=proc)
    assert started, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert err.decode().strip().splitlines() == ["screentest: interrupted"] and out == b""
    # what was finished is kept, verified and readable
    df = store.load(root)
    assert len(df) >= 2 and not df.duplicated(store.row_key_columns(df, "bakeoff")).any()


def test_results_warn_in_one_line_and_export_every_column(tmp_path, capsys):
    root = tmp_path / "s"
    assert cli.main(["env=bernoulli", "env.num_actions=3", "policy=random", "seeds=4", "sweep.chunk_seeds=2",
                     "horizon=4", "quiet=true", "report=false", f"out_dir={root}"]) == 0
    bad = store.cell_files(root, "bakeoff")[0]
    bad.write_bytes(b"")
    csv = tmp_path / "x.csv"
    assert cli.main(["results", str(root), "--format", "csv", "--output", str(csv)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("screentest results: warning: cell ") and bad.name in err[0]
    back = pd.read_csv(csv)
    assert len(back) == 2 and json.loads(back.loc[0, "hp_names"]) == []
