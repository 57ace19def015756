"""The estimator registry: a contract over every registered estimator, a throwaway estimator
registered from a temporary module (seen by evaluate, the ``screentest ope`` CLI and the main
job's config with no other edit), and the declaration's own checks."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bandits.data import LoggedData
from bandits.estimators import (
    Estimator,
    estimate,
    estimator_names,
    evaluate,
    evaluate_batches,
    get_spec,
    register_estimator,
    round_rewards,
)
from bandits.estimators import registry as R
from bandits.estimators.mips import EmbeddedLog
from bandits.estimators.registry import HParam, Term
from bandits.estimators.slate import is_slate_estimator

N, K = 240, 4


def _uniform_log(seed=0, n=N):
    """Uniform logging (so replay applies), a random target, a reward model."""
    rng = np.random.default_rng(seed)
    data = LoggedData(context=rng.normal(size=(n, 2)), action=rng.integers(0, K, n),
                      reward=rng.binomial(1, 0.3, n).astype(float), pscore=np.full(n, 1 / K), n_actions=K)
    ad = rng.dirichlet(np.ones(K), size=n)[:, :, None]
    q = rng.uniform(0.1, 0.5, (n, K, 1))
    return data, ad, q


def _inputs_for(name):
    """The uniform log, with what an estimator needs beyond it: item embeddings and the logger's
    full distribution for mips (its exact route, so batches agree with the whole log)."""
    data, ad, q = _uniform_log()
    if name in ("mips", "snmips"):
        cats = np.array([[0], [0], [1], [1]])
        data = EmbeddedLog.from_logged(data.replace(action_context=cats), pi_b=np.full((N, K), 1 / K))
    return data, ad, q


@pytest.mark.parametrize("name", [nm for nm in estimator_names() if not is_slate_estimator(nm)])
def test_every_registered_estimator_is_consistent_across_entry_points(name):
    """estimate == mean(round_rewards) == evaluate's row == the streamed evaluation's row; the
    declared needs (a reward model, uniform logs) are enforced. (Slate estimators work on a
    SlateLog: their contract is in test_estimators_slate.py.)"""
    data, ad, q = _inputs_for(name)
    spec = get_spec(name)
    v = estimate(name, data, ad, q)
    assert math.isfinite(v)
    assert np.mean(round_rewards(name, data, ad, q)) == pytest.approx(v, rel=1e-12, abs=1e-15)
    df = evaluate(data, ad, estimators=[name], estimated_rewards=q)
    assert df["estimate"].iloc[0] == pytest.approx(v, rel=1e-12, abs=1e-15)
    halves = [np.arange(0, N // 2), np.arange(N // 2, N)]
    ads, qs = iter([ad[h] for h in halves]), iter([q[h] for h in halves])
    streamed = evaluate_batches([data.subset(h) for h in halves], lambda b: next(ads), estimators=[name],
                                estimated_rewards=lambda b: next(qs))
    assert streamed["estimate"].iloc[0] == pytest.approx(v, rel=1e-12, abs=1e-15)
    assert streamed["std_err"].iloc[0] == pytest.approx(df["std_err"].iloc[0], rel=1e-9)
    if spec.needs_reward_model:
        with pytest.raises(ValueError, match="estimated_rewards"):
            estimate(name, data, ad)
    if spec.uniform_logs:
        skewed = data.replace(pscore=np.where(data.action == 0, 0.4, 0.2))
        with pytest.raises(ValueError, match="pscore: .*needs uniformly logged data"):
            estimate(name, skewed, ad, q)


@pytest.fixture
def scratch_registry():
    """The registry's tables are restored (in place) after the test."""
    saved = [(t, dict(t)) for t in (R._ESTIMATORS, R._ALIASES, R.COLUMNS)]
    yield
    for table, content in saved:
        table.clear()
        table.update(content)


ROOT = Path(__file__).resolve().parents[3]


