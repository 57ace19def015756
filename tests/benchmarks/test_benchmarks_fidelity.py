"""The fidelity benchmark runs end to end on a tiny study and prints one JSON line with every field
docs/fidelity.md quotes (a smoke test of the script; the study's figures are not asserted here)."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks._run import run_json


@pytest.mark.slow
def test_fidelity_benchmark_prints_one_json_line(tmp_path):
    (out,) = run_json(["benchmarks/fidelity.py", "--world", "toy", "--rows", "4000", "--item-prior", "none",
                       "--panel", "random,top_site,random_slate", "--penalties", "3,3",
                       "--out", tmp_path / "f.json", "--plot", tmp_path / "f.png"])
    for key in ("rows", "clicks", "simulator_auc", "kendall_tau_simulator", "median_abs_rel_error_simulator",
                "max_abs_rel_error_simulator", "decision_regret_simulator", "estimators", "verdict",
                "rows_needed_for_tau_0.9", "elapsed_s"):
        assert key in out, key
    assert out["rows"] == [4000] and len(out["kendall_tau_simulator"]) == 1
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert json.loads((tmp_path / "f.json").read_text())["policies"] == ["random", "top_site", "random_slate"]


@pytest.mark.slow
def test_members_benchmark_prints_one_json_line():
    (out,) = run_json(["benchmarks/members.py", "--seeds", "0"])
    for key in ("model_loglik", "resample_loglik", "unseen_share", "model_loglik_seen", "resample_loglik_seen"):
        assert key in out, key
    assert len(out["runs"]) == 1 and out["n_rows"] == 10000


@pytest.mark.slow
def test_fidelity_fit_diagnostics_print_one_json_line():
    (out,) = run_json(["benchmarks/fidelity.py", "--world", "toy", "--rows", "4000", "--item-prior", "none",
                       "--penalties", "3,3", "--fit-only"])
    fits = out["fits"]
    assert [f["rows"] for f in fits] == [4000]
    assert {"penalties", "platt", "slot_effect_vs_top", "item_effect_corr_with_truth"} <= set(fits[0])
