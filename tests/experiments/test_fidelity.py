"""``screentest fidelity`` (experiments/fidelity.py) in the small known world (envs.known.toy_world).

References: the world's exact values (checked here against a rollout of the JAX environment), the
known construction of the study (training on the earliest impressions, estimators on the rest),
and bounds derived from the estimators' own standard errors.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from bandits.engine.rollout import rollout
from envs.known import toy_world
from experiments import cli
from experiments.fidelity import (
    DEFAULT_PANEL,
    FidelityError,
    build_policy,
    fidelity,
    logs_verdict,
    panel_from_labels,
)

PANEL = "random,top_site,epsilon_greedy,linucb,random_slate,top_site_slate,slate_epsilon_greedy"


@pytest.fixture(scope="module")
def world():
    return toy_world(seed=0)


@pytest.fixture(scope="module")
def study(world):
    return fidelity(world, [100_000], panel=panel_from_labels(PANEL.split(",")), estimators=("ipw", "dr"),
                    item_prior="none", penalties=(3.0, 3.0), members=256, seed=0)


def test_truth_is_the_worlds_dynamics(world):
    """The exact value the study uses for a fixed ranker equals its mean expected reward in the env."""
    pol, _ = build_policy(panel_from_labels(["top_site_slate", "random"])[0], world)
    from experiments.fidelity import _action_table

    A = _action_table(pol, pol.init(jax.random.key(0), None), pol.default_hparams, world.observed_contexts(),
                      jax.random.key(0), True)
    exact = world.value(A, 2)
    traj = rollout(world.env(2), pol, 0, horizon=5000)
    per_round = np.asarray(traj.expected_reward, np.float64) / 2  # per slot-impression
    se = per_round.std() / np.sqrt(per_round.size)
    assert abs(per_round.mean() - exact) < 4 * se


def test_recovery_on_a_small_world(study):
    """10^5 uniformly logged rows (about 5,000 clicks) in a world inside the simulator's model class:
    the refitted simulator ranks the panel nearly perfectly and values it within a few percent."""
    s = study.summary.set_index("method")
    v = study.values
    assert len(v) == 7 and set(v["policy"]) == set(PANEL.split(","))
    assert s.loc["simulator", "clicks"] > 4000
    assert s.loc["simulator", "kendall_tau"] >= 0.8  # at most 2 of the 21 pairs swapped
    assert s.loc["simulator", "median_abs_rel_error"] <= 0.03
    assert s.loc["simulator", "decision_regret"] <= 0.02
    # the estimators see ~50,000 held-out rows: IPW is unbiased, each estimate within 4 of its SEs
    se = (v["ipw_hi"] - v["ipw_lo"]) / (2 * 1.959964)
    assert np.all(np.abs(v["ipw"] - v["truth"]) <= 4 * se)
    assert s.loc["ipw", "coverage"] >= 0.5
    assert s.loc["ipw", "kendall_tau"] >= 0.6
    # the fixed policies never train: random is the world's level, exactly
    r = v.set_index("policy")
    assert abs(r.loc["random_slate", "truth"] - 0.05) < 1e-12
    # learners beat random in the truth (they trained on ~2,500 clicks)
    assert r.loc["linucb", "truth"] > 1.5 * r.loc["random", "truth"]


def test_json_document_and_verdict(study):
    doc = study.to_json()
    for key in ("rows", "policies", "kendall_tau_simulator", "kendall_tau_ope", "median_abs_rel_error_simulator",
                "decision_regret_simulator", "estimators", "values", "verdict"):
        assert key in doc
    assert doc["rows"] == [100_000] and len(doc["policies"]) == 7
    assert set(doc["kendall_tau_ope"]) == {"ipw", "dr"}
    assert set(doc["estimators"]["ipw"]) >= {"kendall_tau", "median_abs_rel_error", "decision_regret", "coverage"}
    assert len(doc["values"]["100000"]["truth"]) == 7
    assert doc["per_replicate"]["simulator"]["kendall_tau"] == [[doc["kendall_tau_simulator"][0]]]
    json.dumps(doc)  # plain JSON
    line, need = logs_verdict(study)
    assert "100,000 logged rows" in line and "Kendall tau" in line
    assert need == (100_000 if doc["kendall_tau_simulator"][0] >= 0.9 else None)


def test_cli_json_schema(tmp_path, capsys):
    out = tmp_path / "f.json"
    rc = cli.main(["fidelity", "--world", "toy", "--rows", "20000", "--panel", "random,top_site,random_slate",
                   "--estimators", "ipw", "--penalties", "3,3", "--json", str(out), "--no-plot", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["rows"] == [20000] and doc["policies"] == ["random", "top_site", "random_slate"]
    for key in ("kendall_tau_simulator", "median_abs_rel_error_simulator", "decision_regret_simulator"):
        assert len(doc[key]) == 1 and isinstance(doc[key][0], float)
    assert list(doc["kendall_tau_ope"]) == ["ipw"] and "coverage" in doc["estimators"]["ipw"]


@pytest.mark.parametrize("argv, needle", [
    (["--rows", "0"], "--rows"),
    (["--rows", "-5"], "--rows"),
    (["--rows", "1e3.5"], "--rows"),
    (["--world", "mars"], "--world"),
    (["--world", "toy", "--panel", "linucb@5,random"], "--panel"),
    (["--world", "toy", "--panel", "nope,random"], "--panel"),
    (["--world", "toy", "--estimators", "ipw,magic"], "--estimators"),
    (["--logger", "greedy"], "--logger"),
    (["--world", "toy", "--item-prior", "site"], "--item-prior"),
    (["--penalties", "3"], "--penalties"),
])
def test_bad_input_one_line_exit_2(argv, needle, capsys):
    rc = cli.main(["fidelity", *argv, "--quiet", "--no-plot"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_panel_shape_checks(world):
    with pytest.raises(FidelityError, match="panel"):
        build_policy(panel_from_labels(["slate_linucb@3", "random"])[0], world)  # the toy world has 2 slots
    with pytest.raises(FidelityError, match="panel"):
        panel_from_labels(["random"])
    with pytest.raises(FidelityError, match="rows"):
        fidelity(world, [0])
    assert len(DEFAULT_PANEL) >= 10
    assert {build_policy(p, world)[0].len_list for p in DEFAULT_PANEL} == {1, 2}
