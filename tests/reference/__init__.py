"""Independent float64 numpy references for the tests (per-round loops, closed forms, quadrature)."""
