"""The float32-drift script of the feature policies runs end to end at a tiny size and prints one
JSON line with the fields docs/policies.md quotes (a smoke test; its figures are not asserted)."""

from __future__ import annotations

import pytest

from tests.benchmarks._run import run_json


@pytest.mark.slow  # a subprocess that imports JAX and compiles 4 programs: ~20 s on 2 loaded cores
def test_feature_policy_drift_prints_one_json_line():
    (out,) = run_json(["-m", "benchmarks.feature_policy_drift", "--arms", "3", "--dim", "2", "--features",
                       "2", "--rounds", "20"], timeout=300)
    assert set(out["policies"]) == {"hybrid_linucb", "lints_feature_prior"}
    for rows in out["policies"].values():
        assert [r["rounds"] for r in rows] == [20]
        for r in rows:
            assert r["mean_abs_err"] >= 0 and r["width_rel_err"] >= 0 and r["mean_scale"] > 0
