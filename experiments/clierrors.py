"""The error contract shared by the ``screentest`` subcommands.

Every entry point answers a bad value or file with ONE line ``screentest <cmd>: error: <arg>: ...``
on stderr and exit code 2, before any work starts; warnings are one line each
(``screentest <cmd>: warning: ...``); Ctrl-C ends the command with one line and exit code 130
(:mod:`experiments.cli`). Exit code 1 is reserved for a failure once work has started.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(ValueError):
    """A bad command-line value or file; the message names the argument."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    def parse_or_exit_code(self, argv: Sequence[str] | None) -> argparse.Namespace | int:
        """The parsed arguments, or the exit code when parsing ended the command (0 after
        ``--help``, 2 after a usage error, already printed in one line)."""
        try:
            return self.parse_args(argv)
        except SystemExit as e:
            return 0 if e.code == 0 else EXIT_USAGE


def fail(prog: str, message: str) -> int:
    """Print ``<prog>: error: <message>`` (first line only) and return exit code 2."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "failed"
    print(f"{prog}: error: {first}", file=sys.stderr)
    return EXIT_USAGE


def print_warnings(prog: str, caught: Iterable[warnings.WarningMessage]) -> None:
    """Each captured warning as one line ``<prog>: warning: ...`` on stderr (duplicates once)."""
    seen = set()
    for w in caught:
        text = str(w.message).strip().splitlines()[0]
        if text not in seen:
            seen.add(text)
            print(f"{prog}: warning: {text}", file=sys.stderr)


def check_output_file(option: str, path: str | os.PathLike) -> None:
    """``path`` can be written as an output file (its directory exists and is writable);
    :class:`UsageError` naming ``option`` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option}: expected a file path, got the directory {str(p)!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option}: the directory {str(parent)!r} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option}: the file {str(p)!r} is not writable")


def check_output_dir(option: str, path: str | os.PathLike) -> None:
    """``path`` is, or can be created as, a writable directory; :class:`UsageError` naming
    ``option`` otherwise."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option}: expected a directory, got the file {str(out)!r}")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"{option}: cannot create or write {str(out)!r} (no write permission in {str(probe)!r})")


def check_input_file(option: str, path: str | os.PathLike) -> Path:
    """``path`` is an existing readable file; :class:`UsageError` naming ``option`` otherwise."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{option}: no such file: {str(p)!r}")
    if not p.is_file():
        raise UsageError(f"{option}: expected a file, got a directory: {str(p)!r}")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option}: not readable (permission denied): {str(p)!r}")
    return p
