"""Smoke tests of the neural study, speed and floor scripts at tiny sizes (the full runs are in
benchmarks/study_neural.py, benchmarks/neural_speed.py and benchmarks/neural_floor.py; their claims are tested at small scale in
tests/bandits/policies/test_neural.py)."""

from __future__ import annotations

import json

import pytest

from benchmarks import neural_floor, neural_speed, study_neural


@pytest.mark.slow
def test_study_prints_one_json_line_with_paired_intervals_and_a_figure(tmp_path, capsys):
    fig = tmp_path / "neural.png"
    out = study_neural.main(["--worlds", "circles", "--policies", "lints,neural_linear_ts", "--seeds", "3",
                             "--horizon", "40", "--figure", str(fig)])
    line = capsys.readouterr().out.strip()
    assert json.loads(line) == out and "\n" not in line
    w = out["worlds"]["circles"]
    assert set(w["regret"]) == {f"{p}@{v:g}" for p in ("lints", "neural_linear_ts") for v in study_neural.TS_V}
    for v in study_neural.TS_V:
        p = w["paired"][f"neural_linear_ts-lints@{v:g}"]
        lo, hi = p["ci95"]
        assert lo <= p["mean"] <= hi
    assert fig.stat().st_size > 10_000


@pytest.mark.slow
def test_speed_prints_one_json_line_with_same_run_ratios(capsys):
    out = neural_speed.main(["--seeds", "4", "--horizon", "8", "--repeats", "1", "--arms", "3", "--dim", "2",
                             "--policies", "lints,neural_epsilon_greedy"])
    assert json.loads(capsys.readouterr().out.strip()) == out
    p = out["policies"]
    assert p["lints"]["lints_over_this_best"] == 1.0
    assert p["neural_epsilon_greedy"]["rounds_x_seeds_per_s_best"] > 0


@pytest.mark.slow
def test_floor_prints_one_json_line_with_both_variants_of_each_policy(capsys):
    out = neural_floor.main(["--world", "linear", "--arms", "3", "--dim", "2", "--seeds", "4", "--horizon", "8",
                             "--repeats", "1", "--policies", "neural_epsilon_greedy"])
    assert json.loads(capsys.readouterr().out.strip()) == out
    v = out["variants"]
    assert set(v) == {"linucb", "neural_epsilon_greedy", "neural_epsilon_greedy@train_steps=0"}
    assert v["linucb"]["x_linucb_best"] == 1.0
    assert all(x["best_s"] > 0 and x["best_s"] <= x["median_s"] for x in v.values())
