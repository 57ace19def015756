"""Eager validation of the estimators' own inputs (``action_dist``, ``estimated_rewards``): every
error names the argument, what was expected and what came in (obp's habit, kept). The logged data
itself is validated once, by :class:`bandits.data.LoggedData`."""

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
            f"{name}: expected n_rounds={n} rows (one per logged row), got shape {tuple(a.shape)}"
        )
    if n_actions is not None and a.shape[1] != n_actions:
        raise ValueError(f"{name}: expected n_actions={n_actions} columns (axis 1), got shape {tuple(a.shape)}")
    if len_list is not None and a.shape[2] != len_list:
        raise ValueError(f"{name}: expected len_list={len_list} positions (axis 2), got shape {tuple(a.shape)}")
    return a.astype(np.float64, copy=False)


def _min_and_row_sums(a: np.ndarray, block_elems: int = 1 << 17) -> tuple[float, np.ndarray]:
    """Minimum and row sums ``(n,)`` of a C-contiguous ``(n, K)`` array in one pass over memory.

    The rows are read in blocks of about ``block_elems`` entries (1 MiB of float64): each block's
    minimum and its matrix-vector product with ones read it while it is still in cache, so a
    large array is streamed from memory once instead of twice. NaN propagates to the minimum.
    """
    n, K = a.shape
    rows = max(1, block_elems // max(K, 1))
    sums = np.empty(n)
    ones = np.ones(K)
    mn = np.inf
    for i0 in range(0, n, rows):
        blk = a[i0:i0 + rows]
        m = blk.min()
        if not m >= mn:  # smaller, or NaN (kept: NaN compares false)
            mn = m
        np.dot(blk, ones, out=sums[i0:i0 + rows])
    return float(mn), sums


def check_action_dist(action_dist: np.ndarray) -> np.ndarray:
    """Non-negative, finite, each ``(row, position)`` distribution over actions sums to 1.

    Returns the row sums ``(n, len_list)`` (used to normalise exactly like obp's ``np.average``).
    """
    n, K, L = action_dist.shape
    fused = L == 1 and action_dist.dtype == np.float64 and action_dist.flags.c_contiguous and action_dist.size > 0
    if fused:
        mn, sums = _min_and_row_sums(action_dist.reshape(n, K))
        sums = sums[:, None]
    else:
        mn = action_dist.min() if action_dist.size else 0.0
    if not mn >= 0.0:  # also catches NaN
        bad = ~(action_dist >= 0.0)
        i = first_bad(bad)
        raise ValueError(
            "action_dist: expected non-negative finite probabilities, got "
            f"{float(action_dist[i][bad[i]][0])!r} in row {i}"
        )
    if not fused:
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
