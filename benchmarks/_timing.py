"""Best-of-``repeat`` timing shared by the benchmarks and their peer scripts (numpy and the
standard library only, so that the peers venv can import it too)."""

from __future__ import annotations

import time


def best_of(fn, repeat: int) -> tuple[float, float, object]:
    """Run ``fn()`` ``repeat`` times; the best wall clock and process CPU seconds, and the last result."""
    best_w, best_c, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_w = min(best_w, time.perf_counter() - w0)
        best_c = min(best_c, time.process_time() - c0)
    return best_w, best_c, out
