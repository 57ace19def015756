"""Input checks shared by the A/B testing tools: every error names the argument, what was
expected and what came in."""

from __future__ import annotations

import numpy as np


class SmallSampleWarning(UserWarning):
    """A statistic was computed, but the sample cannot fully support it (zero variance, empty
    confidence sequence, undefined bootstrap replicates): the result says so instead of being
    confident."""


def check_alpha(alpha, name: str = "alpha") -> float:
    """A significance level strictly inside (0, 1)."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number in (0, 1), got {alpha!r}") from None
    if not (0.0 < a < 1.0):
        raise ValueError(f"{name}: expected a value in (0, 1), got {alpha!r}")
    return a


def check_sample(name: str, y, allow_empty: bool = False) -> np.ndarray:
    """A 1-d finite float64 sample (non-empty unless ``allow_empty``)."""
    a = np.asarray(y)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name}: expected numeric values, got an array of dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of per-member values, got shape {a.shape}")
    if a.size == 0 and not allow_empty:
        raise ValueError(f"{name}: expected at least one member, got an empty group")
    bad = ~np.isfinite(a)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: expected finite values, got {float(a[i])!r} at index {i} ({int(bad.sum())} in all)")
    return a


def check_metric(metric: str, *samples: np.ndarray) -> str:
    if metric == "auto":
        return "binary" if all(np.all((s == 0) | (s == 1)) for s in samples) else "continuous"
    if metric not in ("continuous", "binary"):
        raise ValueError(f"metric: expected 'continuous', 'binary' or 'auto', got {metric!r}")
    if metric == "binary":
        for i, s in enumerate(samples):
            bad = (s != 0) & (s != 1)
            if np.any(bad):
                raise ValueError(f"metric: 'binary' expects 0/1 values, got {float(s[bad][0])!r} in sample {i}")
    return metric


def check_positive(name: str, x, integer: bool = False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a positive number, got {x!r}") from None
    if not (np.isfinite(v) and v > 0) or (integer and v != int(v)):
        kind = "a positive integer" if integer else "a finite value > 0"
        raise ValueError(f"{name}: expected {kind}, got {x!r}")
    return v
