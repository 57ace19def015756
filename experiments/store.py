"""The result store: a tidy parquet dataset written one finished cell at a time, atomically.

Layout of a store directory ``DIR``::

    DIR/<table>/config=<config_hash>/<cell_id>.parquet   one file per cell
    DIR/runs/<job_hash>.json                             resolved config + provenance of a job
    DIR/runs/fingerprints.json                           cache of data-file fingerprints (by stat)
    DIR/quarantine/<table>/config=<hash>/...             cells that failed verification, moved aside

Identity. A *table* is one kind of result: ``bakeoff``, ``ope``, ``calibration`` (fixed schemas,
:data:`SCHEMAS`, documented in docs/experiments.md) or a teammate's own. Every row of a known
table has a key (:data:`KEY_COLUMNS`), e.g. ``(config_hash, policy, candidate, hparams, seed)`` for
the bake-off, and the store holds at most one row per key: each key maps to exactly one cell file
(the cell id is derived from the key, not from the run that computed it), and rows are added to a
cell by :func:`merge_cell`, which keeps the existing row of a key unless told to replace it. The
``config_hash`` covers everything that decides a row besides its key, including the data's content
fingerprint (:func:`fingerprint_path`) and the code and package versions (:func:`code_fingerprint`),
so a changed log or a changed library gives new keys instead of stale rows.

Crash safety. Cells are written with :func:`write_cell`: a temporary file in the same directory,
flushed and ``fsync``-ed, then ``os.replace``-d onto its final name, so a reader (or a rerun after
``kill -9``) sees either the whole cell or nothing. Concurrent writers of one cell (jobs of a
parallel multirun) are serialised by a lock file per config directory.

Verification. Cells are written with parquet page checksums and key-value metadata (schema
version, table, config hash, cell id, row count). Reading a cell (:func:`read_cell`,
:func:`load`, :func:`cell_done`) checks the footer, the metadata against the cell's path, the
schema against :data:`SCHEMAS` and, when data pages are read, their CRCs; a cell that fails is moved
to ``DIR/quarantine`` with a :class:`StoreWarning` and counts as missing, so the next run
recomputes it.

Every row carries its provenance: the resolved config (``config_yaml``), package versions
(``versions``, JSON), the git commit (``git_commit``) and the fingerprints of the data and of the
code. Rows contain no wall-clock values, so an interrupted-then-resumed sweep and an uninterrupted
one give identical rows. Cell files are created with the permissions the umask allows (0644 with
the usual umask 022), so a team can read a shared store.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

SCHEMA_VERSION = 2
_SAFE = re.compile(r"[^A-Za-z0-9_.=+-]")
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_META_PREFIX = "screentest."
# packages whose version changes the numbers (part of every result's identity)
_RESULT_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "scikit-learn")
# provenance only (recorded, not part of the identity)
_VERSION_PACKAGES = ("screentest", "jax", "jaxlib", "numpy", "scipy", "scikit-learn", "pandas", "pyarrow",
                     "hydra-core", "omegaconf")
# the source that computes results: every module of these packages, and these experiment modules
_CODE_PACKAGES = ("bandits", "envs")
_CODE_MODULES = ("experiments/bakeoff.py", "experiments/builders.py", "experiments/ope_stage.py",
                 "experiments/ope_truth.py", "experiments/sim2real.py")
_RESERVED_DIRS = ("runs", "quarantine", "report", ".hydra")


class StoreError(RuntimeError):
    """A result store directory is missing, empty or malformed."""


class StoreWarning(UserWarning):
    """A cell failed verification and was moved aside (its rows are recomputed by the next run)."""


# ----------------------------------------------------------------------------- schemas

_STR, _I64, _F64 = pa.string(), pa.int64(), pa.float64()
_HEAD = [("config_hash", _STR), ("cell_id", _STR)]
_CANDIDATE = [("policy", _STR), ("policy_name", _STR), ("candidate", _STR), ("static", _STR), ("hparams", _STR),
              ("hp_names", pa.list_(_STR)), ("hp_values", pa.list_(_F64))]
PROVENANCE_COLUMNS = ("config_yaml", "versions", "git_commit", "data_fingerprint", "code_fingerprint")
_TAIL = [(c, _STR) for c in PROVENANCE_COLUMNS]

#: The fixed schema of every cell of the known tables (docs/experiments.md has the table).
SCHEMAS: dict[str, pa.Schema] = {
    "bakeoff": pa.schema(_HEAD + [("env", _STR), ("horizon", _I64)] + _CANDIDATE + [
        ("seed", _I64), ("cum_regret", _F64), ("cum_reward", _F64), ("regret_curve", pa.list_(_F64)),
        ("curve_rounds", pa.list_(_I64))] + _TAIL),
    "ope": pa.schema(_HEAD + [("env", _STR)] + _CANDIDATE + [
        ("estimator", _STR), ("seed", _I64), ("rounds", _I64), ("behavior", _STR), ("estimate", _F64),
        ("ci_lo", _F64), ("ci_hi", _F64), ("std_err", _F64), ("ess_ratio", _F64), ("unsupported_mass", _F64),
        ("truth", _F64), ("logged_mean_reward", _F64)] + _TAIL),
    "calibration": pa.schema(_HEAD + [
        ("bin", _I64), ("predicted", _F64), ("observed", _F64), ("ci_lo", _F64), ("ci_hi", _F64), ("count", _F64),
        ("label", _STR), ("auc", _F64), ("log_loss", _F64), ("log_loss_baseline", _F64), ("ece", _F64)] + _TAIL),
}
TABLES = tuple(SCHEMAS)

#: The columns that identify a row of each known table: at most one row per key in a store.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "bakeoff": ("config_hash", "policy", "candidate", "hparams", "seed"),
    "ope": ("config_hash", "policy", "candidate", "hparams", "estimator", "seed"),
    "calibration": ("config_hash", "bin"),
}


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest (``length`` chars) of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def safe_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_.=+-]`` replaced by ``_`` (a file-name part)."""
    return _SAFE.sub("_", str(text))


