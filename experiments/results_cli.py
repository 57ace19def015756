"""``screentest results DIR``: load a result store as a DataFrame, print a summary or export it.

``screentest results DIR`` prints the tables present, their row counts and, for the bake-off, the
per-candidate summary (mean final regret with 95% CI, paired difference to the best).
``--table T`` picks a table (``bakeoff``, ``ope``, ``calibration``); ``--format csv|parquet
--output FILE`` exports it (list columns such as ``regret_curve`` are JSON-encoded in CSV).
In Python: ``experiments.store.load(DIR, table)``.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pandas as pd

from experiments import store
from experiments.clierrors import OneLineParser, UsageError, check_output_file, fail, print_warnings


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and len(out) and isinstance(out[c].iloc[0], (list, np.ndarray)):
            out[c] = [json.dumps([x.item() if isinstance(x, np.generic) else x for x in v]) for v in out[c]]
    return out


def main(argv: list[str]) -> int:
    """Exit 0 ok, 2 bad usage, a bad output path or no such results (one line, before any work)."""
    ap = OneLineParser(prog="screentest results", description="Load a screentest result store.")
    ap.add_argument("dir", help="result store directory (default of the main job: screentest-results)")
    ap.add_argument("--table", default=None, help="table to load (default: bakeoff if present)")
    ap.add_argument("--format", choices=("summary", "csv", "parquet"), default="summary")
    ap.add_argument("--output", "-o", default=None, help="export file (default: stdout for csv)")
    args = ap.parse_or_exit_code(argv)
    if isinstance(args, int):
        return args
    prog = "screentest results"
    try:
        if args.output is not None:
            check_output_file("--output", args.output)
    except UsageError as e:
        return fail(prog, str(e))
    if args.format == "parquet" and not args.output:
        return fail(prog, "--output: --format parquet needs --output FILE")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", store.StoreWarning)
        try:
            store.check_store_dir(args.dir)
            have = store.tables(args.dir)
            if not have:
                store.load(args.dir, args.table or "bakeoff")  # raises a StoreError with the reason
            table = args.table or ("bakeoff" if "bakeoff" in have else have[0])
            df = store.load(args.dir, table)
            counts = {t: (len(df) if t == table else len(store.load(args.dir, t, hp_columns=False))) for t in have}
        except store.StoreError as e:
            print_warnings(prog, caught)
            return fail(prog, str(e))
    print_warnings(prog, caught)
    if args.format == "csv":
        text = _csv_ready(df).to_csv(index=False)
        if args.output:
            store.atomic_write_bytes(args.output, text.encode())
        else:
            sys.stdout.write(text)
        return 0
    if args.format == "parquet":
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        store.atomic_write_bytes(args.output, buf.getvalue())
        return 0
    print(f"{args.dir}: tables {', '.join(f'{t} ({counts[t]} rows)' for t in have)}")
    print(f"table {table!r}: {len(df)} rows x {df.shape[1]} columns; configs: {df['config_hash'].nunique()}")
    if table == "bakeoff":
        from experiments.report import summarize

        s = summarize(df)
        cols = ["config_hash", "env", "label", "n", "regret_mean", "regret_lo", "regret_hi", "reward_per_round", "vs_best"]
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
            print(s[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(df.drop(columns=[c for c in ("config_yaml", "versions") if c in df]).head(20).to_string(index=False))
    return 0
