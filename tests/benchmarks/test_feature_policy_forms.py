"""The feature-policy forms script runs end to end at a tiny size, checks every variant against its
float64 reference and prints one JSON line with the fields docs/policies.md quotes (a smoke test;
its timings are not asserted)."""

from __future__ import annotations

import pytest

from tests.benchmarks._run import run_json


@pytest.mark.slow  # a subprocess that imports JAX and compiles 7 variants twice: ~20 s on 2 loaded cores
def test_feature_policy_forms_prints_one_json_line():
    (out,) = run_json(["-m", "benchmarks.feature_policy_forms", "--members", "2", "--arms", "3", "--dim", "4",
                       "--features", "2", "--rounds", "2", "--repeat", "1"], timeout=300)
    assert set(out["hybrid_quad"]) == {"product", "pairs_gather", "pairs_concat", "split2", "context_first"}
    assert set(out["spd_inverse"]) == {"gauss_jordan", "blocked"}
    for group in ("hybrid_quad", "spd_inverse"):
        for row in out[group].values():
            assert row["best"] > 0 and row["median"] >= row["best"]
