"""The fingerprint benchmark runs end to end on a tiny log and prints one JSON line (a smoke test of
the script, not a timing: speed is never asserted in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fingerprint_benchmark_prints_one_json_line(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/fingerprint.py", "--rows", "3000", "--repeats", "1",
                           "--dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["rows"] == 3000 and out["one_digest"] is True
    assert out["cold_s"] > 0 and out["warm_s"] > 0 and out["read_s"] > 0
