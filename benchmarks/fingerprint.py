"""Cost of the data fingerprint in the result store's identity, on a 10^7-row log. One JSON line.

    .venv/bin/python benchmarks/fingerprint.py [--rows 10000000] [--dir /tmp] [--repeats 3]

Writes a parquet log of ``--rows`` rows in the screentest layout (5 float contexts, action,
reward, pscore, position) to a temporary file, then times, interleaved, best and median of
``--repeats``:

* ``cold_s``: :func:`experiments.store.fingerprint_path` with no cache (a streamed BLAKE2b hash
  of every byte of the file);
* ``warm_s``: the same with the on-disk stat cache filled (what every rerun pays: one ``stat``);
* ``read_s``: reading the file's columns with pyarrow (the same-run reference: what loading the
  log costs anyway).

``cold_vs_read`` = cold_s / read_s is the comparable figure (machine speed cancels).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import store  # noqa: E402


def _write_log(path: Path, rows: int, seed: int = 0, chunk: int = 1_000_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for lo in range(0, rows, chunk):
        n = min(chunk, rows - lo)
        cols = {f"context_{j}": rng.normal(size=n) for j in range(5)}
        cols.update(action=rng.integers(0, 80, n), reward=(rng.random(n) < 0.005).astype(np.float64),
                    pscore=np.full(n, 1 / 80), position=rng.integers(0, 3, n))
        tbl = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, tbl.schema, compression="zstd")
        writer.write_table(tbl)
    writer.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="where the temporary log is written (default: the system's)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        log = Path(tmp) / "logs.parquet"
        _write_log(log, a.rows)
        cache = Path(tmp) / "fingerprints.json"
        cold, warm, read = [], [], []
        digests = set()
        for _ in range(a.repeats):
            store._FP_MEMO.clear()
            cache.unlink(missing_ok=True)
            t0 = time.perf_counter()
            digests.add(store.fingerprint_path(log, cache=cache))
            cold.append(time.perf_counter() - t0)
            store._FP_MEMO.clear()  # a new process: only the on-disk cache is left
            t0 = time.perf_counter()
            digests.add(store.fingerprint_path(log, cache=cache))
            warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pq.read_table(log)
            read.append(time.perf_counter() - t0)
        size = log.stat().st_size
    out = {
        "rows": a.rows, "file_mb": round(size / 2**20, 1), "repeats": a.repeats,
        "cold_s": round(min(cold), 4), "cold_median_s": round(statistics.median(cold), 4),
        "warm_s": round(min(warm), 6), "warm_median_s": round(statistics.median(warm), 6),
        "read_s": round(min(read), 4), "read_median_s": round(statistics.median(read), 4),
        "cold_vs_read": round(min(cold) / min(read), 3),
        "hash_mb_per_s": round(size / 2**20 / min(cold), 1), "one_digest": len(digests) == 1,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
