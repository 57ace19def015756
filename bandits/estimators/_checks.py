"""Eager input validation for the estimators: every error names the argument, what was
expected and what came in (obp's habit, kept)."""

from __future__ import annotations

from typing import Any

import numpy as np

# action_dist rows (over actions, per position) must sum to 1 within this absolute tolerance.
# Loose enough for float32 policies (K * 2**-24 per row), tight enough to catch real mistakes.
SUM_TOL = 1e-5


def describe(x: Any) -> str:
    """Short description of a value for error messages: type, dtype and shape."""
    if isinstance(x, np.ndarray) or hasattr(x, "shape"):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}"[:120]


def first_bad(mask: np.ndarray) -> int:
    """Index (flat, first axis) of the first True entry of ``mask``."""
    return int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0]) if mask.ndim > 1 else int(
        np.flatnonzero(mask)[0]
    )


def as_1d(name: str, x: Any, n: int | None, kind: str, check_finite: bool = True) -> np.ndarray:
    """Convert ``x`` to a 1-D array (``kind`` 'float' -> float64, 'int' -> int64) of length ``n``.

    ``check_finite=False`` skips the finiteness check (for callers whose range check rejects
    NaN and infinities anyway).
    """
    if x is None:
        raise ValueError(f"{name}: expected a 1-D array, got None")
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of shape (n_rounds,), got {describe(a)}")
    if n is not None and a.shape[0] != n:
        raise ValueError(
            f"{name}: expected length n_rounds={n} (the length of `reward`), got length {a.shape[0]}"
        )
    if kind == "float":
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise ValueError(f"{name}: expected a numeric array, got {describe(a)}")
        a = a.astype(np.float64, copy=False)
        # a read-only reduction is cheaper than an elementwise isfinite; locate only on failure
        if check_finite and not np.isfinite(np.add.reduce(a)):
            bad = ~np.isfinite(a)
            if bad.any():
                i = first_bad(bad)
                raise ValueError(f"{name}: expected finite values, got {float(a[i])!r} at index {i}")
    else:
        if np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ValueError(f"{name}: expected integer values, got {describe(a)} with non-integers")
        elif not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name}: expected an integer array, got {describe(a)}")
        a = a.astype(np.int64, copy=False)
    return a


def check_pscore(pscore: np.ndarray) -> None:
    """Propensities must lie in (0, 1] (NaN fails too)."""
    if pscore.size and pscore.min() > 0.0 and pscore.max() <= 1.0:  # min/max propagate NaN -> False
        return
    bad = ~((pscore > 0.0) & (pscore <= 1.0))
    if bad.any():
        i = first_bad(bad)
        raise ValueError(f"pscore: expected every value in (0, 1], got {float(pscore[i])!r} at index {i}")


def check_range(name: str, a: np.ndarray, upper: int, upper_name: str) -> None:
    """Integers in ``[0, upper)``."""
    if a.size == 0 or (a.min() >= 0 and a.max() < upper):
        return
    bad = (a < 0) | (a >= upper)
    if bad.any():
        i = first_bad(bad)
        raise ValueError(f"{name}: expected integers in [0, {upper_name}={upper}), got {a[i]} at index {i}")


def as_action_array(name: str, x: Any, n: int, n_actions: int | None, len_list: int | None) -> np.ndarray:
    """Validate an ``(n_rounds, n_actions, len_list)`` array (a 2-D ``(n, K)`` one gets len_list 1).

    Returns a float64 array (no copy when already float64).
    """
    if x is None:
        raise ValueError(f"{name}: expected an array of shape (n_rounds, n_actions, len_list), got None")
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected an array of shape (n_rounds, n_actions, len_list), got {describe(a)}")
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: expected a numeric array, got {describe(a)}")
    if a.shape[0] != n:
        raise ValueError(
            f"{name}: expected n_rounds={n} rows (the length of `reward`), got shape {tuple(a.shape)}"
        )
    if n_actions is not None and a.shape[1] != n_actions:
        raise ValueError(f"{name}: expected n_actions={n_actions} columns (axis 1), got shape {tuple(a.shape)}")
    if len_list is not None and a.shape[2] != len_list:
        raise ValueError(f"{name}: expected len_list={len_list} positions (axis 2), got shape {tuple(a.shape)}")
    return a.astype(np.float64, copy=False)


def check_action_dist(action_dist: np.ndarray) -> np.ndarray:
    """Non-negative, finite, each ``(row, position)`` distribution over actions sums to 1.

    Returns the row sums ``(n, len_list)`` (used to normalise exactly like obp's ``np.average``).
    """
    n, K, L = action_dist.shape
    mn = action_dist.min() if action_dist.size else 0.0
    if not mn >= 0.0:  # also catches NaN
        bad = ~(action_dist >= 0.0)
        i = first_bad(bad)
        raise ValueError(
            "action_dist: expected non-negative finite probabilities, got "
            f"{float(action_dist[i][bad[i]][0])!r} in row {i}"
        )
    if L == 1 and action_dist.flags.c_contiguous:
        # a matrix-vector product is several times faster than a short-axis reduction
        sums = (action_dist.reshape(n, K) @ np.ones(K))[:, None]
    else:
        sums = action_dist.sum(axis=1)
    dev = np.abs(sums - 1.0)
    if not dev.max(initial=0.0) <= SUM_TOL:  # also catches inf/NaN
        bad = ~(dev <= SUM_TOL)
        i = first_bad(bad)
        pos = int(np.flatnonzero(bad[i])[0])
        raise ValueError(
            "action_dist: expected each row's probabilities over actions (axis 1) to sum to 1 "
            f"(tolerance {SUM_TOL}) at every position, got sum {float(sums[i, pos])!r} in row {i}, position {pos}"
        )
    return sums


def check_finite(name: str, a: np.ndarray) -> None:
    if not np.isfinite(a.sum()):
        bad = ~np.isfinite(a)
        if bad.any():
            i = first_bad(bad)
            raise ValueError(f"{name}: expected finite values, got a non-finite value in row {i}")
        raise ValueError(f"{name}: expected values whose sum is finite, got values that overflow float64")