# ----------------------------------------------------------------------------- provenance and identity


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """JSON object of the versions of the packages behind the numbers (missing ones omitted)."""
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


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """16 hex digits identifying the code that computes results: the bytes of every ``.py`` file of
    the ``bandits`` and ``envs`` packages and of the experiment modules that build worlds, run the
    bake-off and the OPE stage, plus the versions of jax, jaxlib, numpy, scipy and scikit-learn.

    Part of every result's identity: after any change to that code or those packages a rerun
    computes new rows instead of reusing old ones (``--force`` recomputes without any change).
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = [p for pkg in _CODE_PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    files += [root / m for m in _CODE_MODULES]
    for p in files:
        if not p.is_file():
            continue
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    vers = {}
    for name in _RESULT_PACKAGES:
        try:
            vers[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            vers[name] = None
    h.update(json.dumps(vers, sort_keys=True).encode())
    return h.hexdigest()[:16]


_FP_MEMO: dict[tuple, str] = {}


def _stat_key(p: Path) -> tuple:
    st = p.stat()
    return (str(p.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hash_file(p: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def fingerprint_path(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> str:
    """Content fingerprint (32 hex digits) of a file, or of every file under a directory.

    Covers every byte of the file(s) (a streamed BLAKE2b hash), and for a directory also the
    relative file names. The hash of a file is remembered, in this process and in the JSON file
    ``cache`` when given, under its (path, device, inode, size, mtime, ctime): a file that was not
    touched is not read again, and any write to it (which changes mtime and ctime) makes it be
    hashed again. A 10^7-row log is hashed once, at disk/hash speed (see docs/experiments.md).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file or directory: {str(p)!r}")
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    stored: dict[str, str] = {}
    cache_p = Path(cache) if cache is not None else None
    if cache_p is not None and cache_p.is_file():
        try:
            stored = json.loads(cache_p.read_text())
        except (OSError, ValueError):
            stored = {}
    changed = False
    h = hashlib.blake2b(digest_size=16)
    for q in files:
        key = _stat_key(q)
        skey = json.dumps(key)
        digest = _FP_MEMO.get(key) or stored.get(skey)
        if digest is None:
            digest = _hash_file(q)
        changed = changed or stored.get(skey) != digest
        _FP_MEMO[key] = digest
        stored[skey] = digest
        rel = q.relative_to(p).as_posix() if p.is_dir() else ""
        h.update(rel.encode() + b"\0" + digest.encode() + b"\0")
    if changed and cache_p is not None:
        with contextlib.suppress(OSError):
            atomic_write_bytes(cache_p, json.dumps(stored, sort_keys=True).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- files


def cell_path(root: str | os.PathLike, table: str, config_hash: str, cell_id: str) -> Path:
    """Final path of a cell file: ``root/table/config=<hash>/<cell_id>.parquet``."""
    return Path(root) / safe_name(table) / f"config={safe_name(config_hash)}" / f"{safe_name(cell_id)}.parquet"


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


def _umask() -> int:
    """The process umask (read from /proc when possible: setting it to read it is not thread safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    m = os.umask(0o022)
    os.umask(m)
    return m


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same dir, fsync, rename, fsync dir.

    The file gets the permissions an ordinary ``open`` would give (``0666`` minus the umask), not
    the ``0600`` of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
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


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` (a lock file in it) for read-modify-write of its cells."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        yield
        return
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- writing


def _provenance(provenance: dict[str, str] | None) -> dict[str, str]:
    prov = {"config_yaml": "", "versions": package_versions(), "git_commit": git_commit(), "data_fingerprint": "",
            "code_fingerprint": code_fingerprint()}
    for k, v in (provenance or {}).items():
        if k not in prov:
            raise ValueError(f"provenance: unknown key {k!r}; expected some of {sorted(prov)}")
        prov[k] = "" if v is None else str(v)
    return prov


def _to_arrow(table: str, config_hash: str, cell_id: str, rows: pd.DataFrame,
              provenance: dict[str, str] | None) -> pa.Table:
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"rows: expected a pandas DataFrame, got {type(rows).__name__}")
    df = rows.reset_index(drop=True).copy()
    for c in ("config_hash", "cell_id"):
        if c in df:
            df = df.drop(columns=c)
    df.insert(0, "config_hash", str(config_hash))
    df.insert(1, "cell_id", str(cell_id))
    for k, v in _provenance(provenance).items():
        if k not in df:
            df[k] = v
    schema = SCHEMAS.get(table)
    if schema is None:  # a table of someone's own: its schema is whatever the rows have
        return pa.Table.from_pandas(df, preserve_index=False)
    want = schema.names
    missing = [c for c in want if c not in df.columns]
    extra = [c for c in df.columns if c not in want]
    if missing or extra:
        raise ValueError(f"rows: the {table!r} table has the fixed columns of store.SCHEMAS[{table!r}]; "
                         f"missing {missing}, unexpected {extra}")
    return pa.Table.from_pandas(df[want], schema=schema, preserve_index=False)


def _check_unique(table: str, tbl: pa.Table, where: str) -> None:
    keys = [k for k in KEY_COLUMNS.get(table, ()) if k in tbl.column_names]
    if not keys or tbl.num_rows == 0:
        return
    df = tbl.select(keys).to_pandas()
    dup = df.duplicated(keep=False)
    if dup.any():
        first = df[dup].iloc[0].to_dict()
        raise ValueError(f"rows: {int(dup.sum())} rows of {where} share a key {keys}; e.g. {first}")


def _write(root, table, config_hash, cell_id, tbl: pa.Table) -> Path:
    _check_unique(table, tbl, f"cell {cell_id!r}")
    meta = dict(tbl.schema.metadata or {})
    meta.update({f"{_META_PREFIX}{k}".encode(): str(v).encode() for k, v in {
        "schema": SCHEMA_VERSION, "table": table, "config_hash": config_hash, "cell_id": cell_id,
        "rows": tbl.num_rows}.items()})
    tbl = tbl.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(tbl, sink, compression="zstd", write_page_checksum=True)
    return atomic_write_bytes(cell_path(root, table, config_hash, cell_id), sink.getvalue().to_pybytes())


def write_cell(
    root: str | os.PathLike,
    table: str,
    config_hash: str,
    cell_id: str,
    rows: pd.DataFrame,
    provenance: dict[str, str] | None = None,
) -> Path:
    """Atomically write (or overwrite) one cell of ``table`` and return its path.

    rows: a tidy DataFrame, one row per result, with the table's columns (:data:`SCHEMAS`; a
    column missing or unexpected raises ``ValueError`` naming it) except ``config_hash``,
    ``cell_id`` and the provenance columns, which are filled in (``provenance`` overrides the
    defaults: ``config_yaml``, ``versions``, ``git_commit``, ``data_fingerprint``,
    ``code_fingerprint``). Two rows with the same key raise ``ValueError``.
    """
    tbl = _to_arrow(table, config_hash, cell_id, rows, provenance)
    return _write(root, table, config_hash, cell_id, tbl)


def merge_cell(
    root: str | os.PathLike,
    table: str,
    config_hash: str,
    cell_id: str,
    rows: pd.DataFrame,
    provenance: dict[str, str] | None = None,
    *,
    replace: bool = False,
) -> dict[str, int]:
    """Add ``rows`` to a cell, one row per key: under the config directory's lock, read the cell
    (verified; a corrupt one is quarantined and counts as empty), keep its rows whose key is not in
    ``rows`` (all of them unless ``replace``: then the new rows win), and write the union atomically.

    Returns ``{"added": new keys written, "kept": existing rows kept, "replaced": existing rows
    overwritten}``. Without ``replace``, rows whose key is already stored are dropped (the stored
    row stays), so two concurrent writers of the same keys cannot duplicate them.
    """
    keys = list(KEY_COLUMNS.get(table, ()))
    if not keys:
        raise ValueError(f"table: merge_cell needs a table with declared key columns {sorted(KEY_COLUMNS)}, got {table!r}")
    new = _to_arrow(table, config_hash, cell_id, rows, provenance)
    _check_unique(table, new, "rows")
    path = cell_path(root, table, config_hash, cell_id)
    with _locked(path.parent):
        old = read_cell(root, table, config_hash, cell_id, as_arrow=True)
        if old is None or old.num_rows == 0:
            _write(root, table, config_hash, cell_id, new)
            return {"added": new.num_rows, "kept": 0, "replaced": 0}
        old_k = old.select(keys).to_pandas()
        new_k = new.select(keys).to_pandas()
        old_idx = pd.MultiIndex.from_frame(old_k)
        new_idx = pd.MultiIndex.from_frame(new_k)
        in_new = old_idx.isin(new_idx)
        in_old = new_idx.isin(old_idx)
        if replace:
            merged = pa.concat_tables([old.filter(pa.array(~in_new)), new])
            stats = {"added": int((~in_old).sum()), "kept": int((~in_new).sum()), "replaced": int(in_new.sum())}
        else:
            add = new.filter(pa.array(~in_old))
            if add.num_rows == 0:
                return {"added": 0, "kept": old.num_rows, "replaced": 0}
            merged = pa.concat_tables([old, add])
            stats = {"added": add.num_rows, "kept": old.num_rows, "replaced": 0}
        order = [(k, "ascending") for k in keys]
        merged = merged.sort_by(order)
        _write(root, table, config_hash, cell_id, merged)
        return stats


def write_run_meta(root: str | os.PathLike, config_hash: str, meta: dict[str, Any]) -> Path:
    """Atomically write ``root/runs/<config_hash>.json`` (resolved config, provenance, overrides)."""
    blob = json.dumps(meta, indent=2, sort_keys=True, default=str).encode()
    return atomic_write_bytes(Path(root) / "runs" / f"{safe_name(config_hash)}.json", blob)


def read_run_meta(root: str | os.PathLike) -> list[dict[str, Any]]:
    """All run metadata records of a store (sorted by job hash); unreadable records are skipped
    with a :class:`StoreWarning`."""
    out = []
    for p in sorted((Path(root) / "runs").glob("*.json")):
        if p.name == "fingerprints.json":
            continue
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError) as e:
            warnings.warn(f"run record {str(p)!r} is unreadable ({e}); skipped", StoreWarning, stacklevel=2)
    return out


# ----------------------------------------------------------------------------- reading and verifying


def _meta_of(p: Path) -> tuple[pq.FileMetaData, pa.Schema]:
    md = pq.read_metadata(p)
    return md, pq.read_schema(p)


def verify_cell(path: str | os.PathLike, table: str | None = None) -> str | None:
    """Why the cell file at ``path`` cannot be trusted, or None if its footer checks out.

    Checks that the parquet footer parses, that the screentest metadata names this table, config
    and cell id, that the row count matches, and (known tables) that the schema is the current one.
    Data pages are checked (CRC) when they are read.
    """
    p = Path(path)
    table = table or p.parent.parent.name
    try:
        md, schema = _meta_of(p)
    except (OSError, pa.ArrowException, ValueError) as e:
        return f"unreadable parquet footer ({str(e).splitlines()[0][:120]})"
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (md.metadata or {}).items()}
    g = lambda k: kv.get(_META_PREFIX + k)  # noqa: E731
    if g("schema") is None:
        return "no screentest metadata (written by an older version of the store)"
    if g("schema") != str(SCHEMA_VERSION):
        return f"store schema version {g('schema')}, expected {SCHEMA_VERSION}"
    want_config = p.parent.name.removeprefix("config=")
    if (safe_name(g("table") or ""), safe_name(g("config_hash") or ""), safe_name(g("cell_id") or "")) != (
            safe_name(table), want_config, p.stem):
        return (f"metadata names table {g('table')!r}, config {g('config_hash')!r}, cell {g('cell_id')!r}, "
                f"not this file's place")
    if g("rows") != str(md.num_rows):
        return f"row count {md.num_rows} differs from the {g('rows')} written"
    want = SCHEMAS.get(table)
    if want is not None and not schema.remove_metadata().equals(want):
        return "columns differ from the table's schema"
    return None


def quarantine(root: str | os.PathLike, path: str | os.PathLike, reason: str) -> Path | None:
    """Move a bad cell to ``root/quarantine/<table>/config=<hash>/`` and warn; returns its new path,
    or None if it could not be moved (read-only store: it is then only left out)."""
    p = Path(path)
    root = Path(root)
    try:
        rel = p.relative_to(root)
    except ValueError:
        rel = Path(p.parent.parent.name) / p.parent.name / p.name
    dest = root / "quarantine" / rel.parent / f"{p.name}.{time.time_ns()}.bad"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, dest)
    except OSError as e:
        warnings.warn(f"cell {str(rel)!r} failed verification ({reason}) and could not be moved aside ({e}); "
                      f"its rows are left out", StoreWarning, stacklevel=3)
        return None
    warnings.warn(f"cell {str(rel)!r} failed verification ({reason}); moved to {str(dest.relative_to(root))!r}: "
                  f"its rows are left out until a run recomputes them", StoreWarning, stacklevel=3)
    return dest


def _read_verified(root: Path, table: str, p: Path, columns=None) -> pa.Table | None:
    reason = verify_cell(p, table)
    if reason is None:
        try:
            return pq.read_table(p, columns=columns, page_checksum_verification=True)
        except (OSError, pa.ArrowException, ValueError) as e:
            reason = f"unreadable data ({str(e).splitlines()[0][:120]})"
    quarantine(root, p, reason)
    return None


def read_cell(root: str | os.PathLike, table: str, config_hash: str, cell_id: str, *,
              as_arrow: bool = False) -> pd.DataFrame | pa.Table | None:
    """The rows of one cell (verified), or None if it does not exist or failed verification (then
    it is quarantined)."""
    p = cell_path(root, table, config_hash, cell_id)
    if not p.is_file():
        return None
    tbl = _read_verified(Path(root), table, p)
    if tbl is None:
        return None
    return tbl if as_arrow else tbl.to_pandas()


def cell_done(root: str | os.PathLike, table: str, config_hash: str, cell_id: str) -> bool:
    """True if the cell exists and its footer verifies (a bad one is quarantined: False)."""
    p = cell_path(root, table, config_hash, cell_id)
    if not p.is_file():
        return False
    reason = verify_cell(p, table)
    if reason is None:
        return True
    quarantine(root, p, reason)
    return False


def cell_keys(root: str | os.PathLike, table: str, config_hash: str, cell_id: str,
              columns: Sequence[str]) -> pd.DataFrame | None:
    """The ``columns`` of a cell's rows (e.g. ``["hparams", "seed"]``), verified; None if missing."""
    p = cell_path(root, table, config_hash, cell_id)
    if not p.is_file():
        return None
    tbl = _read_verified(Path(root), table, p, columns=list(columns))
    return None if tbl is None else tbl.to_pandas()


