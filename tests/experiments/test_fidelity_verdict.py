""""What your logs can tell" (experiments.fidelity.what_logs_can_tell) and the main job's default
world (the OBD-shaped known world, env=obd_known).

References: the verdict's rule (the smallest studied size whose simulator tau reaches 0.9) checked
against Kendall's tau computed here with scipy from the study's own values; the known world's
exact values (envs.known.obd_world) for the registered env.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

import experiments.fidelity as fid
from envs.known import toy_world
from experiments import cli
from experiments.fidelity import FidelityError, panel_from_labels, what_logs_can_tell

PANEL = panel_from_labels(["random", "top_site", "epsilon_greedy", "random_slate", "top_site_slate"])
KW = {"factors": (1, 20), "panel": PANEL, "penalties": (3.0, 3.0)}


@pytest.fixture(scope="module")
def toy():
    return toy_world(seed=0)


@pytest.fixture(scope="module")
def verdict_and_study(toy, tmp_path_factory):
    """The verdict and, captured from the same call, the study behind it."""
    seen = {}
    real = fid.fidelity

    def spy(*a, **k):
        seen["result"] = real(*a, **k)
        return seen["result"]

    cache = tmp_path_factory.mktemp("verdict")
    mp = pytest.MonkeyPatch()
    mp.setattr(fid, "fidelity", spy)
    try:
        v = what_logs_can_tell(1000, world=toy, cache_dir=cache, **KW)
    finally:
        mp.undo()
    return v, seen["result"], cache


def test_verdict_follows_the_studys_kendall_tau(verdict_and_study):
    v, res, _ = verdict_and_study
    assert v["rows"] == [1000, 20000] and not v["cached"]
    taus = []
    for n in v["rows"]:
        t = res.values[res.values["rows"] == n].set_index("policy").reindex(res.policies)
        taus.append(kendalltau(t["truth"], t["simulator"]).statistic)  # tau-b, as the study's
    np.testing.assert_allclose(v["kendall_tau_simulator"], taus, atol=1e-12)
    need = next((n for n, t in zip(v["rows"], taus, strict=True) if t >= 0.9), None)
    assert v["rows_needed_for_tau_0.9"] == need
    assert v["verdict"].startswith(f"at 1,000 logged rows the simulator ranks the {len(PANEL)} policies")
    assert f"tau {taus[0]:.2f}" in v["verdict"] and v["verdict"].endswith("(one log draw per size)")
    # 20,000 rows hold ~1,000 clicks in the 5% world: the simulator ranks these 5 policies right
    assert taus[1] >= 0.9


def test_verdict_is_cached(verdict_and_study, toy, monkeypatch):
    v, _, cache = verdict_and_study

    def boom(*a, **k):
        raise AssertionError("the cached verdict was recomputed")

    monkeypatch.setattr(fid, "fidelity", boom)
    again = what_logs_can_tell(1000, world=toy, cache_dir=cache, **KW)
    assert again["cached"] and again["verdict"] == v["verdict"]
    assert again["rows_needed_for_tau_0.9"] == v["rows_needed_for_tau_0.9"]


@pytest.mark.parametrize("kw, name", [({"n_user": 0}, "rows"), ({"n_user": 100, "factors": (0,)}, "factors"),
                                      ({"n_user": 100, "factors": ()}, "factors")])
def test_bad_arguments_name_themselves(kw, name, toy):
    with pytest.raises(FidelityError, match=f"^{name}:"):
        what_logs_can_tell(world=toy, panel=PANEL, **kw)


def test_default_env_is_the_known_obd_world():
    from experiments.main_job import _default_env, compose

    c = compose([])
    assert c.env.label == "obd_known" and c.verdict.enabled
    assert {"linucb", "lints", "random"} <= set(c.policy.candidates)
    # your own logs mean the simulator fitted on them, unless an env is chosen
    assert _default_env(["data=parquet", "data.path=x.parquet"])[0] == "env=simulator"
    assert _default_env(["data.data_path=/obd"])[0] == "env=simulator"
    assert _default_env(["env=linear", "data=csv"]) == ["env=linear", "data=csv"]
    assert _default_env(["seeds=3"]) == ["seeds=3"]


def test_known_env_refuses_your_logs(tmp_path, capsys):
    logs = tmp_path / "l.parquet"
    logs.write_bytes(b"")
    rc = cli.main(["env=obd_known", "data=parquet", f"data.path={logs}", f"out_dir={tmp_path / 's'}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "env: obd_known" in err and "env=simulator" in err


def test_registered_env_is_the_known_world():
    """The env the main job builds is obd_world's: same sizes, and its expected rewards are the
    world's exact click matrix (top slot)."""
    from envs.known import obd_known_env, obd_world
    from envs.logged.simulator import expected_reward_matrix
    from envs.registry import by_cli_name

    decl = by_cli_name()["obd_known"]
    env = obd_known_env(interaction=0.7, seed=3)
    assert tuple(decl.env_sizes({})) == (env.num_actions, env.context_dim, env.len_list) == (80, 21, 1)
    world = obd_world("all", interaction=0.7, seed=3)
    Q = np.asarray(expected_reward_matrix(env), np.float64)[:, :, 0]
    np.testing.assert_allclose(Q, world.click_matrix()[:, :, 0], rtol=2e-5)
    with pytest.raises(ValueError, match="^len_list:"):
        obd_known_env(len_list=2)


