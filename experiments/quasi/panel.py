"""A balanced panel of units observed over periods, and the checks every quasi-experimental
estimator needs before it may answer.

A :class:`Panel` holds an outcome matrix ``y (N, T)`` float64 and an absorbing treatment
indicator ``treated (N, T)`` bool (once a unit is treated it stays treated), with unit and time
labels. Estimators refuse panels that cannot support them instead of returning a number: every
error names the argument, what was expected and what was received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Panel", "panel_from_frame", "load_prop99", "prop99_panel", "PanelError"]

DATA_DIR = Path(__file__).resolve().parent / "data"


class PanelError(ValueError):
    """A panel cannot support the requested estimate (names the argument and the problem)."""


def _first(xs, k: int = 3) -> str:
    xs = [x.item() if isinstance(x, np.generic) else x for x in xs]
    s = ", ".join(repr(x) for x in xs[:k])
    return s + (f", ... ({len(xs)} in all)" if len(xs) > k else "")


@dataclass(frozen=True)
class Panel:
    """Outcome ``y (N, T)`` float64, absorbing treatment ``treated (N, T)`` bool, ``units (N,)`` and
    ``times (T,)`` labels (times sorted ascending), optional ``covariates`` name -> ``(N, T)`` float64
    (NaN where not observed)."""

    y: np.ndarray
    treated: np.ndarray
    units: np.ndarray
    times: np.ndarray
    covariates: dict = field(default_factory=dict)

    def __post_init__(self):
        y = np.asarray(self.y, np.float64)
        d = np.asarray(self.treated)
        if y.ndim != 2:
            raise PanelError(f"y: expected an (units, periods) matrix, got shape {y.shape}")
        if d.shape != y.shape:
            raise PanelError(f"treated: expected shape {y.shape} like y, got {d.shape}")
        if d.dtype != bool:
            if not np.all((d == 0) | (d == 1)):
                raise PanelError("treated: expected 0/1 (or bool) values, got others")
            d = d.astype(bool)
        bad = ~np.isfinite(y)
        if bad.any():
            i, t = np.argwhere(bad)[0]
            raise PanelError(f"y: expected finite outcomes, got {y[i, t]!r} for unit index {i}, period index {t} "
                             f"({int(bad.sum())} in all)")
        off = d[:, :-1] & ~d[:, 1:]
        if off.any():
            i, t = np.argwhere(off)[0]
            raise PanelError(f"treated: expected absorbing adoption (treated in every period after the first), "
                             f"unit index {i} is treated at period index {t} and not at {t + 1}")
        units = np.arange(y.shape[0]) if self.units is None else np.asarray(self.units)
        times = np.arange(y.shape[1]) if self.times is None else np.asarray(self.times)
        if units.shape != (y.shape[0],) or times.shape != (y.shape[1],):
            raise PanelError(f"units, times: expected {y.shape[0]} and {y.shape[1]} labels, "
                             f"got {units.shape} and {times.shape}")
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "treated", d)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "times", times)

    @classmethod
    def from_arrays(cls, y, treated, units=None, times=None, covariates=None) -> Panel:
        """A panel from ``y (N, T)`` and ``treated (N, T)`` (labels default to 0..N-1, 0..T-1)."""
        return cls(y, treated, units, times, dict(covariates or {}))

    @property
    def shape(self) -> tuple[int, int]:
        return self.y.shape

    @property
    def adoption(self) -> np.ndarray:
        """``(N,)`` int64: index of each unit's first treated period, ``T`` for never-treated units."""
        T = self.y.shape[1]
        ever = self.treated.any(1)
        return np.where(ever, np.argmax(self.treated, 1), T).astype(np.int64)

    @property
    def ever_treated(self) -> np.ndarray:
        """``(N,)`` bool: units treated in some period."""
        return self.treated.any(1)

    @property
    def cohorts(self) -> np.ndarray:
        """Sorted adoption period indices of the treated cohorts (never-treated excluded)."""
        a = self.adoption
        return np.unique(a[a < self.y.shape[1]])

    def with_outcome(self, y) -> Panel:
        """The same design with another outcome matrix ``(N, T)``."""
        return Panel(y, self.treated, self.units, self.times, self.covariates)

    def unit_index(self, label) -> int:
        hit = np.flatnonzero(self.units == label)
        if hit.size != 1:
            raise PanelError(f"treated_unit: expected one of the panel's units ({_first(self.units)}), got {label!r}")
        return int(hit[0])

    # ------------------------------------------------------------------ requirements
    def require(self, method: str, *, min_pre: int = 1, min_post: int = 1, min_treated: int = 1,
                min_control: int = 1, max_treated: int | None = None, block: bool = False) -> None:
        """Refuse (``PanelError`` naming ``method``) a panel that cannot support ``method``.

        min_pre / min_post: periods before the first adoption / from the last adoption on.
        min_treated / max_treated: bounds on the number of ever-treated units.
        min_control: never-treated units. block: all treated units adopt in the same period.
        """
        N, T = self.y.shape
        ever = self.ever_treated
        n1 = int(ever.sum())
        if n1 < min_treated:
            more = " (a single treated unit supports synthetic control and permutation inference)" if n1 == 1 else ""
            raise PanelError(f"{method}: needs at least {min_treated} treated units, the panel has {n1}{more}")
        if max_treated is not None and n1 > max_treated:
            raise PanelError(f"{method}: expected at most {max_treated} treated unit(s), the panel has {n1} "
                             f"({_first(self.units[ever])})")
        if N - n1 < min_control:
            raise PanelError(f"{method}: needs at least {min_control} never-treated units, the panel has {N - n1}")
        coh = self.cohorts
        if block and coh.size > 1:
            raise PanelError(f"{method}: expected one adoption period for all treated units (a block design), got "
                             f"{coh.size} ({_first(self.times[coh])}); use callaway_santanna for staggered adoption")
        if coh.size:
            pre, post = int(coh.min()), int(T - coh.max())
            if pre < min_pre:
                raise PanelError(f"{method}: needs at least {min_pre} pre-treatment periods, the panel has {pre} "
                                 f"before the first adoption at {_first([self.times[coh.min()]])}")
            if post < min_post:
                raise PanelError(f"{method}: needs at least {min_post} treated periods, the panel has {post} from "
                                 f"the last adoption at {_first([self.times[coh.max()]])}")


