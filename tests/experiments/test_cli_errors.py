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
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = cli.main(["env=linear", "policy=random", "seeds=2", "horizon=5", "quiet=true", f"out_dir={blocker}"])
    assert rc == 1


def test_usage_lists_subcommands(capsys):
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    assert "results" in out and "report" in out
