"""``screentest --help`` lists every subcommand from the one table in experiments/cli.py, and the
config groups from the registries; ``screentest --version`` prints the versions."""

from __future__ import annotations

import re
from importlib import metadata

from experiments import cli


def test_help_lists_every_subcommand_once_with_one_line(capsys, monkeypatch):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_module, help_) in cli.SUBCOMMANDS.items():
        lines = [ln for ln in out.splitlines() if re.match(rf"^  {name}\s", ln)]
        assert lines == [f"  {name:<{max(map(len, cli.SUBCOMMANDS))}}  {help_}"], (name, lines)
    assert {"ope", "calibrate", "results", "report", "abtest"} <= set(cli.SUBCOMMANDS)
    assert "the main job" in out
    # the config groups come from the registries (every registered policy is an option)
    from bandits.policies import REGISTRY

    policy_line = next(ln for ln in out.splitlines() if ln.strip().startswith("policy "))
    assert all(name in policy_line for name in REGISTRY)
    # a new subcommand is one line in the table
    monkeypatch.setitem(cli.SUBCOMMANDS, "zzz", ("experiments.results_cli", "a new subcommand"))
    assert cli.main(["-h"]) == 0
    assert re.search(r"^  zzz\s+a new subcommand$", capsys.readouterr().out, re.M)


def test_every_subcommand_module_has_main():
    import importlib

    for name, (module, _help) in cli.SUBCOMMANDS.items():
        assert callable(getattr(importlib.import_module(module), "main", None)), name


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"screentest {metadata.version('screentest')} (jax {metadata.version('jax')}")
    assert "Hydra" not in out
