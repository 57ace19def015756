"""The ``screentest`` console entry point.

``screentest`` with no subcommand runs the main job (a Hydra application, see
``experiments.main_job``); ``screentest SUBCOMMAND ...`` dispatches to the subcommands below.
Each subcommand module exposes ``main(argv: list[str]) -> int``.

Ctrl-C (SIGINT) ends any command with the one line ``screentest: interrupted`` and exit code 130,
whatever ``--quiet`` says; finished result cells stay in the store (a rerun resumes).
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Modules are imported lazily so `screentest --help` is fast.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "results": ("experiments.results_cli", "load a result store as a DataFrame (summary, csv, parquet)"),
    "report": ("experiments.report", "write a markdown/HTML report with PNG plots from a result store"),
    "ope": ("experiments.ope_cli", "off-policy evaluation of candidate policies on logged data (default: bundled OBD)"),
    "calibrate": ("experiments.calibrate_cli", "build the member simulator from logs and run the sim-to-real check"),
    "abtest": ("experiments.abtest_cli", "plan, rehearse and analyse A/B and interleaving tests"),
    "quasi": ("experiments.quasi_cli", "difference-in-differences, synthetic control, rehearsed regional rollouts"),
    "fidelity": ("experiments.fidelity", "check the offline pipeline's policy ranking against a known world"),
}


def _usage() -> str:
    lines = ["usage: screentest [hydra overrides ...]      run the main job (see README)"]
    for name, (_mod, help_) in sorted(SUBCOMMANDS.items()):
        lines.append(f"       screentest {name:<10} ...            {help_}")
    return "\n".join(lines)


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
    if argv and argv[0] in ("help", "--usage"):
        print(_usage())
        return 0
    mod = importlib.import_module("experiments.main_job")
    return int(mod.main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
