"""Config errors are caught before anything runs: clear Hydra-style messages and exit code 2."""

from __future__ import annotations

import pytest

from experiments import cli


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["foo=1"], "Could not override 'foo'"),
        (["seeds=abc"], "seeds"),
        (["horizon=1.5"], "horizon"),
        (["policy=linucb", "policy.alpah=2"], "policy.alpah"),
        (["policy=linucb", "policy.alpha=big"], "policy.alpha"),
        (["env=nope"], "Could not find 'env/nope'"),
        (["policy=random", "data=parquet", "data.path=/no/such/logs.parquet"], "data.path: no such file or directory"),
        (["policy=random", "env=simulator", "data=obd", "data.data_path=/no/such/dir"], "data.data_path: no such file or directory"),
        (["policy=generic", "policy.name=nope"], "unknown policy 'nope'"),
        (["policy=linucb", "+policy.grid.beta=[1,2]"], "unknown hyperparameter(s) ['beta']"),
        (["seeds=0"], "seeds: expected an integer >= 1"),
        (["-m", "policy=linucb,lints", "policy.alpha=0.1,oops"], "policy.alpha"),
        # hyperparameter ranges come from the policy's declaration, checked at the config boundary
        (["env=linear", "policy=linucb", "policy.alpha=-1"],
         "policy.alpha: policy 'linucb' expects a finite value in [0.0, inf], got -1.0"),
        (["env=linear", "policy=bakeoff", "policy.candidates.ucb1.alpha=-3"],
         "policy.candidates.ucb1.alpha: policy 'ucb1' expects a finite value in [0.0, inf], got -3.0"),
        (["env=linear", "policy=lints", "+policy.grid.alpha=[0.5,-2]"], "policy.grid.alpha: policy 'lints' expects"),
        (["env=linear", "policy=generic", "policy.name=ucb1", "+policy.hparams.alpha=-1"],
         "policy.hparams.alpha: policy 'ucb1' expects a finite value in [0.0, inf], got -1.0"),
        (["env=linear", "policy=generic", "policy.name=lints", "+policy.hparams.v=1", "+policy.hparams.alpha=2"],
         "'hparams.v' and 'hparams.alpha' set the same hyperparameter 'v'"),
        # policies are checked against the real world's sizes and slots
        (["env=linear", "policy=slate_linucb"], "fills a slate of len_list >= 2 slots; env 'linear_gaussian'"),
        (["env=simulator", "env.len_list=3", "policy=linucb"], "fills one slot per round; env 'member_simulator'"),
        (["env=simulator", "env.len_list=2", "policy=random"], "env.len_list: expected 1 or the logs' 3 slots"),
        (["env=linear", "env.context_dim=0", "policy=linucb"], "env.context_dim: expected an integer >= 1, got 0"),
    ],
)
def test_config_errors_exit_2_with_clear_message(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main([*argv, "quiet=true"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err
    assert "Traceback" not in err and "jax" not in err.lower()
    assert not (tmp_path / "screentest-results").exists()  # nothing ran


def test_unknown_subcommand_like_word_is_a_config_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["resultz"]) == 2
    assert "resultz" in capsys.readouterr().err


def test_runtime_failure_exits_1(capsys, tmp_path, monkeypatch):
    from experiments import bakeoff

    monkeypatch.chdir(tmp_path)

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bakeoff, "run_points", broken)  # fails once the work has started
    rc = cli.main(["env=linear", "policy=random", "seeds=2", "horizon=5", "quiet=true", f"out_dir={tmp_path / 's'}"])
    assert rc == 1


def test_a_file_as_out_dir_is_a_config_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = cli.main(["env=linear", "policy=random", "seeds=2", "horizon=5", "quiet=true", f"out_dir={blocker}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "out_dir: expected a directory, got the file" in err[0]


def test_usage_lists_subcommands(capsys):
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    assert "results" in out and "report" in out
