"""``screentest ope`` on your own logs (experiments/ope_cli.py, experiments/offline.py).

The user path end to end on a synthetic log with known truth: a logistic-Bernoulli world (per-item
linear click logits, so context x item interactions matter), logged by a uniform logger; tuned
LinUCB and LinTS grids trained on the first half, evaluated on the second. The truth of every grid
point comes from an independent float64 reference (tests/reference/numpy_policies.py's ridge
solves for the trained state, the known click probabilities for the value, numpy draws for LinTS's
Thompson probabilities), never from the code under test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import cli, ope_cli, store
from tests.reference.numpy_policies import RidgeRef

K, D = 6, 4
LINUCB_GRID = [0.0, 1.0, 4.0]
LINTS_GRID = [3.0, 6.0, 12.0]  # a LinTS user who believes the noise is large: its tuned value is clearly lower


def _world(seed: int, n: int, k: int = K, d: int = D, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(k, d)) * scale
    X = rng.normal(size=(n, d))
    A = rng.integers(0, k, n)
    mu = 1.0 / (1.0 + np.exp(-(X @ theta.T - 0.5)))
    R = (rng.random(n) < mu[np.arange(n), A]).astype(float)
    return X, A, R, mu


def _write(path, X, A, R, k=K, **extra):
    df = pd.DataFrame({f"context_{j}": X[:, j] for j in range(X.shape[1])})
    df = df.assign(action=A, reward=R, pscore=1.0 / k, **extra)
    df.to_parquet(path)
    return path


def _truth(X, A, R, mu, cut):
    """True value on the evaluation rows of each frozen grid point, in float64 numpy."""
    ridge = RidgeRef(K, D, lam=1.0)
    for x, a, r in zip(X[:cut], A[:cut], R[:cut], strict=True):
        ridge.update(x, a, r)
    theta = np.stack([np.linalg.solve(Am, b) for Am, b in zip(ridge.A, ridge.b, strict=True)])
    Xe, mue = X[cut:], mu[cut:]
    mean = Xe @ theta.T
    quad = np.einsum("ni,kij,nj->nk", Xe, np.linalg.inv(ridge.A), Xe)
    out = {}
    for alpha in LINUCB_GRID:
        s = mean + alpha * np.sqrt(quad)
        p = (s == s.max(axis=1, keepdims=True)).astype(float)
        out[("linucb", alpha)] = float(np.mean(np.sum(p / p.sum(axis=1, keepdims=True) * mue, axis=1)))
    g = np.random.default_rng(123)
    for v in LINTS_GRID:
        z = g.standard_normal((Xe.shape[0], 400, K))
        best = np.argmax(mean[:, None, :] + v * np.sqrt(quad)[:, None, :] * z, axis=2)
        p = np.stack([(best == a).mean(axis=1) for a in range(K)], axis=1)
        out[("lints", v)] = float(np.mean(np.sum(p * mue, axis=1)))
    return out


def _point(row) -> tuple[str, float]:
    hp = json.loads(row.hparams)
    return row.policy, hp["alpha"] if row.policy == "linucb" else hp["v"]


@pytest.mark.slow
def test_tuned_linucb_and_lints_rank_as_the_truth_does(tmp_path, monkeypatch, capsys):
    n = 16_000
    X, A, R, mu = _world(3, n)
    _write(tmp_path / "logs.parquet", X, A, R, timestamp=np.arange(n))
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["ope", "data=parquet", "data.path=logs.parquet", "data.timestamp_col=timestamp",
                   "policy=bakeoff_linear", "~policy.candidates.lin_epsilon_greedy", "~policy.candidates.random",
                   f"+policy.candidates.linucb.grid.alpha={LINUCB_GRID}", f"+policy.candidates.lints.grid.alpha={LINTS_GRID}",
                   "out=ope.csv"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    truth = _truth(X, A, R, mu, n // 2)
    table = pd.read_csv(tmp_path / "ope.csv")
    assert table.groupby(["policy", "hparams"]).ngroups == 6
    # the automatic reward model is the one that can represent context x item terms, and it is said
    assert "reward model 'logistic_interactions' chosen by 3-fold cross-validated log_loss" in out
    assert not table["dm_dr_disagree"].any() and "disagree" not in err
    for est in ("dr", "dm", "ipw"):
        t = table[table.estimator == est]
        pts = [(_point(r), r.estimate, (r.ci_high - r.ci_low) / (2 * 1.959964)) for r in t.itertuples()]
        checked = 0
        for i, (p, e, se) in enumerate(pts):
            for q, f, sf in pts[i + 1:]:
                gap = truth[p] - truth[q]
                if abs(gap) > 3 * (se + sf):  # a difference the data can resolve (conservative: se_a + se_b)
                    checked += 1
                    assert np.sign(e - f) == np.sign(gap), (est, p, q, e, f, truth[p], truth[q])
        assert checked >= {"dr": 9, "dm": 9, "ipw": 5}[est], (est, checked)  # the LinTS points against the rest
        # the truth is inside DR's interval for most points (95% intervals, six correlated points)
    dr = table[table.estimator == "dr"]
    for r in dr.itertuples():  # every point's truth within 4 standard errors (six correlated points)
        assert abs(r.estimate - truth[_point(r)]) < 4 * (r.ci_high - r.ci_low) / (2 * 1.959964), r
    # "tuned": each family's best grid point by DR, with its paired difference to the best on the same rows
    best = dr.loc[dr.groupby("policy")["estimate"].idxmax()].set_index("policy")
    tuned_truth = {f: max(v for (g, _), v in truth.items() if g == f) for f in ("linucb", "lints")}
    assert best.loc["linucb", "vs_best"] == 0.0  # LinUCB is the best candidate, as in the truth
    gap = best.loc["lints"]
    assert gap.vs_best_high < 0  # and the data resolve it: the paired interval excludes 0
    se = (gap.vs_best_high - gap.vs_best_low) / (2 * 1.959964)
    assert abs(gap.vs_best - (tuned_truth["lints"] - tuned_truth["linucb"])) < 4 * se
    assert json.loads(gap.hparams)["v"] == 3.0 and tuned_truth["lints"] == truth[("lints", 3.0)]
    # the results went to the store and the report, like the main job's
    rows = store.load(tmp_path / "screentest-results", "ope_logs")
    assert len(rows) == len(table) and set(rows["reward_model"]) == {"logistic_interactions"}
    report = (tmp_path / "screentest-results" / "report" / "report.md").read_text()
    assert "## Off-policy evaluation on logs" in report and "ope_logs.png" in report


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    X, A, R, _ = _world(0, 2400, k=4, d=3, scale=1.5)
    return _write(tmp_path_factory.mktemp("ope") / "log.parquet", X, A, R, k=4, timestamp=np.arange(2400))


def test_an_additive_reward_model_is_flagged_when_dm_and_dr_disagree(small_log, tmp_path, monkeypatch, capsys):
    """The former default (logistic on [x, one_hot(a)], no context x item term) cannot tell which item
    suits which member: DM values LinUCB near random play while DR does not, and the command says so."""
    monkeypatch.chdir(tmp_path)
    rc = ope_cli.main(["--data", str(small_log), "--policies", "random,linucb", "--estimators", "dm,dr",
                       "--reward-model", "logistic", "--out", "t.csv", "store=false"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    t = pd.read_csv(tmp_path / "t.csv").set_index(["policy", "estimator"])
    assert bool(t.loc[("linucb", "dr"), "dm_dr_disagree"]) and not bool(t.loc[("random", "dr"), "dm_dr_disagree"])
    assert t.loc[("linucb", "dm"), "estimate"] < t.loc[("linucb", "dr"), "ci_low"]
    assert re.search(r"warning: linucb: DM [\d.]+ \[[\d.]+, [\d.]+\] and DR [\d.]+ \[[\d.]+, [\d.]+\] disagree beyond "
                     r"their intervals: the reward model \(logistic\)", err)
    assert "reward model 'logistic' (given)" in out


def test_bts_and_every_policy_are_trained_and_said_so(tmp_path, monkeypatch, capsys):
    """Bernoulli TS on user logs is trained on the training rows (not a uniform Beta(1, 1) prior):
    its IPW estimate equals, within its Monte Carlo error, the IPW of the exact Thompson
    probabilities of the Beta posterior counted from the training rows (numpy quadrature)."""
    from tests.reference.numpy_policies import BernoulliTSRef

    rng = np.random.default_rng(5)
    n, k = 2000, 4
    A = rng.integers(0, k, n)
    R = (rng.random(n) < np.array([0.10, 0.20, 0.26, 0.30])[A]).astype(float)
    _write(tmp_path / "ctr.parquet", rng.normal(size=(n, 2)), A, R, k=k)
    monkeypatch.chdir(tmp_path)
    rc = ope_cli.main(["--data", "ctr.parquet", "--policies", "random,bts,ucb1", "--estimators", "ipw", "--out", "t.csv",
                       "store=false"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "bts (bts): 1 hyperparameter point(s) trained on 1,000 rows" in err
    assert "ucb1 (ucb1): 1 hyperparameter point(s) trained on 1,000 rows" in err
    t = pd.read_csv(tmp_path / "t.csv").set_index(["policy", "estimator"])
    assert t.loc[("bts", "ipw"), "trained_rows"] == 1000
    tr, ev = slice(0, 1000), slice(1000, n)
    clicks = np.bincount(A[tr], weights=R[tr], minlength=k)
    shows = np.bincount(A[tr], minlength=k)
    p = BernoulliTSRef(1 + clicks, 1 + shows - clicks).probs(None, np.ones(k, bool))
    c = k * np.bincount(A[ev], weights=R[ev], minlength=k) / 1000  # IPW = sum_a p_a c_a on uniform logs
    mc_se = np.sqrt(np.sum(c**2 * p * (1 - p)) / 10_000)  # mc_samples=10000 draws behind the CLI's p
    assert abs(t.loc[("bts", "ipw"), "estimate"] - p @ c) < 4 * mc_se + 1e-12
    assert abs(p @ c - R[ev].mean()) > 20 * mc_se  # a trained posterior, far from uniform play
    # progress and logs on stderr, the results on stdout
    assert "off-policy estimates" in out and "off-policy estimates" not in err
    assert "training 3 candidate(s)" in err and "training" not in out


def test_store_report_rerun_and_saved_policies(small_log, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["--data", str(small_log), "--policies", "linucb", "--estimators", "ipw,dr", "--reward-model", "logistic_interactions"]
    assert ope_cli.main([*argv, "save_policies=pols", "report=true"]) == 0
    first = store.load(tmp_path / "screentest-results", "ope_logs")
    # the columns are those docs/experiments.md's ope_logs table lists
    doc = (Path(__file__).resolve().parents[2] / "docs" / "experiments.md").read_text()
    section = doc[doc.index("`screentest ope` writes the table `ope_logs`"):]
    section = section[:section.index("`runs/ope-")]
    documented = {c for line in section.splitlines() if line.startswith("| `")
                  for c in re.findall(r"`(\w+)`", line.split("|")[1])}
    stored = {c for c in first.columns if not c.startswith("hp_")} - {"config_hash", "cell_id", *store.PROVENANCE_COLUMNS}
    assert documented == stored, (documented - stored, stored - documented)
    html_rc = cli.main(["report", "screentest-results", "--html"])
    assert html_rc == 0
    page = (tmp_path / "screentest-results" / "report" / "report.html").read_text()
    assert "<th>candidate</th>" in page and "data:image/png;base64," in page and 'src="ope_logs.png"' not in page
    capsys.readouterr()
    assert ope_cli.main(argv) == 0  # the same config again: shown from the store, nothing recomputed
    out, err = capsys.readouterr()
    assert "already in the store" in err and "training" not in err
    pd.testing.assert_frame_equal(store.load(tmp_path / "screentest-results", "ope_logs"), first)
    assert ope_cli.main([*argv, "--force"]) == 0  # --force recomputes the same rows
    assert "already in the store" not in capsys.readouterr().err
    pd.testing.assert_frame_equal(store.load(tmp_path / "screentest-results", "ope_logs"), first)
    changed = pd.read_parquet(small_log)
    changed.loc[:99, "reward"] = 1.0 - changed.loc[:99, "reward"]
    changed.to_parquet(tmp_path / "log.parquet")
    argv[1] = str(tmp_path / "log.parquet")
    assert ope_cli.main(argv) == 0  # other log content: a new config, computed, the old rows kept apart
    assert "already in the store" not in capsys.readouterr().err
    assert store.load(tmp_path / "screentest-results", "ope_logs")["config_hash"].nunique() == 2
    from bandits.serving import load_policy

    saved = load_policy(tmp_path / "pols" / "linucb")
    assert saved.name == "linucb" and saved.manifest["metadata"]["trained_rows"] == 1200
    x = np.array([0.2, -0.4, 1.0])
    assert saved.server().probs(x).sum() == pytest.approx(1.0)


def test_catalogue_size_and_missing_items(small_log, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = ope_cli.main(["--data", str(small_log), "--policies", "random", "--estimators", "ipw", "data.n_actions=6",
                       "--out", "t.csv", "store=false"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "warning: data.n_actions: 2 of 6 items never appear in the logs (4, 5)" in err
    t = pd.read_csv(tmp_path / "t.csv")
    # uniform over 6 items on logs of 4: a third of the target's mass is on items never logged
    assert t["unsupported_mass"].iloc[0] == pytest.approx(2 / 6)


@pytest.fixture(scope="module")
def odd_logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=(n, 2))
    base = {"context_0": x[:, 0], "context_1": x[:, 1], "reward": rng.integers(0, 2, n).astype(float), "pscore": 0.25}
    pd.DataFrame({**base, "action": rng.integers(1, 5, n)}).to_parquet(d / "one_based.parquet")
    pd.DataFrame({**base, "action": rng.choice([100_017, 100_230, 104_999, 250_000], n)}).to_parquet(d / "raw.parquet")
    pd.DataFrame({"reward": base["reward"], "pscore": 0.25, "action": rng.integers(0, 4, n)}).to_parquet(d / "noctx.parquet")
    (d / "a_file").write_text("x")
    return d


@pytest.mark.parametrize("argv, needle", [
    (["--data", "{d}/one_based.parquet"], "data.action_col: item 0 never appears and the ids run from 1 to 4: 1-based item ids? subtract 1"),
    (["--data", "{d}/one_based.parquet", "data.n_actions=4"],
     "data.n_actions: the log's action ids run 1..4, 1-based for 4 items; map them to 0..3"),
    (["--data", "{d}/raw.parquet"], "data.action_col: the logged ids run from 100017 to 250000 (4 distinct)"),
    (["--data", "{d}/raw.parquet", "data.n_actions=4"], "look like raw catalogue ids, but actions must be 0-based item indices"),
    (["--data", "{d}/log.parquet", "--n-actions", "many"], "--n-actions: expected an integer, got 'many'"),
    (["--data", "{d}/nope.parquet"], "data.path: no such file or directory"),
    (["--data", "{d}/log.txt"], "--data: expected 'obd' or a .parquet/.csv file, got"),
    (["--data", "{d}/noctx.parquet"], "estimator.names: dm/dr need a reward model, which needs context columns"),
    (["data=parquet", "data.path={d}/log.parquet", "data.timestamp_col=when"], "timestamp_col: column 'when' not found"),
    (["--data", "{d}/log.parquet", "--reward-model", "sklearn.nope.Model"], "reward_model._target_: cannot build 'sklearn.nope.Model'"),
    (["--data", "{d}/log.parquet", "reward_model=sklearn", "reward_model._target_=collections.OrderedDict"],
     "reward_model._target_: expected a scikit-learn estimator"),
    (["--data", "{d}/log.parquet", "reward_model.choose=[logistic,svm]"], "reward_model.choose: expected names among"),
    (["--data", "{d}/log.parquet", "--reward-model", "svm"], "--reward-model: expected auto, one of"),
    (["--data", "{d}/log.parquet", "--train-frac", "1"], r"--train-frac: expected a number in [0, 1), got 1.0"),
    (["--data", "{d}/log.parquet", "train_frac=-0.5"], r"train_frac: expected a number in [0, 1), got -0.5"),
    (["--data", "{d}/log.parquet", "rank_by=sndr"], "rank_by: expected one of the estimators ['ipw', 'snipw', 'dm', 'dr'], got 'sndr'"),
    (["--data", "{d}/log.parquet", "save_policies={d}/a_file"], "save_policies: expected a directory, got the file"),
    (["--data", "{d}/log.parquet", "out=t.xlsx"], "out: expected a path ending in .csv or .parquet, got 't.xlsx'"),
    (["--data", "{d}/log.parquet", "mc_samples=0"], "mc_samples: expected an integer >= 1, got 0"),
    (["--data", "{d}/log.parquet", "policy=slate_linucb"], "policy 'slate_linucb' (slate_linucb) fills a slate of len_list >= 2"),
    (["--data", "{d}/log.parquet", "nonsense=1"], "Could not override 'nonsense'"),
    (["--data", "{d}/log.parquet", "--alpha", "x"], "--alpha: expected a number, got 'x'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--data", "{d}/log.parquet", "--interval", "wide"], "argument --interval: invalid choice: 'wide'"),
    (["--data", "{d}/log.parquet", "estimator.interval=wide"],
     "estimator.interval: expected one of ['normal', 'bootstrap', 'bca', 'none'], got 'wide'"),
    (["--data", "{d}/log.parquet", "--interval", "bca", "--n-bootstrap", "1"],
     "estimator.n_bootstrap: expected an integer >= 2, got 1"),
])
def test_bad_input_is_one_line_naming_the_argument_exit_2(argv, needle, odd_logs, small_log, tmp_path, monkeypatch,
                                                          capsys):
    import shutil

    shutil.copy(small_log, odd_logs / "log.parquet")
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["ope", *[a.format(d=odd_logs) for a in argv]])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("screentest ope: error: "), err
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "screentest-results").exists()  # refused before any work


def test_bca_intervals_through_the_command(small_log, tmp_path, monkeypatch, capsys):
    """``--interval bca`` reaches the estimators: the rows are those of
    ``bandits.estimators.evaluate(..., interval="bca")`` on the same frozen policy (here uniform
    random, whose target probabilities are known), and differ from the percentile bootstrap's."""
    from bandits.data import LoggedData
    from bandits.estimators import evaluate

    monkeypatch.chdir(tmp_path)
    base = ["--data", str(small_log), "--policies", "random", "--estimators", "ipw,snipw", "--n-bootstrap", "200",
            "store=false", "train_frac=0"]
    assert ope_cli.main([*base, "--interval", "bca", "--out", "bca.csv"]) == 0
    assert ope_cli.main([*base, "--interval", "bootstrap", "--out", "pct.csv"]) == 0
    capsys.readouterr()
    bca, pct = (pd.read_csv(tmp_path / f).set_index("estimator") for f in ("bca.csv", "pct.csv"))
    assert set(bca["interval"]) == {"bca"}
    logs = LoggedData.from_parquet(small_log)
    ref = evaluate(logs, np.full((logs.n_rounds, logs.n_actions, 1), 1.0 / logs.n_actions), estimators=["ipw", "snipw"],
                   interval="bca", n_bootstrap=200, random_state=0).set_index("estimator")
    for e in ("ipw", "snipw"):
        assert bca.loc[e, "ci_low"] < bca.loc[e, "estimate"] < bca.loc[e, "ci_high"]
        np.testing.assert_allclose(bca.loc[e, ["estimate", "ci_low", "ci_high"]].to_numpy(float),
                                   ref.loc[e, ["estimate", "ci_low", "ci_high"]].to_numpy(float), rtol=1e-5)
    assert not np.allclose(bca[["ci_low", "ci_high"]].to_numpy(float), pct[["ci_low", "ci_high"]].to_numpy(float))


def test_ctrl_c_is_quiet(small_log, tmp_path, monkeypatch, capsys):
    from experiments import offline

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(offline, "evaluate_logs", interrupted)
    from experiments import cli

    assert cli.main(["ope", "--data", str(small_log), "--policies", "random", "--estimators", "ipw"]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "screentest: interrupted" and "Traceback" not in err


def test_help_lists_the_groups_and_cfg_prints_the_config(capsys):
    assert ope_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "reward_model" in out and "logistic_interactions" in out and "bakeoff_linear" in out
    assert ope_cli.main(["--cfg", "data=csv", "data.path=x.csv", "train_frac=0.3"]) == 0
    out = capsys.readouterr().out
    assert "train_frac: 0.3" in out and "source: csv" in out
