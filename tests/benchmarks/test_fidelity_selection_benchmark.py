"""benchmarks/fidelity_selection.py on a tiny study: one JSON line, records that follow their own
definitions, and the truth of the uniform policy equal to the world's closed form."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("fidelity_selection", ROOT / "benchmarks/fidelity_selection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_selection_study_smoke(tmp_path, capsys):
    mod = _module()
    res = mod.main(["--worlds", "toy", "--rows", "3000", "--labels", "random,top_site", "--factor", "2",
                    "--out", str(tmp_path / "s.json")])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1 and json.loads(lines[0])["summary"]["toy@3000"]["policies"] == 2
    recs = res["records"]
    assert [r["policy"] for r in recs] == ["random", "top_site"]
    for r in recs:
        assert r["best_abs_error"] <= r["recommended_abs_error"] + 1e-15
        assert r["within"] == (r["recommended_abs_error"] <= 2 * r["best_abs_error"] + 1e-12)
    # the uniform policy's exact value: the member-weighted mean click rate of the top slot
    from envs.known import toy_world

    w = toy_world(len_list=1, seed=0)
    closed = float(np.einsum("i,ik->", w.weights, w.click_matrix()[:, :, 0]) / w.n_actions)
    assert abs(recs[0]["truth"] - closed) < 1e-6 * closed
    assert json.loads((tmp_path / "s.json").read_text())["records"] == json.loads(json.dumps(recs))
