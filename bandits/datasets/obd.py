"""The Open Bandit Dataset (OBD): loader for the bundled small sample or the full dataset.

The dataset is by ZOZO, Inc. (CC BY 4.0): logs of two policies, uniform ``random`` and Bernoulli
Thompson sampling ``bts``, that ran side by side on the ZOZOTOWN fashion site, in three campaigns
(``all`` 80 items, ``men`` 34, ``women`` 46), three slots per impression. This package bundles
the 10,000-row-per-file sample that the Open Bandit Pipeline (obp 0.5.7) ships, gzip-compressed,
in ``bandits/datasets/obd_sample/`` (see the README there for attribution). Cite:

    Saito, Aihara, Matsutani, Narita. "Open Bandit Dataset and Pipeline: Towards Realistic and
    Reproducible Off-Policy Evaluation." NeurIPS Datasets and Benchmarks, 2021 (arXiv:2008.07146).

Feature processing follows obp 0.5.7's ``OpenBanditDataset`` exactly (checked array for array by
``benchmarks/obd_parity.py``), so estimates are comparable with published obp numbers:

- rows sorted by ``timestamp`` strings with the same (unstable) sort as obp, so rows match one to
  one (the files are already in time order; only rows with equal timestamps can move);
- ``action = item_id``, ``reward = click``, ``pscore = propensity_score``,
  ``position`` = dense rank of the raw 1-based slot, minus 1 (so 0-based);
- ``context`` = one-hot of ``user_feature_0..3`` with the first (lexicographically smallest)
  category of each feature dropped, columns ordered feature by feature, categories sorted
  (``pandas.get_dummies(drop_first=True)``); the ``user-item_affinity_*`` columns are NOT part of
  obp's context: pass ``include_affinity=True`` to append them;
- ``action_context`` (one row per item) = label codes (sorted categories) of
  ``item_feature_1..3`` followed by the numeric ``item_feature_0``.

``n_actions`` is the number of rows of ``item_context`` (80 / 34 / 46; obp uses ``max(item_id)+1``,
which is the same on this data).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from bandits.data import LoggedData

__all__ = ["load_obd", "load_obd_raw", "BEHAVIOR_POLICIES", "CAMPAIGNS", "SAMPLE_PATH", "N_ITEMS"]

BEHAVIOR_POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
N_ITEMS = {"all": 80, "men": 34, "women": 46}
SAMPLE_PATH = Path(__file__).parent / "obd_sample"
_PRIOR_FILE = Path(__file__).parent / "obd_prior_bts.json"
LEN_LIST = 3


def _check(behavior_policy: str, campaign: str) -> None:
    if behavior_policy not in BEHAVIOR_POLICIES:
        raise ValueError(f"behavior_policy: expected one of {BEHAVIOR_POLICIES}, got {behavior_policy!r}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign: expected one of {CAMPAIGNS}, got {campaign!r}")


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"data_path: expected {folder / (stem + '.csv')} (or .csv.gz) in the OBD layout "
        "<data_path>/<behavior_policy>/<campaign>/<campaign>.csv, not found"
    )


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.readline().rstrip("\r\n").split(",")


def _read_csv(path: Path, string_prefixes: tuple[str, ...]):
    """pyarrow table; hashed categorical columns are forced to strings (a hash made only of digits
    must not turn the column numeric)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = _header(path)
    types = {c: pa.string() for c in names if c.startswith(string_prefixes)}
    if "timestamp" in names:
        types["timestamp"] = pa.string()
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))


def load_obd_raw(behavior_policy: str = "random", campaign: str = "all", data_path: str | Path | None = None):
    """The raw tables as pandas DataFrames ``(data, item_context)``, with obp's row order
    (sorted by ``timestamp``) and the unnamed index column dropped.

    data: one row per impression: ``timestamp`` (str), ``item_id``, ``position`` (1..3), ``click``,
        ``propensity_score``, ``user_feature_0..3`` (str), ``user-item_affinity_0..K-1``.
    item_context: one row per item: ``item_id``, ``item_feature_0`` (float), ``item_feature_1..3`` (str).
    data_path: root of the OBD folder layout ``<root>/<behavior_policy>/<campaign>/<campaign>.csv``
        (``.csv`` or ``.csv.gz``; the full 26M-row dataset has this layout); None = bundled sample.
    """
    data, items = _load_tables(behavior_policy, campaign, data_path)
    return data.to_pandas(), items.to_pandas()


