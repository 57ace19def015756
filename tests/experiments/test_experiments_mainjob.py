"""The full main job on the bundled OBD sample, at toy sizes: simulator fit, bake-off, behaviour
logs, OPE against the simulator's exact truth, calibration, report with all four kinds of plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import cli, store

pytest.importorskip("envs.logged", reason="member simulator module not present")
pytest.importorskip("bandits.estimators", reason="estimators module not present")

# the simulator env (the default world is the known one), without the contextual candidates (their
# per-row action probabilities in the OPE stage double this file's time) and without the verdict
TOY = ["env=simulator", "verdict.enabled=false", "~policy.candidates.linucb", "~policy.candidates.lints", "seeds=3", "horizon=40", "sweep.curve_points=4", "ope.seeds=2", "ope.rounds=400", "ope.mc_samples=200",
       "env.penalties=[300,3000]", "estimator.reward_model_folds=2", "quiet=true"]


@pytest.fixture(scope="module")
def obd_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("obd") / "store"
    assert cli.main([*TOY, f"out_dir={root}"]) == 0
    return root


def test_main_job_writes_all_tables(obd_store):
    assert store.tables(obd_store) == ["bakeoff", "calibration", "ope"]
    b = store.load(obd_store, "bakeoff")
    assert set(b["policy"]) == {"bernoulli_ts", "ucb1", "epsilon_greedy", "random"}
    assert len(b) == 4 * 3 and (b["env"] == "member_simulator").all()
    # clicks: the per-round regret of a click model lies in [0, 1]
    assert ((b["cum_regret"] >= -1e-6) & (b["cum_regret"] <= 40)).all()


def test_ope_rows_carry_truth_and_valid_intervals(obd_store):
    o = store.load(obd_store, "ope")
    assert set(o["estimator"]) == {"ipw", "snipw", "dm", "dr"}
    assert len(o) == 4 * 4 * 2 and not o.duplicated(["policy", "estimator", "seed"]).any()
    assert (o["ci_lo"] <= o["estimate"] + 1e-12).all() and (o["estimate"] <= o["ci_hi"] + 1e-12).all()
    # truth is a click probability and is one number per candidate (the frozen policy's exact value)
    assert o.groupby("policy")["truth"].nunique().eq(1).all()
    assert ((o["truth"] > 0) & (o["truth"] < 0.05)).all()
    # the uniform logger's IPW estimate of the uniform policy is exactly the logged mean click
    r = o[(o.policy == "random") & (o.estimator == "ipw")]
    # (up to float32 rounding of the logged propensity 1/K: relative error <= 2**-23 per weight)
    np.testing.assert_allclose(r["estimate"], r["logged_mean_reward"], rtol=1e-6)


def test_calibration_table_matches_simulator_report(obd_store):
    cal = store.load(obd_store, "calibration")
    assert len(cal) >= 3
    assert ((cal["predicted"] > 0) & (cal["predicted"] < 1)).all()
    assert (cal["ci_lo"] <= cal["observed"] + 1e-12).all() and (cal["observed"] <= cal["ci_hi"] + 1e-12).all()
    # the held-out rows of the OBD sample: 25% of 10,000 logged impressions
    assert cal["count"].sum() == pytest.approx(2500, abs=2)


def test_report_has_ope_and_calibration_plots(obd_store, tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "rep"
    assert cli.main(["report", str(obd_store), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    for name in ("ope.png", "calibration.png"):
        assert f"]({name})" in md
        img = mpimg.imread(out / name)
        assert img.shape[0] >= 300 and img.shape[1] >= 300
        assert img[..., :3].std() > 0.05
    assert "Off-policy evaluation against the simulator's truth" in md


def test_rerun_of_main_job_recomputes_nothing(obd_store, capsys):
    before = {p: p.stat().st_mtime_ns for t in ("bakeoff", "ope") for p in store.cell_files(obd_store, t)}
    assert cli.main([*TOY[:-1], f"out_dir={obd_store}", "report=false"]) == 0
    err = capsys.readouterr().err
    assert "0 cell(s) computed" in err and "0 log(s) evaluated, 2 already in the store" in err
    after = {p: p.stat().st_mtime_ns for t in ("bakeoff", "ope") for p in store.cell_files(obd_store, t)}
    assert after == before
    meta = store.read_run_meta(obd_store)
    assert meta and meta[0]["config"]["env"]["label"] == "member_simulator"
    assert json.loads(meta[0]["versions"])["jax"]


def test_own_logs_in_a_parquet_file(tmp_path, capsys):
    """docs/experiments.md's path: logs in a parquet file -> simulator -> bake-off -> OPE -> report."""
    from bandits.datasets.obd import load_obd

    logs = tmp_path / "my_logs.parquet"
    load_obd().to_dataframe().to_parquet(logs)  # context_0..19, action, reward, pscore, position
    root = tmp_path / "store"
    rc = cli.main(["data=parquet", f"data.path={logs}", "data.position_col=position", "policy=bakeoff",
                   "~policy.candidates.epsilon_greedy", "~policy.candidates.ucb1",
                   "estimator.names=[ipw,snipw]", *TOY, f"out_dir={root}"])
    assert rc == 0, capsys.readouterr().err
    assert set(store.load(root)["policy"]) == {"bernoulli_ts", "random"}
    o = store.load(root, "ope")
    assert set(o["estimator"]) == {"ipw", "snipw"} and len(o) == 2 * 2 * 2
    # with your own logs the simulator is fitted on them only (no OBD site prior)
    assert "item_prior: auto" in o["config_yaml"].iloc[0]
    assert (tmp_path / "store" / "report" / "report.md").is_file()
