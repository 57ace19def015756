"""The screentest main job end to end: multirun row counts, resume, results/report subcommands,
joblib and Ray launchers giving identical rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments import cli, store

# small synthetic world so the compiles stay cheap
SMALL = ["env=linear", "env.num_actions=3", "env.context_dim=2", "sweep.curve_points=4", "quiet=true"]


@pytest.fixture(scope="module")
def multirun_store(tmp_path_factory):
    """The issue's headline sweep (short horizon): 2 policies x 2 alphas x 200 seeds."""
    root = tmp_path_factory.mktemp("multirun") / "store"
    rc = cli.main(["-m", "policy=linucb,lints", "policy.alpha=0.1,1.0", "seeds=200", "horizon=15",
                   "sweep.chunk_seeds=100", *SMALL, f"out_dir={root}"])
    assert rc == 0
    return root


def test_multirun_gives_2x2x200_rows(multirun_store):
    df = store.load(multirun_store)
    assert len(df) == 2 * 2 * 200
    assert not df.duplicated(store.row_key_columns(df)).any()
    counts = df.groupby(["policy", "hparams"]).size()
    assert len(counts) == 4 and (counts == 200).all()
    # alpha reaches LinUCB as alpha and LinTS as its posterior scale v
    assert sorted(df.loc[df.policy == "linucb", "hp_alpha"].unique()) == [0.1, 1.0]
    assert sorted(df.loc[df.policy == "lints", "hp_v"].unique()) == [0.1, 1.0]
    # provenance on every row
    assert df["config_yaml"].str.contains("horizon: 15").all()
    assert df["git_commit"].str.len().min() >= 7
    assert all("jax" in json.loads(v) for v in df["versions"].unique())
    # exact regret: cumulative regret is non-negative and the curve ends at the final value
    assert (df["cum_regret"] >= -1e-4).all()
    last = np.array([c[-1] for c in df["regret_curve"]])
    np.testing.assert_allclose(last, df["cum_regret"], rtol=1e-6)


