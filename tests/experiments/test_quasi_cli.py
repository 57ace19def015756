"""``screentest quasi`` subcommands (small sizes): JSON output, plots, one-line errors with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main as screentest
from experiments.quasi_cli import main


def _json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def region_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for r in range(12):
        start = 6 if r < 4 else (8 if r < 8 else None)
        for w in range(10):
            d = int(start is not None and w >= start)
            rows.append(dict(region=f"r{r:02d}", week=w, clicks=10 + r + 0.3 * w + 2.0 * d + rng.normal(0, 0.5), live=d))
    path = tmp_path / "regions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _cols(path):
    return [str(path), "--unit-col", "region", "--time-col", "week", "--outcome-col", "clicks", "--treatment-col", "live"]


def test_did_methods_on_a_file(region_csv, tmp_path, capsys):
    assert main(["did", *_cols(region_csv), "--json"]) == 0
    r = _json(capsys)
    assert r["method"] == "twfe" and r["n_treated"] == 8 and r["ci_low"] < 2.0 < r["ci_high"]
    assert main(["did", *_cols(region_csv), "--method", "cs", "--json", "--plot", str(tmp_path / "cs.png")]) == 0
    r = _json(capsys)
    assert abs(r["overall"]["estimate"] - 2.0) < 4 * r["overall"]["std_error"]
    assert (tmp_path / "cs.png").stat().st_size > 0
    assert main(["did", *_cols(region_csv), "--method", "event", "--leads", "3", "--lags", "2"]) == 0
    out = capsys.readouterr().out
    assert "pre-trend test" in out and "average of lags" in out


def test_prop99_commands_through_the_screentest_entry_point(capsys):
    assert screentest(["quasi", "did", "--data", "prop99", "--inference", "permutation", "--json"]) == 0
    r = _json(capsys)
    assert r["estimate"] == pytest.approx(-27.349, abs=1e-3) and r["inference"] == "permutation (exact)"
    assert r["p_value"] == pytest.approx(5 / 39)
    assert main(["sdid", "--data", "prop99", "--reps", "10", "--json"]) == 0
    assert _json(capsys)["estimate"] == pytest.approx(-15.6, abs=0.05)


def test_synth_and_rehearse_and_mde(region_csv, tmp_path, capsys):
    df = pd.read_csv(region_csv)
    df["live"] = ((df.region == "r00") & (df.week >= 6)).astype(int)
    one = tmp_path / "one.csv"
    df.to_csv(one, index=False)
    assert main(["synth", *_cols(one), "--alpha", "0.1", "--json", "--plot", str(tmp_path / "sc.png")]) == 0
    r = _json(capsys)
    assert r["estimate"]["n_treated"] == 1 and sum(r["weights"].values()) == pytest.approx(1.0)
    assert (tmp_path / "sc.png").stat().st_size > 0
    assert main(["rehearse", "--world", "toy", "--reps", "20", "--regions", "16", "--weeks", "10", "--treated", "4",
                 "--start", "6", "--estimators", "twfe,sc", "--json"]) == 0
    r = _json(capsys)
    assert r["reps"] == 20 and "coverage" in r["results"]["twfe"] and "skipped" in r["results"]["sc"]
    assert main(["mde", "--world", "toy", "--reps", "40", "--regions", "16", "--weeks", "10", "--treated", "4",
                 "--start", "6"]) == 0
    assert "minimum detectable effect" in capsys.readouterr().out


@pytest.mark.parametrize("args, msg", [
    (["did", "--data", "prop99"], "twfe: needs at least 2 treated units, the panel has 1"),
    (["did", "--data", "prop99", "--method", "event"], "event_study: needs at least 2 treated"),
    (["sdid", "--data", "prop99", "--inference", "jackknife"], "sdid: needs at least 2 treated units"),
    (["did"], "path: expected a CSV/parquet panel file or --data prop99"),
])
def test_errors_are_one_line_exit_2(args, msg, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and msg in err


def test_file_errors(region_csv, tmp_path, capsys):
    df = pd.read_csv(region_csv)
    bad = tmp_path / "bad.csv"
    df.drop(index=[5, 17]).to_csv(bad, index=False)
    assert main(["did", *_cols(bad)]) == 2
    assert "unbalanced panel" in capsys.readouterr().err
    assert main(["did", str(region_csv), "--unit-col", "region", "--time-col", "week", "--outcome-col", "y",
                 "--treatment-col", "live"]) == 2
    assert "--outcome-col: column 'y' not found" in capsys.readouterr().err
    assert main(["did", str(region_csv), "--unit-col", "region", "--time-col", "week", "--outcome-col", "clicks",
                 "--treated-units", "r00"]) == 2
    assert "--start: expected the first treated period" in capsys.readouterr().err
