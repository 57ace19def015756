"""Logged bandit feedback: one validated container with the Open Bandit Pipeline's names.

:class:`LoggedData` holds what a logging policy recorded, one row per (impression, slot):

==================  ====================  ==========================================================
field               shape / dtype         meaning
==================  ====================  ==========================================================
``context``         ``(n, d)`` float64    features seen when the action was chosen (``d`` may be 0)
``action``          ``(n,)`` int64        chosen action (item) in ``[0, n_actions)``
``reward``          ``(n,)`` float64      observed reward (click, revenue, ...), finite
``pscore``          ``(n,)`` float64      logging policy's probability of ``action`` (at
                                          ``position`` for slates), in ``(0, 1]``
``position``        ``(n,)`` int64|None   slot of the action, 0-based, in ``[0, len_list)``
``action_context``  ``(K, p)`` float64    per-action features, one row per action, or None
``timestamp``       ``(n,)`` any|None     time of the impression (kept as given)
``n_actions``       int                   K
``len_list``        int                   L, slots per impression (1 without positions)
==================  ====================  ==========================================================

Validation happens once, at construction; every error names the argument, what was expected and
what came in. Arrays are stored as read-only views, so a ``LoggedData`` cannot be changed after it
has been checked (the caller's own arrays are not touched).

Constructors: :meth:`LoggedData.from_dataframe`, :meth:`LoggedData.from_parquet`,
:meth:`LoggedData.from_csv`, :meth:`LoggedData.from_arrow` (table columns named by one
:class:`ColumnMap`), :meth:`LoggedData.from_obp`; streaming: :func:`iter_parquet_batches`.
Exports: :meth:`LoggedData.to_obp`, :meth:`LoggedData.to_dataframe`. Everything downstream
(estimators, reward models, replay, the engine's logs) takes a ``LoggedData``;
:meth:`LoggedData.coerce` turns obp's dict into one at those entry points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ColumnMap", "LoggedData", "iter_parquet_batches"]

DEFAULT_CONTEXT_PREFIX = "context_"


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    v = a.view()
    v.flags.writeable = False
    return v


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:200]


def _as_int_array(name: str, x: Any) -> np.ndarray:
    """Coerce to int64 without silently truncating non-integral floats."""
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name}: expected integer values, got {_describe(a)}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            bad = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
            raise ValueError(f"{name}: expected finite integer values, got {a.ravel()[bad]!r} at index {bad}")
        if not np.all(a == np.round(a)):
            bad = int(np.flatnonzero(a.ravel() != np.round(a.ravel()))[0])
            raise ValueError(f"{name}: expected integer values, got {a.ravel()[bad]!r} at index {bad}")
    return a.astype(np.int64, copy=False)


def _as_float_array(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object:
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name}: expected numeric values, got {_describe(a)} ({e})") from None
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name}: expected numeric values, got {_describe(a)}")
    return a.astype(np.float64, copy=False)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _scalar(x: Any) -> Any:
    """A 0-d numpy array (e.g. from ``np.load``) as its Python scalar; anything else unchanged."""
    return x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x


def _check_size(name: str, x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {x!r}")
    return int(x)


@dataclass(frozen=True, eq=False, repr=False)
class LoggedData:
    """Validated logged bandit feedback (see the module docstring for the schema).

    ``n_actions`` defaults to ``action_context.shape[0]`` when given, else ``action.max() + 1``;
    ``len_list`` defaults to ``position.max() + 1`` when positions are given, else 1.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    position: np.ndarray | None = None
    action_context: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    n_actions: int | None = None
    len_list: int | None = None

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)

        action = _as_int_array("action", self.action)
        if action.ndim != 1:
            raise ValueError(f"action: expected a 1-d array of shape (n_rounds,), got {_describe(action)}")
        n = action.shape[0]
        if n == 0:
            raise ValueError("action: expected at least one logged round, got an empty array")

        reward = _as_float_array("reward", self.reward)
        if reward.shape != (n,):
            raise ValueError(f"reward: expected shape ({n},) to match action, got {_describe(reward)}")
        # a reduction is cheaper than an elementwise isfinite: locate the bad row only on failure
        if not np.isfinite(np.add.reduce(reward)):
            bad = ~np.isfinite(reward)
            if bad.any():
                i = _first_bad(bad)
                raise ValueError(f"reward: expected finite values, got {float(reward[i])!r} at row {i}")

        pscore = _as_float_array("pscore", self.pscore)
        if pscore.shape != (n,):
            raise ValueError(f"pscore: expected shape ({n},) to match action, got {_describe(pscore)}")
        if not (pscore.min() > 0.0 and pscore.max() <= 1.0):  # min/max propagate NaN -> fails too
            bad = ~((pscore > 0) & (pscore <= 1))
            i = _first_bad(bad)
            raise ValueError(
                f"pscore: expected every value in (0, 1], got {float(pscore[i])!r} at row {i} "
                f"({int(bad.sum())} bad rows in all)"
            )

        if self.context is None:
            context = np.zeros((n, 0), np.float64)
        else:
            context = _as_float_array("context", self.context)
            if context.ndim != 2:
                hint = " (use context.reshape(-1, 1) for a single feature)" if context.ndim == 1 else ""
                raise ValueError(f"context: expected a 2-d array (n_rounds, dim_context), got {_describe(context)}{hint}")
            if context.shape[0] != n:
                raise ValueError(f"context: expected {n} rows to match action, got {_describe(context)}")
            if context.size and not np.isfinite(np.add.reduce(context, axis=None)):
                bad = ~np.isfinite(context)
                if bad.any():
                    r, c = np.argwhere(bad)[0]
                    raise ValueError(
                        f"context: expected finite values, got {float(context[r, c])!r} at row {r}, column {c}"
                    )

        action_context = None
        if self.action_context is not None:
            action_context = _as_float_array("action_context", self.action_context)
            if action_context.ndim != 2:
                raise ValueError(f"action_context: expected a 2-d array (n_actions, dim_action_context), got {_describe(action_context)}")

        lo, hi = int(action.min()), int(action.max())
        if self.n_actions is None:
            n_actions = action_context.shape[0] if action_context is not None else hi + 1
        else:
            n_actions = _check_size("n_actions", self.n_actions)
        if action_context is not None and action_context.shape[0] != n_actions:
            raise ValueError(
                f"action_context: expected one row per action ({n_actions} rows), got {_describe(action_context)}"
            )
        if lo < 0 or hi >= n_actions:
            i = _first_bad((action < 0) | (action >= n_actions))
            raise ValueError(f"action: expected integers in [0, n_actions={n_actions}), got {action[i]} at row {i}")

        position = None
        if self.position is not None:
            position = _as_int_array("position", self.position)
            if position.shape != (n,):
                raise ValueError(f"position: expected shape ({n},) to match action, got {_describe(position)}")
            if position.min() < 0:
                i = _first_bad(position < 0)
                raise ValueError(f"position: expected 0-based slots >= 0, got {position[i]} at row {i}")
        if self.len_list is None:
            len_list = int(position.max()) + 1 if position is not None else 1
        else:
            len_list = _check_size("len_list", self.len_list)
        if position is not None and position.max() >= len_list:
            i = _first_bad(position >= len_list)
            raise ValueError(
                f"position: expected integers in [0, len_list={len_list}), got {position[i]} at row {i}"
                " (1-based positions? subtract 1, or pass position_base=1 to the reader)"
            )
        if len_list > n_actions:
            raise ValueError(f"len_list: expected at most n_actions={n_actions} slots, got {len_list}")

        timestamp = None
        if self.timestamp is not None:
            timestamp = np.asarray(self.timestamp)
            if timestamp.shape != (n,):
                raise ValueError(f"timestamp: expected shape ({n},) to match action, got {_describe(timestamp)}")

        set_("context", _readonly(context))
        set_("action", _readonly(action))
        set_("reward", _readonly(reward))
        set_("pscore", _readonly(pscore))
        set_("position", _readonly(position))
        set_("action_context", _readonly(action_context))
        set_("timestamp", _readonly(timestamp))
        set_("n_actions", n_actions)
        set_("len_list", len_list)

    @classmethod
    def coerce(cls, data: Any, name: str = "data") -> LoggedData:
        """``data`` as a LoggedData: a LoggedData is returned as is (already validated), obp's
        ``bandit_feedback`` dict (any Mapping) goes through :meth:`from_obp`; anything else is a
        ``TypeError`` naming ``name``."""
        if isinstance(data, LoggedData):
            return data
        if isinstance(data, Mapping):
            return cls.from_obp(data)
        raise TypeError(f"{name}: expected a bandits.data.LoggedData (or obp's bandit_feedback dict), got {_describe(data)}")

    # ------------------------------------------------------------------ basics
    @property
    def n_rounds(self) -> int:
        """Number of logged rows n."""
        return int(self.action.shape[0])

    @property
    def dim_context(self) -> int:
        """Context dimension d (0 for context-free logs)."""
        return int(self.context.shape[1])

    def __len__(self) -> int:
        return self.n_rounds

    def __repr__(self) -> str:
        extra = [f"position=0..{self.len_list - 1}" if self.position is not None else "position=None"]
        if self.action_context is not None:
            extra.append(f"action_context={self.action_context.shape}")
        if self.timestamp is not None:
            extra.append("timestamp")
        return (
            f"LoggedData(n_rounds={self.n_rounds}, n_actions={self.n_actions}, len_list={self.len_list}, "
            f"dim_context={self.dim_context}, {', '.join(extra)})"
        )

    def replace(self, **changes: Any) -> LoggedData:
        """A validated copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ slicing
    def subset(self, idx: Any) -> LoggedData:
        """Rows ``idx`` (int indices, a boolean mask of length n, or a slice) as a new LoggedData.

        ``n_actions``, ``len_list`` and ``action_context`` are kept, so subsets stay compatible
        with an ``action_dist`` of shape ``(m, n_actions, len_list)``.
        """
        if isinstance(idx, slice):
            sel = idx
        else:
            sel = np.asarray(idx)
            if sel.dtype == np.bool_:
                if sel.shape != (self.n_rounds,):
                    raise ValueError(f"idx: expected a boolean mask of shape ({self.n_rounds},), got {_describe(sel)}")
            elif np.issubdtype(sel.dtype, np.integer):
                if sel.ndim != 1:
                    raise ValueError(f"idx: expected 1-d integer indices, got {_describe(sel)}")
                if sel.size and (sel.min() < -self.n_rounds or sel.max() >= self.n_rounds):
                    raise IndexError(f"idx: expected indices in [0, {self.n_rounds}), got min {sel.min()} max {sel.max()}")
            else:
                raise TypeError(f"idx: expected integer indices, a boolean mask or a slice, got {_describe(sel)}")

        def take(a):
            return None if a is None else a[sel]

        return LoggedData(
            context=take(self.context),
            action=take(self.action),
            reward=take(self.reward),
            pscore=take(self.pscore),
            position=take(self.position),
            action_context=self.action_context,
            timestamp=take(self.timestamp),
            n_actions=self.n_actions,
            len_list=self.len_list,
        )

    def split(self, frac: float = 0.7, seed: int | None = 0) -> tuple[LoggedData, LoggedData]:
        """Split rows into ``(first, second)`` with ``round(frac * n)`` rows in ``first``.

        ``seed``: an int shuffles rows with ``numpy.random.default_rng(seed)`` before splitting;
        ``None`` keeps the logged order (a time-series split, like obp's ``is_timeseries_split``).
        """
        if not (isinstance(frac, float | int) and 0.0 < float(frac) < 1.0):
            raise ValueError(f"frac: expected a fraction in (0, 1), got {frac!r}")
        n = self.n_rounds
        k = int(round(float(frac) * n))
        if k == 0 or k == n:
            raise ValueError(f"frac: {frac!r} of {n} rows leaves one side empty")
        order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
        first, second = np.sort(order[:k]), np.sort(order[k:])
        return self.subset(first), self.subset(second)

    # ------------------------------------------------------------------ obp interop
    @classmethod
    def from_obp(cls, bandit_feedback: Mapping[str, Any]) -> LoggedData:
        """From obp's ``bandit_feedback`` dict (keys ``n_rounds, n_actions, action, position, reward,
        pscore, context, action_context``, optionally ``len_list`` and ``timestamp``;
        ``position``/``action_context``/``context`` may be absent or None). Other keys
        (``expected_reward``, ``pi_b``, ...) are ignored."""
        if not isinstance(bandit_feedback, Mapping):
            raise TypeError(f"bandit_feedback: expected obp's dict, got {_describe(bandit_feedback)}")
        missing = [k for k in ("action", "reward", "pscore") if bandit_feedback.get(k) is None]
        if missing:
            raise KeyError(f"bandit_feedback: missing required key(s) {missing}; got keys {sorted(bandit_feedback)}")
        out = cls(
            context=bandit_feedback.get("context"),
            action=bandit_feedback["action"],
            reward=bandit_feedback["reward"],
            pscore=bandit_feedback["pscore"],
            position=bandit_feedback.get("position"),
            action_context=bandit_feedback.get("action_context"),
            timestamp=bandit_feedback.get("timestamp"),
            n_actions=_scalar(bandit_feedback.get("n_actions")),
            len_list=_scalar(bandit_feedback.get("len_list")),
        )
        if bandit_feedback.get("n_rounds") is not None and int(bandit_feedback["n_rounds"]) != out.n_rounds:
            raise ValueError(
                f"bandit_feedback['n_rounds']: expected {out.n_rounds} (the length of action), got {bandit_feedback['n_rounds']!r}"
            )
        return out

    def to_obp(self) -> dict[str, Any]:
        """obp's ``bandit_feedback`` dict: ``n_rounds, n_actions, action, position, reward, pscore,
        context, action_context`` (``position``/``action_context`` None when absent). Arrays are
        fresh writable copies."""
        cp = lambda a: None if a is None else np.array(a)  # noqa: E731
        return dict(
            n_rounds=self.n_rounds,
            n_actions=self.n_actions,
            action=cp(self.action),
            position=cp(self.position),
            reward=cp(self.reward),
            pscore=cp(self.pscore),
            context=cp(self.context),
            action_context=cp(self.action_context),
        )

    # ------------------------------------------------------------------ tables
    @classmethod
    def from_dataframe(cls, df: Any, columns: ColumnMap | None = None, *, action_context: np.ndarray | None = None,
                       n_actions: int | None = None, len_list: int | None = None, **column_fields: Any) -> LoggedData:
        """From a pandas DataFrame with one row per logged (impression, slot).

        columns: a :class:`ColumnMap` naming the columns (default ``ColumnMap()``); its fields may
            also be given as keywords (``position_col="slot", position_base=1``), which override it.
        action_context, n_actions, len_list: as in :class:`LoggedData`.
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df: expected a pandas.DataFrame, got {_describe(df)}")
        cmap = ColumnMap.of(columns, column_fields)
        return cmap.read(list(map(str, df.columns)), lambda c: df[c].to_numpy(), "df",
                         action_context=action_context, n_actions=n_actions, len_list=len_list)

    @classmethod
    def from_arrow(cls, table: Any, columns: ColumnMap | None = None, *, action_context: np.ndarray | None = None,
                   n_actions: int | None = None, len_list: int | None = None, **column_fields: Any) -> LoggedData:
        """From a ``pyarrow.Table`` or ``RecordBatch`` (arguments as in :meth:`from_dataframe`)."""
        cmap = ColumnMap.of(columns, column_fields)
        return cmap.read(list(table.schema.names), lambda c: table.column(c).to_numpy(zero_copy_only=False),
                         "table", action_context=action_context, n_actions=n_actions, len_list=len_list)

    @classmethod
    def from_parquet(cls, path: str | Path, columns: ColumnMap | None = None, *,
                     action_context: np.ndarray | None = None, n_actions: int | None = None,
                     len_list: int | None = None, **column_fields: Any) -> LoggedData:
        """Read a parquet file with pyarrow (only the needed columns); arguments as in
        :meth:`from_dataframe`. For files larger than memory use :func:`iter_parquet_batches`."""
        import pyarrow.parquet as pq

        cmap = ColumnMap.of(columns, column_fields)
        path = _existing(path)
        needed = cmap.needed(pq.read_schema(path).names, str(path))
        table = pq.read_table(path, columns=needed)
        return cmap.read(list(table.schema.names), lambda c: table.column(c).to_numpy(zero_copy_only=False),
                         str(path), action_context=action_context, n_actions=n_actions, len_list=len_list)

    @classmethod
    def from_csv(cls, path: str | Path, columns: ColumnMap | None = None, *,
                 action_context: np.ndarray | None = None, n_actions: int | None = None,
                 len_list: int | None = None, **column_fields: Any) -> LoggedData:
        """Read a CSV file (optionally ``.gz``) with ``pyarrow.csv``; arguments as in :meth:`from_dataframe`."""
        import pyarrow.csv as pcsv

        cmap = ColumnMap.of(columns, column_fields)
        path = _existing(path)
        table = pcsv.read_csv(path)
        return cmap.read(list(table.schema.names), lambda c: table.column(c).to_numpy(zero_copy_only=False),
                         str(path), action_context=action_context, n_actions=n_actions, len_list=len_list)

    def to_dataframe(self, context_prefix: str = DEFAULT_CONTEXT_PREFIX) -> Any:
        """A pandas DataFrame with columns ``context_0..d-1, action, reward, pscore`` and, when present,
        ``position`` and ``timestamp``; ``LoggedData.from_dataframe(..., position_col="position",
        timestamp_col="timestamp")`` reads it back (``action_context`` is not a per-row column)."""
        import pandas as pd

        cols: dict[str, Any] = {f"{context_prefix}{j}": self.context[:, j] for j in range(self.dim_context)}
        cols.update(action=self.action, reward=self.reward, pscore=self.pscore)
        if self.position is not None:
            cols["position"] = self.position
        if self.timestamp is not None:
            cols["timestamp"] = self.timestamp
        return pd.DataFrame({k: np.array(v) for k, v in cols.items()})


