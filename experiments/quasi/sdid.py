"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager, AER 2021)
for a block design (every treated unit adopts in the same period).

With ``N0`` control and ``N1`` treated units, ``T0`` pre and ``T1`` post periods:

- unit weights ``omega`` (simplex) and an intercept make the controls' pre-period path parallel
  to the treated average: ``min sum_t<=T0 (w0 + omega' Y_co,t - Ybar_tr,t)^2 + zeta^2 T0 |omega|^2``
  with ``zeta = (N1 T1)^(1/4) sigma``, ``sigma`` the standard deviation of the controls' first
  differences in the pre period;
- time weights ``lambda`` (simplex) and an intercept make the weighted pre periods predict each
  control's post average (a vanishing ridge ``1e-6 sigma`` only breaks ties);
- ``tau = (Ybar_tr,post - lambda' Ybar_tr,pre) - sum_i omega_i (Ybar_i,post - lambda' Y_i,pre)``.

``estimator="sc"`` (no intercept, vanishing ridge, no time weights) and ``"did"`` (uniform weights)
give the paper's comparison estimators in the same frame. The weight problems are simplex-
constrained least squares solved exactly (:func:`experiments.quasi.synth.simplex_weights`); the
reference implementation stops its Frank-Wolfe iterations early and sparsifies, so its estimates
differ from the exact optimum in the second decimal.

Standard errors: ``"placebo"`` (Algorithm 4: ``N1`` controls drawn at random play the treated,
the whole estimator is rerun; valid with one treated unit, assumes homoskedastic units) or
``"jackknife"`` (Algorithm 3: leave one unit out with the weights fixed; needs 2+ treated units).
Intervals are normal.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from experiments.abtest.validation import check_alpha, check_positive
from experiments.quasi.inference import Estimate
from experiments.quasi.panel import Panel, PanelError
from experiments.quasi.synth import simplex_weights

__all__ = ["sdid_weights", "sdid_tau", "sdid"]

_ESTIMATORS = ("sdid", "sc", "did")


def _simplex_ls(A, b, ridge: float, intercept: bool):
    """``argmin_{x in simplex} |A x - b|^2 + ridge |x|^2`` (with a free intercept when asked:
    columns of ``A`` and ``b`` are centred)."""
    A = np.asarray(A, np.float64)
    b = np.asarray(b, np.float64)
    if intercept:
        A = A - A.mean(0, keepdims=True)
        b = b - b.mean()
    J = A.shape[1]
    if ridge > 0:
        A = np.vstack([A, np.sqrt(ridge) * np.eye(J)])
        b = np.concatenate([b, np.zeros(J)])
    return simplex_weights(b, A)[0]


def sdid_weights(Y, n0: int, t0: int, estimator: str = "sdid") -> tuple[np.ndarray, np.ndarray]:
    """Unit and time weights for ``Y (N, T)`` with the ``n0`` controls first and ``t0`` pre periods.

    Returns ``(omega (n0,), lam (t0,))``; ``lam`` is all zeros for ``"sc"`` (no pre-period
    adjustment) and uniform for ``"did"``.
    """
    Y = np.asarray(Y, np.float64)
    N, T = Y.shape
    n1, t1 = N - n0, T - t0
    if estimator == "did":
        return np.full(n0, 1.0 / n0), np.full(t0, 1.0 / t0)
    sigma = float(np.std(np.diff(Y[:n0, :t0], axis=1), ddof=1)) if t0 > 1 else 0.0
    tr_pre = Y[n0:, :t0].mean(0)
    if estimator == "sc":
        zeta = 1e-6 * sigma
        omega = _simplex_ls(Y[:n0, :t0].T, tr_pre, t0 * zeta**2, intercept=False)
        return omega, np.zeros(t0)
    zeta_w = (n1 * t1) ** 0.25 * sigma
    zeta_l = 1e-6 * sigma
    omega = _simplex_ls(Y[:n0, :t0].T, tr_pre, t0 * zeta_w**2, intercept=True)
    lam = _simplex_ls(Y[:n0, :t0], Y[:n0, t0:].mean(1), n0 * zeta_l**2, intercept=True)
    return omega, lam


def sdid_tau(Y, n0: int, t0: int, omega, lam) -> float:
    """The weighted double difference for fixed weights (see module doc)."""
    Y = np.asarray(Y, np.float64)
    tr = Y[n0:].mean(0)
    d_tr = tr[t0:].mean() - lam @ tr[:t0]
    d_co = Y[:n0, t0:].mean(1) - Y[:n0, :t0] @ lam
    return float(d_tr - omega @ d_co)


def _estimate(Y, n0, t0, estimator):
    om, la = sdid_weights(Y, n0, t0, estimator)
    return sdid_tau(Y, n0, t0, om, la), om, la


def sdid(panel: Panel, *, estimator: str = "sdid", inference: str = "placebo", reps: int = 200, alpha: float = 0.05,
         seed: int = 0) -> Estimate:
    """Synthetic DiD (or its ``"sc"`` / ``"did"`` special cases) on a block-design panel.

    inference: ``"placebo"`` (``reps`` placebo reassignments among the controls), ``"jackknife"``
    (needs 2+ treated units) or ``"none"``. Returns an :class:`Estimate` whose ``extra`` holds the
    weights (``omega`` by control unit, ``lambda`` by pre period) and the placebo draws' count.
    """
    alpha = check_alpha(alpha)
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator: expected one of {list(_ESTIMATORS)}, got {estimator!r}")
    if inference not in ("placebo", "jackknife", "none"):
        raise ValueError(f"inference: expected 'placebo', 'jackknife' or 'none', got {inference!r}")
    reps = int(check_positive("reps", reps, integer=True))
    panel.require("sdid", min_pre=2, min_post=1, min_treated=2 if inference == "jackknife" else 1,
                  min_control=2, block=True)
    ever = panel.ever_treated
    order = np.concatenate([np.flatnonzero(~ever), np.flatnonzero(ever)])
    Y = panel.y[order]
    n0 = int((~ever).sum())
    n1 = Y.shape[0] - n0
    t0 = int(panel.cohorts[0])
    N, T = Y.shape
    tau, om, la = _estimate(Y, n0, t0, estimator)
    notes = []
    if inference == "placebo":
        if n0 <= n1:
            raise PanelError(f"sdid: placebo inference needs more controls than treated units, got {n0} and {n1}")
        rng = np.random.default_rng(seed)
        draws = np.empty(reps)
        for r in range(reps):
            perm = rng.permutation(n0)
            Yp = Y[:n0][perm]
            draws[r] = _estimate(Yp, n0 - n1, t0, estimator)[0]
        se = float(np.sqrt((reps - 1) / reps) * np.std(draws, ddof=1))
        how = f"placebo ({reps} draws), normal"
    elif inference == "jackknife":
        loo = np.empty(N)
        for i in range(N):
            keep = np.arange(N) != i
            if i < n0:
                w = np.delete(om, i)
                if w.sum() <= 0:
                    raise PanelError("sdid: jackknife undefined: a control carries all the unit weight")
                loo[i] = sdid_tau(Y[keep], n0 - 1, t0, w / w.sum(), la)
            else:
                loo[i] = sdid_tau(Y[keep], n0, t0, om, la)
        se = float(np.sqrt((N - 1) / N * np.sum((loo - loo.mean()) ** 2)))
        how = "jackknife, normal"
    else:
        se = np.nan
        how = "none"
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(tau / se))) if se > 0 else np.nan
    units_co = panel.units[order[:n0]]
    extra = dict(estimator=estimator, omega=dict(zip(map(str, units_co), om.tolist(), strict=True)),
                 lambda_=dict(zip(map(str, panel.times[:t0]), la.tolist(), strict=True)))
    return Estimate(estimator, tau, se, tau - z * se, tau + z * se, p, alpha, how,
                    N, n1, T, extra, notes)
