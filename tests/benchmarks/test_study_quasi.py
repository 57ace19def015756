"""Smoke test of benchmarks/study_quasi.py at a tiny size (the study itself: 500 rehearsals)."""

from __future__ import annotations

import json

from benchmarks import study_quasi


def test_study_quasi_prints_one_json_line(tmp_path, capsys):
    fig = tmp_path / "q.png"
    out = study_quasi.main(["--reps", "6", "--mde-reps", "6", "--world", "toy", "--scenarios", "holds", "trends",
                            "--regions", "16", "--weeks", "12", "--no-prop99", "--figure", str(fig)])
    line = capsys.readouterr().out.strip().splitlines()
    assert len(line) == 1 and json.loads(line[0])["study"] == "quasi"
    assert set(out["scenarios"]) == {"holds", "trends"} and len(out["mde"]) == 1
    r = out["scenarios"]["holds"]["results"]
    assert set(r) == set(study_quasi.RUN["holds"]) and 0 <= r["twfe"]["coverage"] <= 1
    assert fig.stat().st_size > 0