# ---------------------------------------------------------------------- column mapping
def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: expected an existing file, got {str(path)!r}")
    return p


@dataclass(frozen=True)
class ColumnMap:
    """Which table columns hold which :class:`LoggedData` field (shared by every reader).

    context_cols: context column names, in order; None takes every column whose name starts with
        ``context_prefix`` (``"context_"``), in table order (none -> ``d = 0``).
    action_col, reward_col, pscore_col: required columns.
    position_col: slot column, or None for single-slot logs; ``position_base=1`` converts 1-based
        slots (OBD's raw ``position``) to 0-based.
    timestamp_col: time column (kept as given), or None.
    """

    context_cols: Sequence[str] | None = None
    action_col: str = "action"
    reward_col: str = "reward"
    pscore_col: str = "pscore"
    position_col: str | None = None
    timestamp_col: str | None = None
    context_prefix: str = DEFAULT_CONTEXT_PREFIX
    position_base: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.context_cols, str):
            raise TypeError(f"context_cols: expected a list of column names, got the string {self.context_cols!r}")
        if self.context_cols is not None:
            object.__setattr__(self, "context_cols", tuple(self.context_cols))
        for f in ("action_col", "reward_col", "pscore_col", "context_prefix"):
            if not isinstance(getattr(self, f), str):
                raise TypeError(f"{f}: expected a column name (str), got {_describe(getattr(self, f))}")
        for f in ("position_col", "timestamp_col"):
            if getattr(self, f) is not None and not isinstance(getattr(self, f), str):
                raise TypeError(f"{f}: expected a column name (str) or None, got {_describe(getattr(self, f))}")
        if isinstance(self.position_base, bool) or not isinstance(self.position_base, int | np.integer):
            raise TypeError(f"position_base: expected an integer (0 or 1), got {self.position_base!r}")

    @classmethod
    def of(cls, columns: ColumnMap | None, overrides: Mapping[str, Any]) -> ColumnMap:
        """``columns`` (default ``ColumnMap()``) with ``overrides`` (field name -> value) applied;
        an unknown field name is a ``TypeError`` listing the fields."""
        if columns is not None and not isinstance(columns, ColumnMap):
            raise TypeError(f"columns: expected a bandits.data.ColumnMap or None, got {_describe(columns)}")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; column fields are {fields}")
        base = columns if columns is not None else cls()
        return dataclasses.replace(base, **overrides) if overrides else base

    def context_columns(self, names: Sequence[str], source: str) -> list[str]:
        """The context columns among ``names`` (a table's column names, in order)."""
        if self.context_cols is None:
            return [c for c in names if c.startswith(self.context_prefix)]
        missing = [c for c in self.context_cols if c not in names]
        if missing:
            raise KeyError(f"context_cols: column(s) {missing[:5]} not found in {source}; columns are {list(names)[:20]}")
        return list(self.context_cols)

    def needed(self, names: Sequence[str], source: str) -> list[str]:
        """Every column to read (context columns first), after checking they exist in ``names``."""
        named = [("action_col", self.action_col), ("reward_col", self.reward_col), ("pscore_col", self.pscore_col),
                 ("position_col", self.position_col), ("timestamp_col", self.timestamp_col)]
        for arg, col in named:
            if col is not None and col not in names:
                raise KeyError(f"{arg}: column {col!r} not found in {source}; columns are {list(names)[:20]}")
        return self.context_columns(names, source) + [c for _, c in named if c is not None]

    def read(self, names: Sequence[str], get: Any, source: str, *, action_context: np.ndarray | None = None,
             n_actions: int | None = None, len_list: int | None = None) -> LoggedData:
        """A LoggedData from a table with column ``names`` whose column ``c`` is ``get(c)`` (array-like)."""
        self.needed(names, source)
        ctx_cols = self.context_columns(names, source)
        n = len(get(self.action_col))
        if ctx_cols:
            parts = []
            for c in ctx_cols:
                col = np.asarray(get(c))
                if not (np.issubdtype(col.dtype, np.number) or col.dtype == np.bool_):
                    raise TypeError(
                        f"context_cols: column {c!r} is not numeric (dtype {col.dtype}); one-hot encode categorical "
                        "features first (e.g. pandas.get_dummies)"
                    )
                parts.append(col.astype(np.float64, copy=False))
            context = np.stack(parts, axis=1)
        else:
            context = np.zeros((n, 0))
        position = None
        if self.position_col is not None:
            position = _as_int_array("position", get(self.position_col)) - int(self.position_base)
        return LoggedData(
            context=context,
            action=get(self.action_col),
            reward=get(self.reward_col),
            pscore=get(self.pscore_col),
            position=position,
            action_context=action_context,
            timestamp=None if self.timestamp_col is None else get(self.timestamp_col),
            n_actions=n_actions,
            len_list=len_list,
        )


