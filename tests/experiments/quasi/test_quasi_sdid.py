"""Synthetic DiD against the published Proposition 99 estimates (Arkhangelsky et al. 2021, Table 1)
and against closed forms: uniform weights give the 2x2 DiD (= TWFE), the weight problems against
scipy's SLSQP."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from experiments.quasi import Panel, PanelError, prop99_panel, sdid, twfe_arrays
from experiments.quasi.sdid import _simplex_ls


@pytest.fixture(scope="module")
def prop99():
    return prop99_panel()


def test_prop99_point_estimates_match_the_paper(prop99):
    r = sdid(prop99, inference="none")
    assert r.estimate == pytest.approx(-15.6, abs=0.05)  # Table 1: SDID -15.6
    # the weights solve the paper's two regularised problems (checked with SLSQP on the same data)
    Y = prop99.y[np.argsort(prop99.ever_treated, kind="stable")]
    n0, t0 = 38, 19
    sigma = np.std(np.diff(Y[:n0, :t0], axis=1), ddof=1)
    om_ref = _slsqp_ls(Y[:n0, :t0].T, Y[n0:, :t0].mean(0), t0 * (12**0.25 * sigma) ** 2, True)
    lam_ref = _slsqp_ls(Y[:n0, :t0], Y[:n0, t0:].mean(1), n0 * (1e-6 * sigma) ** 2, True)
    np.testing.assert_allclose(list(r.extra["omega"].values()), om_ref, atol=2e-4)
    np.testing.assert_allclose(list(r.extra["lambda_"].values()), lam_ref, atol=2e-4)
    did = sdid(prop99, estimator="did", inference="none")
    assert did.estimate == pytest.approx(-27.3, abs=0.05)  # Table 1: DiD -27.3
    assert did.estimate == pytest.approx(float(twfe_arrays(prop99.y, prop99.treated.astype(float))[0]), abs=1e-10)
    # Table 1 reports SC -19.6 from a Frank-Wolfe solver stopped early; the exact optimum of the same
    # problem sits 0.1 away (Stata's sdid reports -19.48), so this check is looser
    assert sdid(prop99, estimator="sc", inference="none").estimate == pytest.approx(-19.6, abs=0.15)


def _slsqp_ls(A, b, ridge, icpt):
    Ac, bc = (A - A.mean(0), b - b.mean()) if icpt else (A, b)
    scale = float(bc @ bc) + 1.0

    def f(w):
        r = Ac @ w - bc
        return (r @ r + ridge * w @ w) / scale

    J = A.shape[1]
    return minimize(f, np.full(J, 1 / J), method="SLSQP", bounds=[(0, 1)] * J, options=dict(ftol=1e-15, maxiter=3000),
                    constraints=[dict(type="eq", fun=lambda w: w.sum() - 1)]).x


def test_weight_problem_matches_slsqp():
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(15, 8)), rng.normal(size=15)
    for ridge, icpt in ((0.0, False), (2.0, True), (0.5, False)):
        x = _simplex_ls(A, b, ridge, icpt)
        Ac, bc = (A - A.mean(0), b - b.mean()) if icpt else (A, b)

        def f(w, Ac=Ac, bc=bc, ridge=ridge):
            r = Ac @ w - bc
            return r @ r + ridge * w @ w

        ref = minimize(f, np.full(8, 1 / 8), method="SLSQP", bounds=[(0, 1)] * 8, options=dict(ftol=1e-15),
                       constraints=[dict(type="eq", fun=lambda w: w.sum() - 1)])
        assert f(x) <= ref.fun + 1e-10
        np.testing.assert_allclose(x, ref.x, atol=1e-5)


def test_inference_and_refusals(prop99):
    r = sdid(prop99, reps=40, seed=1)
    assert r.std_error > 0 and r.ci_low < r.estimate < r.ci_high and "placebo (40 draws)" in r.inference
    with pytest.raises(PanelError, match="sdid: needs at least 2 treated units, the panel has 1"):
        sdid(prop99, inference="jackknife")
    rng = np.random.default_rng(0)
    y = rng.normal(size=(10, 8))
    d = np.zeros((10, 8), bool)
    d[:3, 5:] = True
    jk = sdid(Panel.from_arrays(y, d), inference="jackknife")
    assert np.isfinite(jk.std_error) and jk.std_error > 0
    d[2, 5] = False  # unit 2 adopts one period later: staggered
    with pytest.raises(PanelError, match="one adoption period .* use callaway_santanna"):
        sdid(Panel.from_arrays(y, d))
    with pytest.raises(ValueError, match="estimator: expected one of"):
        sdid(prop99, estimator="ols")
