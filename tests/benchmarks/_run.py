"""The smoke tests' shared step: run a benchmark script in a subprocess and read its JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_json(args: list[str], timeout: int = 600, lines: int | None = 1) -> list[dict]:
    """Run ``python *args`` from the repository root; assert that it exits 0 (its stderr tail is the
    failure message) and return its non-blank stdout lines parsed as JSON, exactly ``lines`` of
    them (any number when ``lines`` is None)."""
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines is None or len(rows) == lines, proc.stdout[-3000:]
    return rows