def cell_files(root: str | os.PathLike, table: str) -> list[Path]:
    """Cell files of ``table`` (temporary files of interrupted writes are ignored)."""
    base = Path(root) / safe_name(table)
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("config=*/*.parquet") if not p.name.startswith(_TMP_PREFIX))


def tables(root: str | os.PathLike) -> list[str]:
    """Names of the tables present in a store directory."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and p.name not in _RESERVED_DIRS and cell_files(root, p.name))


def check_store_dir(root: str | os.PathLike) -> Path:
    """``root`` as a Path if it is a directory; :class:`StoreError` naming it otherwise."""
    root = Path(root)
    if not root.exists():
        raise StoreError(f"results directory {str(root)!r} does not exist")
    if not root.is_dir():
        raise StoreError(f"results directory {str(root)!r} is not a directory")
    return root


def _hp_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add one float column ``hp_<name>`` per hyperparameter named in ``hparams`` (NaN where a
    candidate has no such hyperparameter)."""
    if "hparams" not in df or df.empty:
        return df
    parsed = {h: json.loads(h) if h else {} for h in df["hparams"].unique()}
    names = sorted({k for d in parsed.values() for k in d})
    extra = {f"hp_{n}": df["hparams"].map({h: float(d.get(n, float("nan"))) for h, d in parsed.items()})
             for n in names if f"hp_{n}" not in df}
    return pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1) if extra else df


