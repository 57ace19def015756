"""The result store: a tidy parquet dataset written one finished cell at a time, atomically.

Layout of a store directory ``DIR``::

    DIR/<table>/config=<config_hash>/<cell_id>.parquet   one file per finished cell
    DIR/runs/<config_hash>.json                          resolved config + provenance of a job

A *table* is one kind of result: ``bakeoff`` (one row per (config hash, policy, hyperparameters,
seed): final regret, reward, a regret curve), ``ope`` (one row per (config hash, estimator, policy,
seed): estimate, interval, the simulator's truth), ``calibration`` (the member simulator's
calibration curve), and whatever a teammate's experiment adds. A *cell* is the unit of work that is
computed in one call and written in one file (e.g. one policy x one chunk of seeds x every value of
its in-process hyperparameter grid). Cells are written with :func:`write_cell`: a temporary file in
the same directory, flushed and ``fsync``-ed, then ``os.replace``-d onto its final name, so a reader
(or a rerun after ``kill -9``) sees either the whole cell or nothing. A rerun asks
:func:`cell_done` and skips finished cells; since each cell has exactly one final name, a rerun can
neither lose nor duplicate rows.

Every row carries its provenance: ``config_hash``, the resolved config (``config_yaml``), package
versions (``versions``, JSON) and the git commit (``git_commit``). Rows contain no wall-clock
values, so an interrupted-then-resumed sweep and an uninterrupted one give identical rows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TABLES = ("bakeoff", "ope", "calibration")
_SAFE = re.compile(r"[^A-Za-z0-9_.=+-]")
_TMP_PREFIX = ".tmp-"
_VERSION_PACKAGES = ("screentest", "jax", "jaxlib", "numpy", "pandas", "pyarrow", "hydra-core", "omegaconf")


class StoreError(RuntimeError):
    """A result store directory is missing, empty or malformed."""


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest (``length`` chars) of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def safe_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_.=+-]`` replaced by ``_`` (a file-name part)."""
    return _SAFE.sub("_", str(text))


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """JSON object of the versions of the packages that decide the numbers (missing ones omitted)."""
    out = {}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(out, sort_keys=True)


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The repository's HEAD commit (with ``-dirty`` if tracked files changed), or ``"unknown"``."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def cell_path(root: str | os.PathLike, table: str, config_hash: str, cell_id: str) -> Path:
    """Final path of a cell file: ``root/table/config=<hash>/<cell_id>.parquet``."""
    return Path(root) / safe_name(table) / f"config={safe_name(config_hash)}" / f"{safe_name(cell_id)}.parquet"


def cell_done(root: str | os.PathLike, table: str, config_hash: str, cell_id: str) -> bool:
    """True if the cell's file exists (it only ever appears complete, see :func:`write_cell`)."""
    return cell_path(root, table, config_hash, cell_id).is_file()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same dir, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def write_cell(
    root: str | os.PathLike,
    table: str,
    config_hash: str,
    cell_id: str,
    rows: pd.DataFrame,
    provenance: dict[str, str] | None = None,
) -> Path:
    """Atomically write one finished cell of ``table`` and return its path.

    rows: a tidy DataFrame (one row per result). The columns ``config_hash``, ``cell_id`` and, from
    ``provenance`` (``config_yaml``, ``versions``, ``git_commit``; defaults filled in), the
    provenance columns are added. Overwrites an existing cell with the same id (same content on a
    deterministic rerun).
    """
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"rows: expected a pandas DataFrame, got {type(rows).__name__}")
    prov = {"config_yaml": "", "versions": package_versions(), "git_commit": git_commit()}
    prov.update(provenance or {})
    df = rows.copy()
    df.insert(0, "config_hash", config_hash)
    df.insert(1, "cell_id", cell_id)
    for k, v in prov.items():
        df[k] = v
    table_ = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table_, sink, compression="zstd")
    return atomic_write_bytes(cell_path(root, table, config_hash, cell_id), sink.getvalue().to_pybytes())


def write_run_meta(root: str | os.PathLike, config_hash: str, meta: dict[str, Any]) -> Path:
    """Atomically write ``root/runs/<config_hash>.json`` (resolved config, provenance, overrides)."""
    blob = json.dumps(meta, indent=2, sort_keys=True, default=str).encode()
    return atomic_write_bytes(Path(root) / "runs" / f"{safe_name(config_hash)}.json", blob)


def read_run_meta(root: str | os.PathLike) -> list[dict[str, Any]]:
    """All run metadata records of a store (sorted by config hash)."""
    out = []
    for p in sorted((Path(root) / "runs").glob("*.json")):
        out.append(json.loads(p.read_text()))
    return out


def cell_files(root: str | os.PathLike, table: str) -> list[Path]:
    """Finished cell files of ``table`` (temporary files of interrupted writes are ignored)."""
    base = Path(root) / safe_name(table)
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("config=*/*.parquet") if not p.name.startswith(_TMP_PREFIX))


def tables(root: str | os.PathLike) -> list[str]:
    """Names of the tables present in a store directory."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "runs" and cell_files(root, p.name))


def load(root: str | os.PathLike, table: str = "bakeoff", columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Load a table of a store directory as one DataFrame (rows sorted deterministically).

    root: the store directory. table: ``"bakeoff"``, ``"ope"``, ``"calibration"``, ...
    Raises :class:`StoreError` naming the directory when it does not exist or holds no such table.
    """
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"results directory {str(root)!r} does not exist")
    files = cell_files(root, table)
    if not files:
        have = tables(root)
        raise StoreError(
            f"results directory {str(root)!r} has no {table!r} results"
            + (f"; tables present: {have}" if have else " (no finished cells at all)")
        )
    cols = list(columns) if columns is not None else None
    frames = [pq.read_table(p, columns=cols).to_pandas() for p in files]
    df = pd.concat(frames, ignore_index=True)
    key = [c for c in ("config_hash", "policy", "estimator", "hparams", "grid_index", "seed", "bin") if c in df]
    if key:
        df = df.sort_values(key, kind="stable").reset_index(drop=True)
    return df


def row_key_columns(df: pd.DataFrame) -> list[str]:
    """Columns that identify a row of a ``bakeoff``/``ope`` table (used to check for duplicates)."""
    return [c for c in ("config_hash", "policy", "estimator", "hparams", "seed", "bin") if c in df]