def iter_parquet_batches(path: str | Path, batch_rows: int = 1_000_000, columns: ColumnMap | None = None, *,
                         action_context: np.ndarray | None = None, n_actions: int | None = None,
                         len_list: int | None = None, **column_fields: Any) -> Iterator[LoggedData]:
    """Stream a parquet file as :class:`LoggedData` chunks of at most ``batch_rows`` rows.

    columns / column_fields: the :class:`ColumnMap` (as in :meth:`LoggedData.from_dataframe`).
    Memory stays bounded by one chunk (plus pyarrow's row-group buffer). Every chunk carries the
    same ``n_actions`` and ``len_list``: when not given they are taken from the file's column
    statistics (max of the action / position columns), or from a first pass over those columns
    only if the statistics are missing.
    """
    import pyarrow.parquet as pq

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int | np.integer) or batch_rows < 1:
        raise ValueError(f"batch_rows: expected an integer >= 1, got {batch_rows!r}")
    cmap = ColumnMap.of(columns, column_fields)
    path = _existing(path)
    pf = pq.ParquetFile(path)
    cols = cmap.needed(pf.schema_arrow.names, str(path))
    if n_actions is None and action_context is None:
        n_actions = int(_column_max(pf, cmap.action_col)) + 1
    if len_list is None and cmap.position_col is not None:
        len_list = int(_column_max(pf, cmap.position_col)) - int(cmap.position_base) + 1
    for batch in pf.iter_batches(batch_size=int(batch_rows), columns=cols):
        yield cmap.read(list(batch.schema.names), lambda c, b=batch: b.column(c).to_numpy(zero_copy_only=False),
                        str(path), action_context=action_context, n_actions=n_actions, len_list=len_list)


def _column_max(pf: Any, col: str) -> float:
    """Max of a numeric column from row-group statistics, falling back to a scan of that column."""
    idx = pf.schema_arrow.get_field_index(col)
    md = pf.metadata
    best = None
    try:
        for rg in range(md.num_row_groups):
            st = md.row_group(rg).column(idx).statistics
            if st is None or not st.has_min_max:
                raise LookupError
            best = st.max if best is None else max(best, st.max)
    except (LookupError, IndexError):
        best = None
    if best is not None:
        return best
    import pyarrow.compute as pc

    best = None
    for b in pf.iter_batches(columns=[col]):
        m = pc.max(b.column(0)).as_py()
        best = m if best is None else max(best, m)
    return best