def _load_tables(behavior_policy, campaign, data_path):
    _check(behavior_policy, campaign)
    root = SAMPLE_PATH if data_path is None else Path(data_path)
    if not root.is_dir():
        raise FileNotFoundError(f"data_path: expected a directory in the OBD layout, got {str(data_path)!r}")
    folder = root / behavior_policy / campaign
    data = _read_csv(_find(folder, campaign), ("user_feature_",))
    items = _read_csv(_find(folder, "item_context"), ("item_feature_1", "item_feature_2", "item_feature_3"))
    data = data.drop_columns([c for c in data.schema.names[:1] if c in ("", "Unnamed: 0")])
    items = items.drop_columns([c for c in items.schema.names[:1] if c in ("", "Unnamed: 0")])
    # Row order: obp sorts the timestamp strings with pandas' default (numpy quicksort on an object
    # array, not stable). The files are already in time order; the sort only permutes rows with
    # identical timestamps (2 rows in random/men). We use the same sort so rows match obp one to one.
    ts = data.column("timestamp").to_numpy(zero_copy_only=False).astype(object)
    order = np.argsort(ts, kind="quicksort")
    data = data.take(order)
    return data, items


def _codes_sorted(col) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a string column against its sorted unique values: ``(codes (n,), cats (m,))``."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(col).combine_chunks()
    cats = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    if np.any(enc.indices.is_null().to_numpy(zero_copy_only=False)):
        raise ValueError("OBD file: a categorical feature has missing values")
    order = np.argsort(cats.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[idx].astype(np.int64), cats[order]


def load_obd(
    behavior_policy: str = "random",
    campaign: str = "all",
    data_path: str | Path | None = None,
    *,
    include_affinity: bool = False,
) -> LoggedData:
    """Load OBD logs as :class:`LoggedData` with obp 0.5.7's feature processing (module docstring).

    behavior_policy: ``"random"`` or ``"bts"``; campaign: ``"all"``, ``"men"`` or ``"women"``.
    data_path: None for the bundled sample (10,000 rows), else the root of the full dataset's folder
        layout. include_affinity: append the ``user-item_affinity_*`` columns to the context.

    Returns LoggedData with ``context (n, d)`` float64 (d = 20 for the sample's campaign ``all``),
    ``action``, ``reward`` (clicks), ``pscore``, ``position`` (0-based, ``len_list = 3``),
    ``action_context (K, 4)``, ``timestamp`` (datetime64[ns], UTC).
    """
    data, items = _load_tables(behavior_policy, campaign, data_path)
    names = data.schema.names
    user_cols = [c for c in names if "user_feature" in c]
    blocks = []
    for c in user_cols:
        codes, cats = _codes_sorted(data.column(c))
        onehot = codes[:, None] == np.arange(1, cats.size)[None, :]  # first category dropped
        blocks.append(onehot.astype(np.float64))
    if include_affinity:
        aff = [c for c in names if c.startswith("user-item_affinity_")]
        blocks.append(np.stack([data.column(c).to_numpy().astype(np.float64) for c in aff], axis=1))
    n = data.num_rows
    context = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))

    item_cat = []
    for c in items.schema.names:
        if c in ("item_id", "item_feature_0"):
            continue
        item_cat.append(_codes_sorted(items.column(c))[0].astype(np.float64))
    item_id = items.column("item_id").to_numpy()
    action_context = np.stack([*item_cat, items.column("item_feature_0").to_numpy().astype(np.float64)], axis=1)
    if not np.array_equal(np.sort(item_id), np.arange(item_id.size)):
        raise ValueError("OBD item_context: expected item_id to be 0..K-1")
    action_context = action_context[np.argsort(item_id)] if not np.all(np.diff(item_id) > 0) else action_context

    raw_pos = data.column("position").to_numpy()
    uniq = np.unique(raw_pos)
    position = np.searchsorted(uniq, raw_pos).astype(np.int64)  # dense rank - 1, as obp
    import pandas as pd

    stamps = pd.to_datetime(data.column("timestamp").to_numpy(zero_copy_only=False), utc=True, format="ISO8601")
    timestamp = stamps.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    return LoggedData(
        context=context,
        action=data.column("item_id").to_numpy(),
        reward=data.column("click").to_numpy(),
        pscore=data.column("propensity_score").to_numpy(),
        position=position,
        action_context=action_context,
        timestamp=timestamp,
        n_actions=int(item_id.size),
        len_list=int(uniq.size),
    )


def obd_site_prior(campaign: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """ZOZOTOWN's Beta prior for Bernoulli TS in an Open Bandit Dataset campaign.

    Returns ``(alpha (K,), beta (K,))`` float64 with K = 80 / 34 / 46 for ``"all"`` / ``"men"`` /
    ``"women"``. The numbers are data from obp 0.5.7's ``obp/policy/conf/prior_bts.yaml``
    (Apache-2.0), the prior the site's BTS started the data collection with (Saito et al., 2021,
    arXiv:2008.07146); stored unchanged in ``bandits/datasets/obd_prior_bts.json``.
    """
    table = json.loads(_PRIOR_FILE.read_text())
    if campaign not in ("all", "men", "women"):
        raise ValueError(f"campaign: expected one of ('all', 'men', 'women'), got {campaign!r}")
    return np.asarray(table[campaign]["alpha"], np.float64), np.asarray(table[campaign]["beta"], np.float64)
