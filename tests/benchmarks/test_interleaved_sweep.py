"""Smoke test of benchmarks/interleaved_sweep.py at a tiny size (two sweep compilations, so in the
slow step): one JSON line, the first policy's ratio to itself is 1, every time is positive; a bad
argument is refused naming it."""

from __future__ import annotations

import json

import pytest

from benchmarks import interleaved_sweep


@pytest.mark.slow
def test_interleaved_sweep_prints_one_json_line(capsys):
    assert interleaved_sweep.main(["--policies", "linucb,epsilon_greedy", "--arms", "3", "--dim", "2", "--members", "2",
                                   "--horizon", "4", "--repeat", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    pol = out["policies"]
    assert set(pol) == {"linucb", "epsilon_greedy"}
    assert pol["linucb"]["ratio_vs_linucb"] == [1.0, 1.0]
    assert all(v > 0 for p in pol.values() for v in p["us_per_member_round"] + p["ratio_vs_linucb"])


def test_interleaved_sweep_refuses_a_bad_size(capsys):
    with pytest.raises(SystemExit):
        interleaved_sweep.main(["--members", "0"])
    assert "--members: expected an integer >= 1, got 0" in capsys.readouterr().err
