"""``screentest ope`` (experiments/ope_cli.py) on a small synthetic parquet log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import ope_cli


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    n, K = 400, 3
    x = rng.normal(size=(n, 2))
    a = rng.integers(0, K, n)
    r = (rng.random(n) < 0.2 + 0.2 * (a == 1)).astype(float)
    df = pd.DataFrame({"context_0": x[:, 0], "context_1": x[:, 1], "action": a, "reward": r, "pscore": 1 / K})
    path = tmp_path_factory.mktemp("ope") / "log.parquet"
    df.to_parquet(path)
    return path


def test_cli_end_to_end(log_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, png = tmp_path / "t.csv", tmp_path / "t.png"
    rc = ope_cli.main(["--data", str(log_path), "--policies", "random,linucb", "--estimators", "ipw,snipw,dr",
                       "--out", str(out), "--plot", str(png), "--n-folds", "2"])
    assert rc == 0
    table = pd.read_csv(out)
    assert sorted(table["policy"].unique()) == ["linucb", "random"]
    assert len(table) == 6 and png.stat().st_size > 1000
    # uniform target on uniform logs: IPW is exactly the logged mean over the evaluation rows
    rnd = table[(table.policy == "random") & (table.estimator == "ipw")].iloc[0]
    assert rnd["relative"] == pytest.approx(1.0)
    assert "off-policy estimates" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["--out", "x.txt"], "out: expected a path ending in .csv or .parquet"),
    (["--plot", "x.jpg"], "plot: expected a path ending in .png"),
    (["--policies", "nope"], "--policies: unknown policy 'nope'"),
    (["--estimators", "ipw,foo"], "--estimators: estimators: unknown estimator 'foo'"),
    (["--alpha", "2"], r"--alpha: expected a number in \(0, 1\), got 2.0"),
    (["--train-frac", "1.5", "--policies", "linucb"], r"--train-frac: expected a number in \[0, 1\), got 1.5"),
])
def test_cli_errors(log_path, argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ope_cli.main(["--data", str(log_path), *argv]) == 2
    import re

    assert re.search(match, capsys.readouterr().err)


def test_cli_missing_file(capsys):
    assert ope_cli.main(["--data", "/nonexistent/log.parquet"]) == 2
    assert "data.path: no such file or directory: '/nonexistent/log.parquet'" in capsys.readouterr().err
