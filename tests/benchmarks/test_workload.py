"""benchmarks/workload.py runs end to end on tiny sizes and prints every field the README quotes
(a smoke test of the script, not a timing: speed is never asserted in tests)."""

from __future__ import annotations

import math

import pytest

from tests.benchmarks._run import run_json


def _run(*args):
    cmd = ["-m", "benchmarks.workload", "--seeds", "4", "--horizon", "12", "--repeat", "1", "--devices", "1",
           "--penalties", "300,3000", *args]  # the CV search's choice: skip it
    return {row["policy"]: row for row in run_json(cmd, timeout=900, lines=None)}


@pytest.mark.slow
def test_single_slot_rows_with_references():
    rows = _run("--policies", "linucb,bernoulli_ts")
    assert set(rows) == {"random", "linucb", "bernoulli_ts"}
    for row in rows.values():
        for key in ("rounds_per_s", "median_rounds_per_s", "compile_s", "peak_rss_mb", "ratio_vs_random",
                    "ratio_vs_linucb"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["policy"], key, row[key])
        assert row["catalog"] == 80 and row["context_dim"] == 21 and row["len_list"] == 1
    assert rows["random"]["ratio_vs_random"] == 1.0 and rows["linucb"]["ratio_vs_linucb"] == 1.0
    assert list(rows) == ["linucb", "random", "bernoulli_ts"]  # printed as measured: baselines first
    assert math.isfinite(rows["linucb"]["ratio_vs_jax_reference"]) and rows["linucb"]["jax_reference_rounds_per_s"] > 0


@pytest.mark.slow
def test_slates_on_a_wider_catalog():
    rows = _run("--slots", "3", "--catalog", "120", "--policies", "slate_linucb", "--no-references")
    assert list(rows) == ["linucb@1slot", "random", "slate_linucb"]
    assert rows["slate_linucb"]["len_list"] == 3 and rows["slate_linucb"]["catalog"] == 120
    assert rows["linucb@1slot"]["len_list"] == 1 and rows["linucb@1slot"]["catalog"] == 120
    assert math.isfinite(rows["slate_linucb"]["ratio_vs_linucb"])