def panel_from_frame(df, *, unit: str, time: str, outcome: str, treatment: str | None = None,
                     treated_units=None, start=None, covariates=()) -> Panel:
    """A :class:`Panel` from a long table (one row per unit and period).

    df: pandas DataFrame with columns ``unit``, ``time``, ``outcome`` and either a 0/1
        ``treatment`` column, or ``treated_units`` (labels) with ``start`` (first treated period).
    covariates: extra columns kept as ``(N, T)`` matrices (NaN allowed: predictors average what is
        observed).
    Raises :class:`PanelError` for a missing column, duplicated or missing (unit, period) rows (an
    unbalanced panel), non-finite outcomes, or treatment that switches off.
    """
    cols = [unit, time, outcome] + ([treatment] if treatment else []) + list(covariates)
    for arg, c in zip(["unit", "time", "outcome"] + (["treatment"] if treatment else [])
                      + ["covariates"] * len(covariates), cols, strict=True):
        if c not in df.columns:
            raise PanelError(f"{arg}: column {c!r} not found; columns are {list(df.columns)[:20]}")
    if (treatment is None) == (treated_units is None):
        raise PanelError("treatment: expected either a treatment column or treated_units with start, got "
                         + ("both" if treatment else "neither"))
    dup = df.duplicated([unit, time])
    if dup.any():
        r = df.loc[dup, [unit, time]].iloc[0]
        raise PanelError(f"df: expected one row per (unit, period), got {int(dup.sum())} duplicated, e.g. "
                         f"({_first([r[unit], r[time]])})")
    units = np.array(sorted(df[unit].unique(), key=str), dtype=object)
    times = np.sort(df[time].unique())
    counts = df.groupby(unit)[time].nunique()
    short = counts[counts < times.size]
    if len(short):
        u = short.index[0]
        have = set(df.loc[df[unit] == u, time])
        miss = [t for t in times if t not in have]
        raise PanelError(f"df: unbalanced panel: expected every unit in all {times.size} periods, {len(short)} unit(s) "
                         f"are missing some, e.g. {u!r} lacks {_first(miss)}")
    wide = df.set_index([unit, time])

    def mat(col):
        return wide[col].unstack(time).reindex(index=units, columns=times).to_numpy(np.float64)

    y = mat(outcome)
    if treatment is not None:
        d = mat(treatment)
        if not np.all((d == 0) | (d == 1)):
            raise PanelError(f"treatment: expected 0/1 values in column {treatment!r}, got others")
    else:
        tu = list(treated_units) if not isinstance(treated_units, str) else [treated_units]
        missing = [u for u in tu if u not in set(units)]
        if missing:
            raise PanelError(f"treated_units: {_first(missing)} not among the panel's units ({_first(units)})")
        if start is None or start not in set(times):
            raise PanelError(f"start: expected one of the panel's periods ({_first(times)}), got {start!r}")
        d = np.isin(units, tu)[:, None] & (times >= start)[None, :]
    cov = {c: mat(c) for c in covariates}
    return Panel(y, d.astype(bool), units, times, cov)


def load_prop99():
    """California's Proposition 99 panel (Abadie, Diamond & Hainmueller 2010): 39 states x
    1970-2000, per-capita cigarette sales ``cigsale`` (packs) and the covariates ``lnincome``,
    ``beer``, ``age15to24``, ``retprice`` (NaN in years not collected). A pandas DataFrame (1209
    rows, long format, sorted by state and year); provenance in ``experiments/quasi/data/README.md``."""
    import pandas as pd

    return pd.read_csv(DATA_DIR / "prop99.csv.gz")


def prop99_panel() -> Panel:
    """:func:`load_prop99` as a :class:`Panel`: California treated from 1989, covariates kept."""
    return panel_from_frame(load_prop99(), unit="state", time="year", outcome="cigsale",
                            treated_units=["California"], start=1989,
                            covariates=("lnincome", "beer", "age15to24", "retprice"))