def _worked_example() -> str:
    """The module of docs/architecture.md's "Adding an estimator" (``snipw-cap``), so the doc's
    example is the one this test registers."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    return doc.split("# bandits/estimators/snipw_cap.py\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def throwaway(tmp_path, monkeypatch, scratch_registry):
    """Import a temporary module that registers ``snipw-cap``; the registry is restored after."""
    (tmp_path / "tmp_snipw_cap.py").write_text(_worked_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("tmp_snipw_cap")
    yield mod
    sys.modules.pop("tmp_snipw_cap", None)


def test_throwaway_estimator_in_evaluate(throwaway):
    assert "snipw-cap" in estimator_names()
    rng = np.random.default_rng(3)
    n = 500
    pscore = rng.uniform(0.05, 1.0, n)  # non-uniform logger: weights up to ~20
    data = LoggedData(context=rng.normal(size=(n, 2)), action=rng.integers(0, K, n),
                      reward=rng.binomial(1, 0.4, n).astype(float), pscore=pscore, n_actions=K)
    ad = rng.dirichlet(np.ones(K), size=n)[:, :, None]
    df = evaluate(data, ad, estimators=["snipw", "snips-cap", ("snipw-cap", {"cap": 2.0})]).set_index("estimator")
    assert list(df.index) == ["snipw", "snipw-cap", "snipw-cap(cap=2)"]
    # float64 reference: the formula and its delta-method standard error, written out
    w = np.array([ad[i, data.action[i], 0] / pscore[i] for i in range(n)], np.float64)
    r = data.reward
    for label, cap in (("snipw-cap", 10.0), ("snipw-cap(cap=2)", 2.0)):
        wc = np.minimum(w, cap)
        value = np.sum(wc * r) / np.sum(wc)
        psi = (wc * r - value * wc) / wc.mean()
        assert df.loc[label, "estimate"] == pytest.approx(value, rel=1e-12)
        assert df.loc[label, "std_err"] == pytest.approx(np.std(psi, ddof=1) / np.sqrt(n), rel=1e-9)
    assert np.max(w) > 2.0  # the cap binds, so the two rows differ
    assert df.loc["snipw-cap(cap=2)", "estimate"] != pytest.approx(df.loc["snipw", "estimate"], rel=1e-6)
    # an infinite cap is SNIPW exactly
    assert estimate("snipw-cap", data, ad, cap=math.inf) == pytest.approx(df.loc["snipw", "estimate"], rel=1e-14)
    with pytest.raises(ValueError, match=r"cap: expected a number >= 0 for 'snipw-cap', got -1"):
        Estimator("snipw-cap", cap=-1)
    with pytest.raises(ValueError, match=r"lambda_: estimator 'snipw-cap' takes no lambda_"):
        Estimator("snipw-cap", lambda_=3.0)


def test_throwaway_estimator_in_the_cli_and_the_main_job_config(throwaway, tmp_path, capsys):
    from experiments import ope_cli
    from experiments.builders import ConfigError
    from experiments.ope_stage import estimators_from_config

    assert "snipw-cap" in ope_cli.build_parser().format_help()
    assert [e.label for e in ope_cli.parse_estimators("ipw, snipw-cap")] == ["ipw", "snipw-cap"]
    assert [e.name for e in estimators_from_config({"names": ["snipw-cap", "dr"]})] == ["snipw-cap", "dr"]
    with pytest.raises(ConfigError, match=r"estimator.names: .*unknown estimator 'nope'.*'snipw-cap'"):
        estimators_from_config({"names": ["nope"]})
    # end to end on a small log: the uniform target's estimate is the logged mean (all weights 1)
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"context_0": rng.normal(size=n), "action": rng.integers(0, 3, n),
                       "reward": rng.binomial(1, 0.3, n).astype(float), "pscore": 1 / 3})
    path = tmp_path / "log.parquet"
    df.to_parquet(path)
    out = tmp_path / "t.csv"
    rc = ope_cli.main(["--data", str(path), "--policies", "random", "--estimators", "snipw-cap,ipw",
                       "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out).set_index("estimator")
    assert table.loc["snipw-cap", "estimate"] == pytest.approx(df["reward"].mean(), rel=1e-12)


def test_declarations_are_checked_when_registered(scratch_registry):
    with pytest.raises(ValueError, match=r"estimator 'ipw' is already registered"):
        register_estimator("ipw", lambda: (Term("w"),))
    with pytest.raises(ValueError, match=r"alias 'ips' of 'mine' is already taken by 'ipw'"):
        register_estimator("mine", lambda: (Term("w"),), aliases=("ips",))
    with pytest.raises(ValueError, match=r"'mine' uses unregistered column\(s\) \['nope'\]"):
        register_estimator("mine", lambda: (Term("nope"),))
    with pytest.raises(ValueError, match="lower-case"):
        register_estimator("Mine", lambda: (Term("w"),))
    with pytest.raises(ValueError, match="expected a number >= 0"):
        register_estimator("mine", lambda lam: (Term("w"),), hparams={"lam": HParam(-1.0)})
    with pytest.raises(ValueError, match=r"column 'w' is already registered"):
        register_estimator("mine", lambda: (Term("w"),), columns={"w": lambda c: c.data.reward})
    assert "mine" not in estimator_names()
    with pytest.raises(ValueError, match=r"estimators: unknown estimator 'mine'; expected one of \["):
        get_spec("mine")


def test_estimator_handle_labels_equality_and_pickling():
    import pickle

    e = Estimator("SWITCH_DR", lambda_=7)  # any case, any alias
    assert e.name == "switch-dr" and e.label == "switch-dr(lambda=7)" and e.lambda_ == 7.0
    assert e == Estimator("switch-dr", lambda_=7.0) and e != Estimator("switch-dr")
    assert pickle.loads(pickle.dumps(e)) == e  # the declaration's functions are not pickled
    assert Estimator("dr", lambda_=None) == Estimator("dr")  # None means the default
    with pytest.raises(TypeError):
        Estimator("ipw", 5.0)  # hyperparameters are keywords only
    with pytest.raises(AttributeError, match="has no hyperparameter 'lambda_'"):
        getattr(Estimator("snipw"), "lambda_")  # noqa: B009
