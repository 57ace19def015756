"""Smoke test of benchmarks/neural_heads_ab.py at tiny sizes: the current neural.py (and _mlp.py) against itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bandits.policies._mlp as mlp
import bandits.policies.neural as neural
from benchmarks import neural_heads_ab


@pytest.mark.slow
def test_heads_ab_prints_one_json_line_and_a_copy_agrees_with_itself(capsys):
    policies = ("neural_linear_ts", "neural_ucb")
    out = neural_heads_ab.main(["--old", str(Path(neural.__file__)), "--old-mlp", str(Path(mlp.__file__)),
                                "--policies", ",".join(policies), "--world", "linear", "--arms", "3",
                                "--dim", "2", "--seeds", "2", "--horizon", "40", "--repeats", "1"])
    line = capsys.readouterr().out.strip()
    assert json.loads(line) == out and "\n" not in line
    assert set(out["variants"]) == {"linucb"} | {f"{p}@{v}" for p in policies for v in ("old", "new")}
    assert out["variants"]["linucb"]["x_linucb_best"] == 1.0
    for p in policies:  # 40 rounds: past the first refresh (round 32)
        assert out["agreement"][p]["same_regret"] and out["agreement"][p]["max_abs_diff"] == 0.0, out["agreement"][p]


@pytest.mark.parametrize("args", [["--old", "/nonexistent/neural.py"],
                                  ["--old", str(Path(neural.__file__)), "--old-mlp", "/nonexistent/_mlp.py"],
                                  ["--old", str(Path(neural.__file__)), "--policies", "linucb"]])
def test_heads_ab_refuses_a_missing_file_or_an_unknown_policy(args, capsys):
    with pytest.raises(SystemExit):
        neural_heads_ab.main(args)
    assert args[-2] in capsys.readouterr().err


@pytest.mark.slow
def test_heads_ab_policy_only_times_each_copy_and_a_copy_acts_like_itself(capsys):
    out = neural_heads_ab.main(["--old", str(Path(neural.__file__)), "--policies", "neural_epsilon_greedy",
                                "--policy-only", "--world", "linear", "--arms", "3", "--dim", "2", "--seeds", "2",
                                "--horizon", "6", "--repeats", "1"])
    assert json.loads(capsys.readouterr().out.strip()) == out and out["world"] == "policy-only"
    assert set(out["variants"]) == {"linucb", "neural_epsilon_greedy@old", "neural_epsilon_greedy@new"}
    assert out["variants"]["linucb"]["x_linucb_best"] == 1.0
    assert all(v["members"] == 2 and v["best_us"] > 0 for v in out["variants"].values())
    assert out["agreement"]["neural_epsilon_greedy"]["same_actions"] == 1.0
