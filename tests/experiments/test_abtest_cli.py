"""``screentest abtest`` subcommands (small sizes): JSON output, plots, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from experiments.abtest_cli import main


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()[-1]
    return json.loads(out)


def test_plan_and_aa(tmp_path, capsys):
    assert main(["plan", "--mde", "0.05", "--baseline", "0.1", "--json", "--plot", str(tmp_path / "p.png")]) == 0
    r = _json(capsys)
    assert r["fixed"]["n_per_group"] == 686 and r["sequential"]["power"] >= 0.8
    assert (tmp_path / "p.png").stat().st_size > 0
    assert main(["aa", "--tests", "200", "--n", "300", "--looks", "20", "--json", "--plot", str(tmp_path / "a.png")]) == 0
    r = _json(capsys)
    assert r["naive_any_look"] > r["msprt"] and len(r["naive_by_look"]) == r["looks"]


def test_analyze_file_with_cuped_and_bootstrap(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    g = rng.integers(0, 2, n)
    y = 0.6 * x + 0.8 * rng.normal(size=n) + 0.1 * g
    path = tmp_path / "res.csv"
    pd.DataFrame(dict(arm=np.where(g, "new", "control"), y=y, pre=x)).to_csv(path, index=False)
    rc = main(["analyze", str(path), "--group-col", "arm", "--covariate-col", "pre", "--bootstrap", "500",
               "--control", "control", "--json", "--plot", str(tmp_path / "an.png")])
    assert rc == 0
    r = _json(capsys)
    ya, yb = y[g == 0], y[g == 1]
    assert abs(r["msprt"]["estimate"] - (yb.mean() - ya.mean())) < 1e-9  # CSV round trip
    assert r["cuped"]["variance_factor"] < 0.8 and r["bootstrap"]["ci_low"] < r["bootstrap"]["ci_high"]


def test_errors_return_2_with_a_message(tmp_path, capsys):
    assert main(["plan", "--mde", "0.1", "--sd", "1", "--alpha", "1.5"]) == 2
    assert "alpha" in capsys.readouterr().err
    path = tmp_path / "r.csv"
    pd.DataFrame(dict(group=["a", "b", "a"], y=[1.0, np.nan, 2.0])).to_csv(path, index=False)
    assert main(["analyze", str(path)]) == 2
    assert "finite" in capsys.readouterr().err
    assert main(["analyze", str(path), "--metric-col", "nope"]) == 2
    assert "--metric-col" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.csv")]) == 2
