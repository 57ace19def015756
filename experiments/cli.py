"""The ``screentest`` console entry point.

``screentest`` with no subcommand runs the main job (a Hydra application, see
``experiments.main_job``); ``screentest SUBCOMMAND ...`` dispatches to a subcommand of
:data:`SUBCOMMANDS`, the one table of them (``screentest --help`` prints it). Each subcommand
module exposes ``main(argv: list[str]) -> int``; adding one is one line in the table.
``screentest --version`` prints the versions that decide the numbers.

Ctrl-C (SIGINT) ends any command with the one line ``screentest: interrupted`` and exit code 130,
whatever ``--quiet`` says; finished result cells stay in the store (a rerun resumes).
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Modules are imported lazily so `screentest --help` is fast.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "ope": ("experiments.ope_cli", "compare candidate policies off-policy on logs (yours or the bundled OBD)"),
    "calibrate": ("experiments.calibrate_cli", "build the member simulator from logs and run the sim-to-real check"),
    "results": ("experiments.results_cli", "load a result store as a table (summary, csv, parquet)"),
    "report": ("experiments.report", "write a markdown/HTML report with plots from a result store"),
    "abtest": ("experiments.abtest_cli", "plan, rehearse and analyse A/B and interleaving tests"),
    "quasi": ("experiments.quasi_cli", "difference-in-differences, synthetic control, rehearsed regional rollouts"),
    "fidelity": ("experiments.fidelity", "check the offline pipeline's policy ranking against a known world"),
}

#: the main job's config groups, in the order ``--help`` lists them
GROUPS = ("env", "policy", "estimator", "data", "sweep")


def config_groups(groups=GROUPS) -> str:
    """One line per config group: its options, read from Hydra's ConfigStore (the registries)."""
    from hydra.core.config_store import ConfigStore

    from experiments import conf  # noqa: F401  (registers the groups)

    cs = ConfigStore.instance()
    lines = []
    for g in groups:
        try:
            opts = sorted(n[:-5] if n.endswith(".yaml") else n for n in cs.list(g))
        except OSError:
            continue
        lines.append(f"  {g:<14} {', '.join(opts)}")
    return "\n".join(lines)


def usage() -> str:
    """The main ``--help``: the main job, every subcommand (one line each), the config groups."""
    width = max(len(n) for n in SUBCOMMANDS)
    lines = [
        "usage: screentest [KEY=VALUE ...]          run the main job (Hydra overrides; -m for a multirun sweep)",
        "       screentest SUBCOMMAND [ARGS ...]    run a subcommand (SUBCOMMAND --help for its options)",
        "",
        "Test recommendation policies before they meet real members: calibrate a member simulator on logs,",
        "run a policy bake-off in it, evaluate candidates off-policy, plan the live test.",
        "",
        "subcommands:",
        f"  {'(none)':<{width}}  the main job: simulator + bake-off + off-policy evaluation + report",
    ]
    lines += [f"  {name:<{width}}  {help_}" for name, (_m, help_) in SUBCOMMANDS.items()]
    lines += ["", "main job config groups (group=option, then group.field=value):", config_groups(), "",
              "options: --version, --help, --quiet; Hydra's own: --cfg job, --hydra-help, -m/--multirun",
              "docs: README.md and docs/experiments.md"]
    return "\n".join(lines)


def version() -> str:
    """``screentest X (jax Y, numpy Z, python W)``."""
    import platform
    from importlib import metadata

    def v(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (f"screentest {v('screentest')} (jax {v('jax')}, jaxlib {v('jaxlib')}, numpy {v('numpy')}, "
            f"hydra-core {v('hydra-core')}, python {platform.python_version()})")


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return _interrupted()


def _interrupted() -> int:
    """One line, exit code 130; a second Ctrl-C during the shutdown exits at once, silently."""
    import os
    import signal

    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    try:
        sys.stderr.write("screentest: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 130


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        mod = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        return int(mod.main(argv[1:]) or 0)
    if argv and argv[0] in ("-h", "--help", "help", "--usage"):
        print(usage())
        return 0
    if argv and argv[0] in ("--version", "-V"):
        print(version())
        return 0
    mod = importlib.import_module("experiments.main_job")
    return int(mod.main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
