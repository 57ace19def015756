"""The OPE studies at small scale: benchmarks/study_mips.py (its claim, with a standard-error
margin), benchmarks/study_selection.py and benchmarks/ope.py --only-extended (one JSON line each)."""

from __future__ import annotations

import json

import numpy as np

from benchmarks import ope, study_mips, study_selection


def test_study_mips_prints_one_json_line(capsys):
    """The claim itself (MIPS's variance far below IPW's at 1,000 items, both unbiased) is tested in
    tests/bandits/estimators/test_estimators_mips.py; this runs the script end to end, small."""
    study_mips.main(["--ks", "50,400", "--reps", "2", "--n", "200", "--truth-contexts", "2000"])
    out = json.loads(capsys.readouterr().out.strip())
    assert [r["K"] for r in out["results"]] == [50, 400]
    for r in out["results"]:
        assert all(np.isfinite(r[k]["rmse"]) for k in study_mips.ESTIMATORS)
    assert out["at_largest_K"]["K"] == 400


def test_study_selection_prints_one_json_line(capsys):
    study_selection.main(["--reps", "2", "--n", "300", "--truth-contexts", "2000"])
    out = json.loads(capsys.readouterr().out.strip())
    assert len(out["worlds"]) == 6
    assert set(out["worst_ratio_to_best_fixed"]) == {*study_selection.FIXED, "slope-ipw", "recommended"}
    assert all(np.isfinite(v) for w in out["worlds"] for v in w["rmse"].values())


def test_ope_extended_runs_without_obp(capsys):
    ope.main(["--only-extended", "--ext-slates", "300", "--ext-mips-n", "300", "--ext-tune-n", "1000", "--repeat", "1",
              "--peers-python", "/nonexistent/python"])
    out = json.loads(capsys.readouterr().out.strip())
    assert out["ext_obp"].startswith("skipped")
    assert set(out["slate_values"]) == {"sips", "iips", "rips", "snsips", "sniips", "snrips", "cascade-dr"}
    assert np.isfinite(out["mips_value"]) and out["slope_ipw_lambda"] > 0
