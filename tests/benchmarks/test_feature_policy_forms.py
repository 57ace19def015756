"""The feature-policy forms script runs end to end at a tiny size, checks every variant against its
float64 reference and prints one JSON line with the fields docs/policies.md quotes (a smoke test;
its timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a subprocess that imports JAX and compiles 7 variants twice: ~20 s on 2 loaded cores
def test_feature_policy_forms_prints_one_json_line():
    cmd = [sys.executable, "-m", "benchmarks.feature_policy_forms", "--members", "2", "--arms", "3", "--dim", "4",
           "--features", "2", "--rounds", "2", "--repeat", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert set(out["hybrid_quad"]) == {"product", "pairs_gather", "pairs_concat", "split2", "context_first"}
    assert set(out["spd_inverse"]) == {"gauss_jordan", "blocked"}
    for group in ("hybrid_quad", "spd_inverse"):
        for row in out[group].values():
            assert row["best"] > 0 and row["median"] >= row["best"]
