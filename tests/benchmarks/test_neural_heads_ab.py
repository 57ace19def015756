"""Smoke test of benchmarks/neural_heads_ab.py at tiny sizes: the current neural.py against itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bandits.policies.neural as neural
from benchmarks import neural_heads_ab


@pytest.mark.slow
def test_heads_ab_prints_one_json_line_and_a_copy_agrees_with_itself(capsys):
    out = neural_heads_ab.main(["--old", str(Path(neural.__file__)), "--world", "linear", "--arms", "3",
                                "--dim", "2", "--seeds", "2", "--horizon", "40", "--repeats", "1"])
    line = capsys.readouterr().out.strip()
    assert json.loads(line) == out and "\n" not in line
    assert set(out["variants"]) == {"linucb"} | {f"{p}@{v}" for p in neural_heads_ab.POLICIES for v in ("old", "new")}
    assert out["variants"]["linucb"]["x_linucb_best"] == 1.0
    for p in neural_heads_ab.POLICIES:  # 40 rounds: past the first refresh (round 32)
        assert out["agreement"][p]["same_regret"], out["agreement"][p]


def test_heads_ab_refuses_a_missing_file():
    with pytest.raises(SystemExit):
        neural_heads_ab.main(["--old", "/nonexistent/neural.py"])
