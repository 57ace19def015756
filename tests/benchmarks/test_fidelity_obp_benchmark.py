"""benchmarks/fidelity_obp.py on a tiny log: one JSON line with the documented keys, exact truths
equal to closed forms (uniform: 1/K; the classifier: its label accuracy, scikit-learn's
``accuracy_score``), our errors within a few standard errors, and obp's estimates equal to ours
(same data, policies and reward model) when the peers venv exists."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"dataset", "rows", "policy", "estimator", "truth", "ours", "ours_std_err", "z_ours", "rel_err_ours"}


def _module():
    spec = importlib.util.spec_from_file_location("fidelity_obp", ROOT / "benchmarks/fidelity_obp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_ours(res, capsys):
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1 and json.loads(lines[0])["rows"] == [600]
    recs = res["records"]
    assert len(recs) == 3 * 4
    for r in recs:
        assert KEYS <= set(r), set(r)
        assert r["rel_err_ours"] == pytest.approx(abs(r["ours"] - r["truth"]) / r["truth"], rel=1e-12)
        if r["estimator"] != "dm":  # DM's reward model is biased here; the others are unbiased
            assert abs(r["z_ours"]) < 4.0, r
    truth = {r["policy"]: r["truth"] for r in recs}
    assert truth["uniform"] == pytest.approx(1 / 3, abs=1e-12)  # iris: 3 classes
    assert truth["soft_classifier"] == pytest.approx(0.7 * truth["classifier"] + 0.3 / 3, abs=1e-12)
    return recs


def test_fidelity_obp_ours_and_truths(capsys):
    mod = _module()
    res = mod.main(["--datasets", "iris", "--rows", "600", "--no-obp"])
    assert res["obp"] == "skipped: --no-obp"
    recs = _check_ours(res, capsys)
    # the classifier's truth is its label accuracy over all examples (independent: scikit-learn)
    from envs.supervised import supervised_env

    p = supervised_env("iris").default_params
    X, y = np.asarray(p.contexts, np.float64), np.asarray(p.labels)
    pi = mod.target_policies(X, y, 0.3, 0)["classifier"]
    acc = accuracy_score(y, pi.argmax(axis=1))
    assert 0.5 < acc < 1.0
    assert next(r["truth"] for r in recs if r["policy"] == "classifier") == pytest.approx(acc, abs=1e-12)


@pytest.mark.slow
def test_fidelity_obp_matches_obp(capsys):
    mod = _module()
    if not mod.DEFAULT_PEERS.exists():
        pytest.skip(f"obp side needs the peers venv with obp 0.5.7 at {mod.DEFAULT_PEERS}; not present")
    res = mod.main(["--datasets", "iris", "--rows", "600"])
    assert res["obp"].startswith("obp 0.5.7")
    recs = _check_ours(res, capsys)
    for r in recs:
        assert {"obp", "rel_err_obp", "abs_diff"} <= set(r)
        assert r["abs_diff"] < 1e-9, r
    assert res["max_abs_diff_vs_obp"] == max(r["abs_diff"] for r in recs)