def test_main_job_summary_names_the_world_and_prints_the_verdict(tmp_path, capsys, monkeypatch):
    """The summary of a default run: which world and why, and the verdict line (the study itself
    is replaced by a recorded call here; its numbers are tested above)."""
    calls = []

    def fake(n_user, **k):
        calls.append((n_user, k["factors"], k["campaign"]))
        return {"verdict": "VERDICT-LINE", "rows_needed_for_tau_0.9": None, "cached": False, "seconds": 1.0}

    monkeypatch.setattr(fid, "what_logs_can_tell", fake)
    rc = cli.main(["seeds=1", "horizon=5", "sweep.curve_points=2", "~policy.candidates.epsilon_greedy", "report=false", f"out_dir={tmp_path / 's'}",
                   "~policy.candidates.ucb1", "~policy.candidates.bernoulli_ts", "~policy.candidates.lints",
                   "~policy.candidates.linucb", "ope.enabled=false"])
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert rc == 0, out.err
    assert calls == [(10_000, [1, 10], "all")]
    assert "world: the OBD-shaped known world (env=obd_known)" in text
    assert "(10,000 rows, 38 clicks)" in text
    assert "what your logs can tell: VERDICT-LINE" in text


def test_calibrate_prints_the_verdict_and_writes_it(tmp_path, capsys, monkeypatch):
    """``screentest calibrate`` asks for the verdict at the logs' size (the sim-to-real check and
    the study are replaced by recorded calls; both are tested on their own)."""
    import json
    from types import SimpleNamespace

    import experiments.sim2real as s2r

    report = SimpleNamespace(to_text=lambda: "report", to_dict=lambda: {"auc": 0.5})
    res = SimpleNamespace(ok=True, to_text=lambda: "check", to_dict=lambda: {"ok": True})
    monkeypatch.setattr(s2r, "sim_to_real", lambda *a, **k: (res, SimpleNamespace(report=report)))
    calls = []

    def fake(n_user, **k):
        calls.append((n_user, k["factors"], k["campaign"], k["cache_dir"]))
        return {"verdict": "VERDICT-LINE", "rows_needed_for_tau_0.9": 100_000, "cached": True, "seconds": 0.0}

    monkeypatch.setattr(fid, "what_logs_can_tell", fake)
    assert cli.main(["calibrate", "--no-plot", "--out", str(tmp_path), "--verdict-factors", "1,10,200"]) == 0
    out = capsys.readouterr().out
    # 200 x 10,000 rows exceed the verdict's largest study size, so that size is left out
    assert calls == [(10_000, [1, 10], "all", tmp_path / "fidelity")]
    assert "what your logs can tell: VERDICT-LINE (cached)" in out
    doc = json.loads((tmp_path / "calibrate.json").read_text())
    assert doc["verdict"]["rows_needed_for_tau_0.9"] == 100_000


def test_calibrate_bad_verdict_factors(tmp_path, capsys):
    assert cli.main(["calibrate", "--out", str(tmp_path), "--verdict-factors", "1,x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--verdict-factors" in err and "'1,x'" in err
