"""The fingerprint benchmark runs end to end on a tiny log and prints one JSON line (a smoke test of
the script, not a timing: speed is never asserted in tests)."""

from __future__ import annotations

from tests.benchmarks._run import run_json


def test_fingerprint_benchmark_prints_one_json_line(tmp_path):
    (out,) = run_json(["benchmarks/fingerprint.py", "--rows", "3000", "--repeats", "1", "--dir", tmp_path], timeout=300)
    assert out["rows"] == 3000 and out["one_digest"] is True
    assert out["cold_s"] > 0 and out["warm_s"] > 0 and out["read_s"] > 0