def test_rerun_skips_finished_cells(multirun_store, capsys):
    before = {p: p.stat().st_mtime_ns for p in store.cell_files(multirun_store, "bakeoff")}
    rc = cli.main(["policy=linucb", "policy.alpha=0.1", "seeds=200", "horizon=15", "sweep.chunk_seeds=100",
                   *SMALL[:-1], f"out_dir={multirun_store}", "report=false"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "0 cell(s) computed, 2 already in the store" in err
    after = {p: p.stat().st_mtime_ns for p in store.cell_files(multirun_store, "bakeoff")}
    assert after == before


def test_results_subcommand_summary_and_exports(multirun_store, tmp_path, capsys):
    assert cli.main(["results", str(multirun_store)]) == 0
    out = capsys.readouterr().out
    assert "800 rows" in out and "linucb" in out and "lints" in out
    csv = tmp_path / "rows.csv"
    assert cli.main(["results", str(multirun_store), "--format", "csv", "--output", str(csv)]) == 0
    back = pd.read_csv(csv)
    assert len(back) == 800 and json.loads(back.loc[0, "regret_curve"])
    pq = tmp_path / "rows.parquet"
    assert cli.main(["results", str(multirun_store), "--format", "parquet", "-o", str(pq)]) == 0
    assert len(pd.read_parquet(pq)) == 800
    assert cli.main(["results", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _png_ok(path, min_w=300, min_h=150):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (path, img.shape)
    rgb = img[..., :3]
    # not blank: many distinct colours, and a good share of non-white pixels
    assert rgb.std() > 0.05
    assert (rgb.min(axis=-1) < 0.9).mean() > 0.01


def test_report_subcommand_writes_markdown_html_and_pngs(multirun_store, tmp_path):
    out = tmp_path / "rep"
    assert cli.main(["report", str(multirun_store), "--out", str(out), "--html"]) == 0
    md = (out / "report.md").read_text()
    assert "linucb (alpha=0.1, lam=1)" in md and "paired" in md
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} == {"regret.png", "paired.png"}  # one configuration: stable names
    for p in pngs:
        assert f"]({p.name})" in md
        _png_ok(p)
    assert "<img" in (out / "report.html").read_text()
    assert cli.main(["report", str(tmp_path / "empty")]) == 2


def test_summary_paired_difference_matches_numpy(multirun_store):
    from experiments.report import summarize

    df = store.load(multirun_store)
    s = summarize(df)
    best = s[s.vs_best == "best"].iloc[0]
    other = s[s.vs_best != "best"].iloc[0]
    a = df[(df.policy == other.policy) & (df.hparams == other.hparams)].set_index("seed")["cum_regret"]
    b = df[(df.policy == best.policy) & (df.hparams == best.hparams)].set_index("seed")["cum_regret"]
    d = (a - b.reindex(a.index)).to_numpy()
    half = 1.97196 * d.std(ddof=1) / np.sqrt(len(d))  # t_{0.975, 199} from a t table (1.97196)
    assert other.diff_mean == pytest.approx(d.mean(), rel=1e-12)
    assert other.diff_hi - other.diff_mean == pytest.approx(half, rel=1e-5)


def test_summary_names_a_diverged_group_and_never_calls_it_best(multirun_store):
    """A group whose regrets are NaN on some seeds (its policy diverged there) gets NaN figures and a
    "diverged" note, even when it sorts first, and the best is chosen among the other groups."""
    from experiments.report import summarize

    df = store.load(multirun_store)
    s = summarize(df)
    best = s[s.vs_best == "best"].iloc[0]
    hit = (df.policy == best.policy) & (df.hparams == best.hparams)
    df.loc[hit & df.seed.isin([0, 3, 7]), "cum_regret"] = np.nan
    s2 = summarize(df)
    bad = s2[(s2.policy == best.policy) & (s2.hparams == best.hparams)].iloc[0]
    assert bad.vs_best == f"diverged on 3 of {int(hit.sum())} seeds: no result"
    assert np.isnan(bad.regret_mean) and np.isnan(bad.diff_mean) and np.isnan(bad.reward_per_round)
    new_best = s2[s2.vs_best == "best"]
    assert len(new_best) == 1 and new_best.iloc[0].regret_mean == s[s.vs_best != "best"].regret_mean.min()
    df.loc[:, "cum_regret"] = np.nan
    assert (summarize(df).vs_best.str.startswith("diverged on")).all()


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    # git_commit is provenance: teammates may commit between the two runs, so compare the rest
    pd.testing.assert_frame_equal(a.drop(columns="git_commit"), b.drop(columns="git_commit"))


LAUNCH = ["-m", "policy=linucb", "policy.alpha=0.5,2.0", "seeds=6", "horizon=10", "sweep.chunk_seeds=3", *SMALL,
          "report=false"]


@pytest.fixture(scope="module")
def basic_launcher_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("basic") / "s"
    assert cli.main([*LAUNCH, f"out_dir={root}"]) == 0
    return store.load(root)


@pytest.mark.slow
def test_joblib_launcher_gives_identical_rows(basic_launcher_rows, tmp_path):
    root = tmp_path / "s"
    assert cli.main([*LAUNCH, f"out_dir={root}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]) == 0
    _same_rows(store.load(root), basic_launcher_rows)


@pytest.mark.slow
def test_ray_launcher_on_local_instance_gives_identical_rows(basic_launcher_rows, tmp_path):
    ray = pytest.importorskip("ray", reason="ray not installed: pip install -e '.[ray]' to test the Ray launcher")
    from experiments.ray_launcher import worker_runtime_env

    ray.init(num_cpus=2, include_dashboard=False, runtime_env=worker_runtime_env(), log_to_driver=False)
    try:
        root = tmp_path / "s"
        assert cli.main([*LAUNCH, f"out_dir={root}", "hydra/launcher=ray"]) == 0
        assert ray.is_initialized()  # the launcher reused the test's instance and left it running
    finally:
        ray.shutdown()
    _same_rows(store.load(root), basic_launcher_rows)


def test_quiet_prints_nothing_and_verbose_prints_the_summary(multirun_store, capfd):
    args = ["policy=linucb", "policy.alpha=1.0", "seeds=200", "horizon=15", "sweep.chunk_seeds=100",
            *SMALL[:-1], f"out_dir={multirun_store}", "report=false"]
    assert cli.main([*args, "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert cli.main(args) == 0
    out, err = capfd.readouterr()
    # the results on stdout, progress and logs on stderr
    assert "final cumulative regret" in out and "linucb" in out and "already in the store" in err
    assert "final cumulative regret" not in err


def test_random_policy_regret_matches_closed_form(tmp_path):
    """End to end through the CLI and the store: uniform random on K Bernoulli arms has expected
    regret T * (max p - mean p); the mean over seeds must be within 4 standard errors of it."""
    from envs.synthetic import bernoulli_arms

    root = tmp_path / "s"
    assert cli.main(["env=bernoulli", "env.num_actions=6", "env.seed=3", "policy=random", "seeds=300",
                     "horizon=40", "sweep.chunk_seeds=300", "quiet=true", "report=false", f"out_dir={root}"]) == 0
    df = store.load(root)
    p = np.asarray(bernoulli_arms(num_actions=6, seed=3).default_params.probs, np.float64)
    T = 40
    gaps = p.max() - p
    expected = T * gaps.mean()
    # per-round regret is the gap of a uniformly drawn arm: variance var(gaps), independent rounds
    se = np.sqrt(T * gaps.var() / len(df))
    assert len(df) == 300
    assert abs(df["cum_regret"].mean() - expected) < 4 * se, (df["cum_regret"].mean(), expected, se)