def load(root: str | os.PathLike, table: str = "bakeoff", columns: Iterable[str] | None = None, *,
         hp_columns: bool = True) -> pd.DataFrame:
    """Load a table of a store directory as one DataFrame (rows sorted by key), through
    ``pyarrow.dataset`` over the cells that verify.

    root: the store directory. table: ``"bakeoff"``, ``"ope"``, ``"calibration"``, ...
    columns: a subset of columns (default all). hp_columns: add the derived float columns
    ``hp_<name>`` from the ``hparams`` JSON (one per hyperparameter of any candidate; NaN where a
    candidate lacks it). Cells that fail verification are quarantined with a
    :class:`StoreWarning` and left out. Raises :class:`StoreError` naming the directory when it
    does not exist or holds no such table, and when two rows share a key.
    """
    root = check_store_dir(root)
    files = cell_files(root, table)
    if not files:
        have = tables(root)
        raise StoreError(
            f"results directory {str(root)!r} has no {table!r} results"
            + (f"; tables present: {have}" if have else " (no finished cells at all)")
        )
    good = [p for p in files if _verified_or_quarantined(root, table, p)]
    cols = list(columns) if columns is not None else None
    schema = SCHEMAS.get(table)
    tbl = None
    for _attempt in range(2):
        if not good:
            break
        if schema is None:
            schema_ = pa.unify_schemas([pq.read_schema(p).remove_metadata() for p in good])
        else:
            schema_ = schema
        fmt = pads.ParquetFileFormat(
            default_fragment_scan_options=pads.ParquetFragmentScanOptions(page_checksum_verification=True))
        try:
            tbl = pads.dataset([str(p) for p in good], schema=schema_, format=fmt).to_table(columns=cols)
            break
        except (OSError, pa.ArrowException, ValueError):
            # find the cells whose data pages fail, quarantine them, read the others
            good = [p for p in good if _pages_ok(root, table, p)]
            tbl = None
    if tbl is None:
        raise StoreError(f"results directory {str(root)!r} has no readable {table!r} cells "
                         f"(the bad ones were moved to {str(root / 'quarantine')!r})")
    df = tbl.to_pandas()
    keys = [k for k in KEY_COLUMNS.get(table, ()) if k in df]
    if keys and len(keys) == len(KEY_COLUMNS[table]):
        dup = df.duplicated(keys, keep=False)
        if dup.any():
            ex = df.loc[dup, keys + (["cell_id"] if "cell_id" in df else [])].head(4).to_dict("records")
            raise StoreError(f"results directory {str(root)!r}: {int(dup.sum())} {table!r} rows share a key "
                             f"{keys} (a store written by hand or by an older version?); e.g. {ex}")
    sort = keys or [c for c in ("config_hash", "policy", "estimator", "hparams", "seed", "bin") if c in df]
    if sort:
        df = df.sort_values(sort, kind="stable").reset_index(drop=True)
    return _hp_columns(df) if hp_columns else df


def _verified_or_quarantined(root: Path, table: str, p: Path) -> bool:
    reason = verify_cell(p, table)
    if reason is None:
        return True
    quarantine(root, p, reason)
    return False


def _pages_ok(root: Path, table: str, p: Path) -> bool:
    if not p.is_file():
        return False
    return _read_verified(root, table, p) is not None


def row_key_columns(df: pd.DataFrame, table: str | None = None) -> list[str]:
    """Columns that identify a row (the table's :data:`KEY_COLUMNS` when ``table`` is given, else
    guessed from the columns present)."""
    if table is not None and table in KEY_COLUMNS:
        return list(KEY_COLUMNS[table])
    cand = ("config_hash", "policy", "candidate", "hparams", "estimator", "seed", "bin")
    return [c for c in cand if c in df]
