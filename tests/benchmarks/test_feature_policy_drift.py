"""The float32-drift script of the feature policies runs end to end at a tiny size and prints one
JSON line with the fields docs/policies.md quotes (a smoke test; its figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a subprocess that imports JAX and compiles 4 programs: ~20 s on 2 loaded cores
def test_feature_policy_drift_prints_one_json_line():
    cmd = [sys.executable, "-m", "benchmarks.feature_policy_drift", "--arms", "3", "--dim", "2", "--features",
           "2", "--rounds", "20"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert set(out["policies"]) == {"hybrid_linucb", "lints_feature_prior"}
    for rows in out["policies"].values():
        assert [r["rounds"] for r in rows] == [20]
        for r in rows:
            assert r["mean_abs_err"] >= 0 and r["width_rel_err"] >= 0 and r["mean_scale"] > 0
